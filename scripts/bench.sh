#!/usr/bin/env bash
# Throughput benchmark (DESIGN §5): builds lianmeng, starts the gateway on
# SQLite (temporary directory) and then on MariaDB/MySQL (a fresh database,
# dropped afterwards), runs `lianmeng bench` with the spread and hot shapes
# against each, and prints a summary table. Not part of scripts/test.sh.
# The pos shape (BENCH_SHAPES="spread pos") sends the same sales as Shopify
# webhooks through the durable inbox; its earn/s includes the time the
# inbox took to process the backlog after the window, and the summary
# gives its ratio to the spread shape's direct earns (issue 12 asks >= 0.5).
# BENCH_RULE=cel also runs the spread shape with every merchant earning
# through a CEL rule version instead of the flat rate (on a fresh database,
# like the flat runs), and the summary gives the CEL/flat ratio of earn/s
# and of the gateway's CPU per earn (issue 11 asks for a drop of <= 10%).
#
#   BENCH_DURATION   measured time per shape        (default 15s)
#   BENCH_WARMUP     warm-up per shape               (default 3s)
#   BENCH_CLIENTS    concurrent clients              (default 64)
#   BENCH_MERCHANTS  merchants for the spread shape  (default 1000)
#   BENCH_DIALECTS   which databases                 (default "sqlite mysql");
#                    mysql-tuned is MySQL again with the server settings of
#                    BENCH_MYSQL_TUNED set (SET GLOBAL) for its runs and put
#                    back afterwards: the production line beside the
#                    defaults' (configs/mysql.yaml says why each)
#   BENCH_MYSQL_TUNED  the settings of mysql-tuned, name=value ... (default
#                    a 1 GiB buffer pool, a 1 GiB redo log, io_capacity 2000;
#                    innodb_flush_log_at_trx_commit stays 1)
#   BENCH_SHAPES     which shapes: spread, hot, pos  (default "spread hot")
#   BENCH_PROFILE=1  also write a gateway CPU profile per run to BENCH_OUT
#   BENCH_PREFILL    earn transactions written into each database with
#                    `lianmeng prefill` (which also seals them) before a second
#                    set of runs (default 0: only the empty ledger); the
#                    summary then gives each shape on the prefilled ledger
#                    beside the empty one: earn/s and p99 with their ratios,
#                    the gateway's peak RSS and the disk per earn
#   BENCH_PREFILL_KEEP  a directory where the prefilled databases are kept
#                    and reused by later runs with the same BENCH_PREFILL
#                    (SQLite: DIR/sqlite-N; MySQL: database BENCH_MYSQL_DB_pfN,
#                    its evidence keys in DIR/mysql-N-keys), so a large ledger
#                    is written once and measured many times. Each run adds
#                    its own earns to it; DIR/{sqlite,mysql}-N.earns counts them
#                    for the disk per earn. Default: prefill every time.
#   BENCH_MYSQL_DB   the MySQL database created and dropped (default
#                    lianmeng_bench)
#   BENCH_OUT        where results go                (default: a temp dir)
#   BENCH_RULE       flat, or cel: also the spread shape under a CEL rule
#                    (default flat)
#   BENCH_CEL_EXPRESSION  the CEL rule for BENCH_RULE=cel (default: a
#                    typical rule, the one BenchmarkEarnCEL measures; it must
#                    award at least the flat 1 point per yuan)
#   LIANMENG_TEST_MYSQL_DSN  MySQL server            (default root@tcp(127.0.0.1:3306)/test)
#
# Besides throughput and latency, each row reports the CPU µs per earn of
# the gateway, the local database server and the generator; the gateway's
# peak resident memory (VmHWM); and the database's files on disk divided by
# the earns it holds so far (SQLite: the database, WAL and shared-memory
# files; MySQL: the schema's files in the server's datadir, or InnoDB's
# data and index length when the datadir is not readable).
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${BENCH_DURATION:-15s}"
warmup="${BENCH_WARMUP:-3s}"
clients="${BENCH_CLIENTS:-64}"
merchants="${BENCH_MERCHANTS:-1000}"
dialects="${BENCH_DIALECTS:-sqlite mysql}"
prefill="${BENCH_PREFILL:-0}"
shapes="${BENCH_SHAPES:-spread hot}"
rule="${BENCH_RULE:-flat}"
cel_expression="${BENCH_CEL_EXPRESSION:-eligible_fen / 100 + sum(items.filter(i, i.category == \"drinks\").map(i, i.amount_fen)) / 100 + (member_tier == \"gold\" ? 10 : 0)}"
case "$rule" in
  flat) rule_runs=flat ;;
  cel) rule_runs="flat cel" ;;
  *) echo "bench.sh: BENCH_RULE is flat or cel, not $rule" >&2; exit 2 ;;
esac
server_dsn="${LIANMENG_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"
tuned_settings="${BENCH_MYSQL_TUNED:-innodb_buffer_pool_size=1073741824 innodb_log_file_size=1073741824 innodb_io_capacity=2000}"
saved_settings="" # name=value ... to put back after mysql-tuned
token="bench-operator-token-$(date +%s)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
pprof_port=$(free_port)
metrics_port=$(free_port) # not the default 9464, which another gateway on the box may hold
bench_db="${BENCH_MYSQL_DB:-lianmeng_bench}"

work="$(mktemp -d)"
out="${BENCH_OUT:-$work}"
mkdir -p "$out"
gw_pid=""
cleanup() {
  if [ -n "$gw_pid" ] && kill -0 "$gw_pid" 2>/dev/null; then
    kill "$gw_pid" 2>/dev/null || true
    wait "$gw_pid" 2>/dev/null || true
  fi
  if [ "${mysql_created:-}" = 1 ]; then mysql_exec "DROP DATABASE IF EXISTS $bench_db" || true; fi
  restore_settings || true
  if [ "$out" = "$work" ]; then rm -rf "$work/sqlite" "$work/lianmeng" "$work/lianmeng.yaml"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "== build"
go build -o "$work/lianmeng" ./gateway/cmd/lianmeng
bin="$work/lianmeng"

# mysql_exec runs one statement on the server in LIANMENG_TEST_MYSQL_DSN
# (user@tcp(host:port)/db, password optional).
mysql_exec() {
  local re='^([^:@]*)(:([^@]*))?@tcp\(([^:)]*)(:([0-9]+))?\)'
  [[ "$server_dsn" =~ $re ]] || { echo "bench.sh: cannot parse $server_dsn" >&2; return 1; }
  local user="${BASH_REMATCH[1]}" pass="${BASH_REMATCH[3]}" host="${BASH_REMATCH[4]}" mport="${BASH_REMATCH[6]:-3306}"
  local cli=mariadb
  command -v mariadb >/dev/null 2>&1 || cli=mysql
  MYSQL_PWD="$pass" "$cli" --protocol=tcp -h"$host" -P"$mport" -u"$user" -N -s -e "$1"
}

# tune_server sets BENCH_MYSQL_TUNED on the server, remembering what was
# there; restore_settings puts it back.
tune_server() {
  local kv name value old
  for kv in $tuned_settings; do
    name="${kv%%=*}" value="${kv#*=}"
    [[ "$name" =~ ^[a-z_]+$ && "$value" =~ ^[0-9A-Za-z_.]+$ ]] || { echo "bench.sh: BENCH_MYSQL_TUNED: bad setting $kv" >&2; exit 2; }
    old=$(mysql_exec "SELECT @@GLOBAL.$name")
    saved_settings="$saved_settings $name=$old"
    mysql_exec "SET GLOBAL $name = $value"
  done
  # The buffer pool is resized in the background: wait (up to a minute)
  # until its pages make up the size asked for, less the few InnoDB keeps.
  for _ in $(seq 1 120); do
    [ "$(mysql_exec "SELECT (SELECT variable_value FROM information_schema.global_status WHERE variable_name = 'INNODB_BUFFER_POOL_PAGES_TOTAL') * @@innodb_page_size * 100 >= @@GLOBAL.innodb_buffer_pool_size * 95")" = 1 ] && break
    sleep 0.5
  done
  echo "== mysql-tuned: $(for kv in $tuned_settings; do n="${kv%%=*}"; printf '%s=%s ' "$n" "$(mysql_exec "SELECT @@GLOBAL.$n")"; done)"
}
restore_settings() {
  local kv
  for kv in $saved_settings; do mysql_exec "SET GLOBAL ${kv%%=*} = ${kv#*=}"; done
  saved_settings=""
}

sum_sizes() { find "$1" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}'; }

# The run's database: SQLite's directory and MySQL's database (set per run).
sqlite_dir="$work/sqlite"
run_db="$bench_db"

# db_bytes prints the size of the benchmark database's files.
db_bytes() { # dialect
  if [ "${1%%-*}" = sqlite ]; then sum_sizes "$sqlite_dir"; return; fi
  local dir
  dir=$(mysql_exec "SELECT @@datadir" 2>/dev/null || true)
  if [ -n "$dir" ] && [ -r "$dir/$run_db" ]; then sum_sizes "$dir/$run_db"; return; fi
  mysql_exec "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = '$run_db'"
}

# The per-credential and operator rate limits are off: the hot shape drives
# one key at thousands of earns per second, and setup creates merchants in
# parallel.
# The pos shape needs the Shopify adapter plugin (builtin, a child
# process): the usual configuration plus a plugins section.
gw_config="${LIANMENG_CONFIG:-}"
case " $shapes " in *" pos "*)
  gw_config="$work/lianmeng.yaml"
  { [ -f configs/lianmeng.yaml ] && cat configs/lianmeng.yaml
    printf '\nplugins:\n  - name: shopify\n    kind: pos_adapter\n    path: builtin:shopify\n'; } >"$gw_config"
  ;;
esac

start_gateway() { # driver dsn run
  LIANMENG_CONFIG="$gw_config" \
  LIANMENG_DATABASE_DRIVER="$1" LIANMENG_DATABASE_DSN="$2" \
    LIANMENG_OPERATOR_TOKEN="$token" LIANMENG_LISTEN="127.0.0.1:$port" LIANMENG_LOG_LEVEL=warn \
    LIANMENG_DEBUG_PPROF_LISTEN="127.0.0.1:$pprof_port" LIANMENG_METRICS_LISTEN="127.0.0.1:$metrics_port" \
    LIANMENG_RATE_LIMITS_CREDENTIAL_REQUESTS=0 LIANMENG_RATE_LIMITS_OPERATOR_REQUESTS=0 \
    "$bin" serve >"$out/serve-$1-$3.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 1 300); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$gw_pid" 2>/dev/null || { cat "$out/serve-$1-$3.log" >&2; echo "bench.sh: gateway exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench.sh: gateway not ready after 30 s" >&2
  exit 1
}

stop_gateway() {
  kill "$gw_pid"
  wait "$gw_pid" || true
  gw_pid=""
}

run_shapes() { # dialect run ledger (run flat: the shapes; cel: spread under the CEL rule)
  local earned=0 run_shapes=$shapes suffix="" rule_args=()
  if [ "$2" = cel ]; then run_shapes=spread suffix=-cel rule_args=(-rule-expression "$cel_expression"); fi
  # With BENCH_PREFILL the empty-ledger runs are named -empty, the
  # prefilled ones as without it.
  if [ "$3" = prefilled ]; then earned=$prefill; [ -n "$kept" ] && earned=$(cat "$kept.earns"); elif [ "$prefill" -gt 0 ]; then suffix="$suffix-empty"; fi
  for shape in $run_shapes; do
    echo "== $1 / $shape$suffix: $clients clients, $warmup warm-up, $duration measured"
    prof=()
    [ "${BENCH_PROFILE:-}" = 1 ] && prof=(-cpuprofile "$out/cpu-$1-$shape$suffix.pprof" -pprof-url "http://127.0.0.1:$pprof_port")
    # CPU per earn of the gateway, the database server (when it runs on
    # this machine) and the generator itself.
    pids="gateway=$gw_pid"
    if [ "${1%%-*}" = mysql ] && db_pid=$(pgrep -x -o mariadbd || pgrep -x -o mysqld); then pids="$pids,database=$db_pid"; fi
    # The pos shape's adapter plugin is a child process of the gateway.
    if [ "$shape" = pos ] && plugin_pid=$(pgrep -o -P "$gw_pid"); then pids="$pids,plugin=$plugin_pid"; fi
    "$bin" bench -url "http://127.0.0.1:$port" -token "$token" -shape "$shape" -merchants "$merchants" \
      -clients "$clients" -warmup "$warmup" -duration "$duration" -json -cpu-pids "$pids" "${prof[@]}" "${rule_args[@]}" >"$out/$1-$shape$suffix.json"
    # Memory and disk: the gateway's peak RSS so far, and the database's
    # files over every earn it holds (earlier shapes on it included).
    earned=$((earned + $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["ok"] + r["warmup_requests"] - r["warmup_errors"])' "$out/$1-$shape$suffix.json")))
    rss_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$gw_pid/status" 2>/dev/null || echo 0)
    python3 - "$out/$1-$shape$suffix.json" "${rss_kib:-0}" "$(db_bytes "$1")" "$earned" <<'EOF'
import json, sys
f, rss, disk, earned = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
r = json.load(open(f))
r.update(gateway_peak_rss_mib=round(rss / 1024, 1), db_bytes=disk, earns_in_db=earned,
         disk_bytes_per_earn=round(disk / earned) if earned else None)
json.dump(r, open(f, "w"))
EOF
    [ -n "$kept" ] && [ "$3" = prefilled ] && echo "$earned" >"$kept.earns"
    cat "$out/$1-$shape$suffix.json"; echo
  done
}

ledgers=empty
[ "$prefill" -gt 0 ] && ledgers="empty prefilled"
for dialect in $dialects; do
for run in $rule_runs; do
for ledger in $ledgers; do
  # Each run (flat, then cel; empty, then prefilled) on a fresh database,
  # or with BENCH_PREFILL_KEEP on the prefilled one kept from a run before.
  kept="" reuse=0
  if [ "$ledger" = prefilled ] && [ -n "${BENCH_PREFILL_KEEP:-}" ]; then
    mkdir -p "$BENCH_PREFILL_KEEP"
    # mysql and mysql-tuned measure the same kept ledger.
    kept="$(cd "$BENCH_PREFILL_KEEP" && pwd)/${dialect%%-*}-$prefill"
    [ -f "$kept.earns" ] && reuse=1
  fi
  case "$dialect" in
    sqlite)
      sqlite_dir="$work/sqlite"
      [ -n "$kept" ] && sqlite_dir="$kept"
      driver=sqlite dsn="$sqlite_dir/lianmeng.db"
      if [ "$reuse" = 0 ]; then
        rm -rf "$sqlite_dir"
        mkdir -p "$sqlite_dir"
      fi
      ;;
    mysql|mysql-tuned)
      if ! mysql_exec "SELECT 1" >/dev/null 2>&1; then
        echo "bench.sh: MariaDB/MySQL at $server_dsn does not answer; skipping mysql" >&2
        continue 2
      fi
      run_db="$bench_db"
      # Fresh keys with the fresh database: the sealer remembers, beside
      # its key, the largest checkpoint it published, and would refuse a
      # database that was dropped since (as it should in production).
      export LIANMENG_EVIDENCE_KEY_DIR="$work/mysql-keys-$run-$ledger"
      if [ -n "$kept" ]; then
        run_db="${bench_db}_pf$prefill"
        export LIANMENG_EVIDENCE_KEY_DIR="$kept-keys"
        [ "$reuse" = 1 ] && [ -z "$(mysql_exec "SHOW DATABASES LIKE '$run_db'")" ] && reuse=0
      fi
      if [ "$reuse" = 0 ]; then
        [ -n "$kept" ] && rm -rf "$kept-keys" "$kept.earns"
        mysql_exec "DROP DATABASE IF EXISTS $run_db; CREATE DATABASE $run_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
      fi
      [ -z "$kept" ] && mysql_created=1
      driver=mysql dsn="${server_dsn%/*}/$run_db"
      if [ "$dialect" = mysql-tuned ] && [ -z "$saved_settings" ]; then tune_server; fi
      ;;
    *) echo "bench.sh: unknown dialect $dialect" >&2; exit 2 ;;
  esac
  if [ "$ledger" = prefilled ] && [ "$reuse" = 1 ]; then
    echo "== $dialect: reusing the ledger prefilled with $prefill earn transactions in $kept ($(cat "$kept.earns") earns in it now)"
  elif [ "$ledger" = prefilled ]; then
    # Before the gateway starts (SQLite has one writer); the runs then
    # measure a ledger that already holds these transactions. prefill
    # seals them too, so the gateway's sealer has no backlog.
    echo "== $dialect: prefill $prefill earn transactions ($(uptime | sed 's/.*load/load/'))"
    LIANMENG_DATABASE_DRIVER="$driver" LIANMENG_DATABASE_DSN="$dsn" LIANMENG_CONFIG="$gw_config" \
      "$bin" prefill --transactions "$prefill" --merchants "$merchants" | tee "$out/prefill-$dialect-$run.txt"
    [ -n "$kept" ] && echo "$prefill" >"$kept.earns"
  fi
  start_gateway "$driver" "$dsn" "$run-$ledger"
  if [ "$ledger" = prefilled ]; then
    # Should it still be behind, the sealer catches up first, so the runs
    # measure earns, not the sealer's backlog.
    until size=$(curl -fsS "http://127.0.0.1:$port/v1/evidence/checkpoint" 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])' 2>/dev/null) && [ "$size" -ge "$prefill" ]; do
      sleep 2
    done
  fi
  run_shapes "$dialect" "$run" "$ledger"
  stop_gateway
  if [ "${dialect%%-*}" = mysql ] && [ -z "$kept" ]; then
    mysql_exec "DROP DATABASE IF EXISTS $run_db"
    mysql_created=0
  fi
done
done
restore_settings
done

echo
echo "== summary ($(nproc) cores, generator on the same machine; $clients clients, $duration per shape; $prefill transactions prefilled)"
printf '%-11s %-16s %8s %8s %8s %8s %7s  %-38s %7s %7s  %s\n' database shape earn/s p50_ms p95_ms p99_ms errors "CPU µs/earn (cores)" "RSS MiB" "B/earn" "error codes"
for dialect in $dialects; do
  for shape in $(for s in $shapes spread-cel; do echo "$s-empty $s"; done); do
    f="$out/$dialect-$shape.json"
    [ -s "$f" ] || continue
    python3 - "$dialect" "$shape" "$f" <<'EOF'
import json, sys
d, s, f = sys.argv[1:]
r = json.load(open(f))
errs = r.get("errors") or {}
codes = ",".join(f"{k}={v}" for k, v in sorted(errs.items())) or "-"
short = {"gateway": "gw", "database": "db", "generator": "gen", "plugin": "plug"}
cpu = " ".join(f"{short.get(c['name'], c['name'])} {c['us_per_earn']:.0f} ({c['cores']:.2f})" for c in r.get("cpu") or []) or "-"
rss = r.get("gateway_peak_rss_mib")
dpe = r.get("disk_bytes_per_earn")
print(f"{d:<11} {s:<16} {r['earn_per_s']:>8.0f} {r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {sum(errs.values()):>7}  {cpu:<38} "
      f"{rss if rss is not None else '-':>7} {dpe if dpe is not None else '-':>7}  {codes}")
EOF
  done
done
# The pos shape against direct earns (the spread shape) on each database.
for dialect in $dialects; do
  [ -s "$out/$dialect-pos.json" ] && [ -s "$out/$dialect-spread.json" ] || continue
  python3 - "$dialect" "$out/$dialect-pos.json" "$out/$dialect-spread.json" <<'EOF'
import json, sys
d, p, s = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ratio = p["earn_per_s"] / s["earn_per_s"] if s["earn_per_s"] else 0
print(f"{d}: pos {p['earn_per_s']:.0f} earns/s end to end (webhooks acknowledged {p.get('ack_per_s', 0):.0f}/s, "
      f"inbox drained {p.get('drain_seconds', 0):.1f} s after the window) = {ratio:.2f} x direct earns ({s['earn_per_s']:.0f}/s)")
EOF
done
# The spread shape under a CEL rule against the flat rate (BENCH_RULE=cel).
for dialect in $dialects; do
  [ -s "$out/$dialect-spread-cel.json" ] && [ -s "$out/$dialect-spread.json" ] || continue
  python3 - "$dialect" "$out/$dialect-spread-cel.json" "$out/$dialect-spread.json" <<'EOF'
import json, sys
d, c, f = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ratio = c["earn_per_s"] / f["earn_per_s"] if f["earn_per_s"] else 0
gw = lambda r: next((x["us_per_earn"] for x in r.get("cpu") or [] if x["name"] == "gateway"), None)
cpu = f", gateway CPU per earn {gw(c):.0f} / {gw(f):.0f} µs = {gw(c) / gw(f):.2f}" if gw(c) and gw(f) else ""
print(f"{d}: CEL rule {c['earn_per_s']:.0f} earns/s / flat rate {f['earn_per_s']:.0f} earns/s = {ratio:.2f} "
      f"({(1 - ratio) * 100:.1f}% drop; issue 11 asks <= 10%){cpu}")
EOF
done
# The prefilled ledger against the empty one (BENCH_PREFILL).
for dialect in $dialects; do
  for shape in $shapes spread-cel; do
    [ -s "$out/$dialect-$shape.json" ] && [ -s "$out/$dialect-$shape-empty.json" ] || continue
    python3 - "$dialect" "$shape" "$prefill" "$out/$dialect-$shape.json" "$out/$dialect-$shape-empty.json" <<'EOF'
import json, sys
d, s, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p, e = json.load(open(sys.argv[4])), json.load(open(sys.argv[5]))
ratio = p["earn_per_s"] / e["earn_per_s"] if e["earn_per_s"] else 0
print(f"{d} {s}: with {n:,} transactions in the ledger {p['earn_per_s']:.0f} earn/s, p99 {p['p99_ms']:.1f} ms; "
      f"empty {e['earn_per_s']:.0f} earn/s, p99 {e['p99_ms']:.1f} ms: {ratio:.2f} x empty (issue 18 asks >= 0.85); "
      f"gateway peak RSS {p.get('gateway_peak_rss_mib')} MiB; {p.get('disk_bytes_per_earn')} B/earn on disk over {p.get('earns_in_db'):,} earns")
EOF
  done
done
echo "results: $out"
