#!/usr/bin/env bash
# The store against TiDB (DESIGN §12: the path past one MySQL primary).
# Builds tidb-server once (cached), starts it with the embedded unistore
# engine on a free port, runs the MySQL storage suite (every package whose
# tests use gateway/store/storetest, the crash test among them) and the
# gateway scenarios of the short fault suite against it, and stops it.
#
# What this proves: the store's SQL, migrations and transaction semantics
# work on TiDB's SQL layer (parser, planner, optimistic/pessimistic
# transactions, its error codes). What it does not: unistore is one process
# with an in-memory-style local engine, so there are no region splits, no
# PD timestamp service over the network, no TiKV replicas and no conflicts
# between stores; those need a real PD/TiKV cluster (tiup playground).
#
#   TIDB_CACHE        where the source and binary are kept
#                     (default ~/.cache/lianmeng/tidb)
#   TIDB_BUILD_ONLY=1 build (or find) tidb-server and stop
#   TIDB_PACKAGES     the storage packages to run (default: every package
#                     importing storetest)
#   TIDB_FAULTS=0     skip the fault suite
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

tidb_version=v1.1.0-beta.0.20251126154744-e4e814fdc0af
parser_version=v0.0.0-20251126154744-e4e814fdc0af
cache="${TIDB_CACHE:-$HOME/.cache/lianmeng/tidb}"
src="$cache/src-$tidb_version"
bin="$cache/tidb-server-$tidb_version"
mkdir -p "$cache"

if [ ! -x "$bin" ]; then
  echo "== build tidb-server $tidb_version (once; about 4 minutes on 2 cores)"
  tmp=$(mktemp -d)
  cd "$tmp"
  # The module zip lacks its nested module pkg/parser: fetch both and put
  # the parser where the main module's replace directive expects it.
  tidb_dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/pingcap/tidb@$tidb_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  parser_dir=$(GOFLAGS=-mod=mod go mod download -json "github.com/pingcap/tidb/pkg/parser@$parser_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cd "$root"
  rm -rf "$src" "$tmp"
  cp -r "$tidb_dir" "$src"
  chmod -R u+w "$src"
  rm -rf "$src/pkg/parser"
  cp -r "$parser_dir" "$src/pkg/parser"
  chmod -R u+w "$src/pkg/parser"
  (cd "$src" && GOFLAGS=-mod=mod GOWORK=off go build -o "$bin.tmp" ./cmd/tidb-server)
  mv "$bin.tmp" "$bin"
fi
echo "tidb-server: $bin"
[ "${TIDB_BUILD_ONLY:-}" = 1 ] && exit 0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
status_port=$(free_port)
data=$(mktemp -d)
"$bin" -store unistore -path "$data/store" -host 127.0.0.1 -P "$port" -status "$status_port" \
  -log-file "$data/tidb.log" -log-slow-query "$data/tidb-slow.log" >"$data/stdout.log" 2>&1 &
tidb_pid=$!
cleanup() {
  kill "$tidb_pid" 2>/dev/null || true
  wait "$tidb_pid" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$tidb_pid" 2>/dev/null || { cat "$data/stdout.log" >&2; echo "tidb-test.sh: tidb-server exited" >&2; exit 1; }
  sleep 0.5
done
echo "== tidb-server (unistore) on 127.0.0.1:$port"
export LIANMENG_TEST_MYSQL_DSN="root@tcp(127.0.0.1:$port)/test"
export LIANMENG_TEST_MYSQL=require

start=$(date +%s)
# Every package whose tests use storetest, but the browser tests of
# gateway/web (pages, not storage).
pkgs="${TIDB_PACKAGES:-$(go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./gateway/... |
  awk '/gateway\/store\/storetest/ && $1 !~ /gateway\/web$/ {print $1}' | tr '\n' ' ')}"
echo "== MySQL storage suite against TiDB: $pkgs"
# Only the MySQL halves (subtests named mysql) matter here; the SQLite ones
# run in scripts/test.sh. The crash test (TestCrashRecovery/mysql in
# gateway/cmd/lianmeng) is among them.
failed=""
go test -count=1 -timeout 30m -run '/mysql' $pkgs || failed="$failed storage"
if [ "${TIDB_FAULTS:-1}" != 0 ]; then
  echo "== short fault suite against TiDB (the gateway scenarios' MySQL half)"
  FAULTS_RUN='TestKillGateway/mysql|TestHostileRequests/mysql' scripts/faults.sh || failed="$failed faults"
fi
if [ -n "$failed" ]; then
  echo "== TiDB: FAILED ($failed) after $(($(date +%s) - start)) s" >&2
  exit 1
fi
echo "== TiDB: passed in $(($(date +%s) - start)) s (build cached in $cache)"
