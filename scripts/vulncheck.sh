#!/usr/bin/env bash
# Checks both Go modules (the gateway in . and the SDK in sdk/) against the
# Go vulnerability database with govulncheck, offline, from a local copy of
# the database. scripts/test.sh runs it; without a database it skips.
#
#   scripts/vulncheck.sh             check (skip, exit 0, when there is no database)
#   scripts/vulncheck.sh --build-db  build the database, then stop
#
#   LIANMENG_VULNDB             the database directory (a govulncheck v1
#                               database: index/db.json, index/modules.json,
#                               ID/GO-*.json); default
#                               ${XDG_CACHE_HOME:-$HOME/.cache}/lianmeng/vulndb
#   LIANMENG_VULNDB_VERSION     the golang.org/x/vulndb version --build-db
#                               builds from (default below; the newest is
#                               `go list -m golang.org/x/vulndb@latest`)
#   LIANMENG_VULNCHECK=require  fail, not skip, when there is no database
#   LIANMENG_VULNCHECK_STDLIB   warn (default) or fail: what a vulnerability
#                               of the Go standard library that the code calls
#                               does. It is fixed by the Go toolchain, not by
#                               go.mod, so by default it is reported, not
#                               fatal; third-party ones always fail.
#
# Building the database offline. The module golang.org/x/vulndb, which the
# Go module proxy serves like any module, carries the whole database as OSV
# JSON (data/osv/GO-*.json, about 4,800 entries in the default version) and
# the tool that indexes such a folder into the layout govulncheck reads
# (cmd/indexdb). --build-db does exactly this, through the proxy only, no
# other download site:
#
#   dir=$(go mod download -json golang.org/x/vulndb@VERSION | jq -r .Dir)
#   go run golang.org/x/vulndb/cmd/indexdb@VERSION -vulns "$dir/data/osv" -out DB
#
# (the first run fetches indexdb's dependencies, about 2 minutes). Then
#
#   go run golang.org/x/vuln/cmd/govulncheck@VERSION -db file://DB ./...
#
# is what this script runs in each module, with -format json, and it sorts
# the findings: a vulnerable symbol that the code calls, or a vulnerable
# package it imports, in a third-party module fails; one in a module that is
# required but not imported is reported; the standard library's follow
# LIANMENG_VULNCHECK_STDLIB. The database is as fresh as the vulndb version
# it was built from (its SOURCE file says which): rebuild with a newer
# LIANMENG_VULNDB_VERSION to pick up new reports.
#
# As of vulndb v0.0.0-20261105234957-e22db6528018 the modules have no known
# vulnerability; Go 1.26.8's standard library has 13 that the gateway calls
# (fixed in go1.26.9 and go1.26.10), and with GOTOOLCHAIN=go1.27.3 the scan
# finds none.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
VULNDB_VERSION="${LIANMENG_VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}"
DB="${LIANMENG_VULNDB:-${XDG_CACHE_HOME:-$HOME/.cache}/lianmeng/vulndb}"
STDLIB="${LIANMENG_VULNCHECK_STDLIB:-warn}"

case "$STDLIB" in
  warn | fail) ;;
  *) echo "vulncheck: LIANMENG_VULNCHECK_STDLIB must be warn or fail, not $STDLIB" >&2; exit 2 ;;
esac
need_jq() { command -v jq >/dev/null || { echo "vulncheck: needs jq (apt-get install jq)" >&2; exit 2; }; }

build_db() {
  need_jq
  mkdir -p "$(dirname "$DB")"
  local src
  tmp=$(mktemp -d "$(dirname "$DB")/.vulndb-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "vulncheck: building the database from golang.org/x/vulndb@$VULNDB_VERSION into $DB"
  # Outside any module, so nothing touches this repository's go.mod.
  src=$(cd "$tmp" && go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | jq -r .Dir)
  if [ ! -d "$src/data/osv" ]; then
    echo "vulncheck: golang.org/x/vulndb@$VULNDB_VERSION has no data/osv folder; cannot build a database from it" >&2
    exit 1
  fi
  (cd "$tmp" && go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp/db")
  echo "golang.org/x/vulndb@$VULNDB_VERSION: $(find "$src/data/osv" -name '*.json' | wc -l) entries, indexed $(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$tmp/db/SOURCE"
  rm -rf "$DB.old"
  if [ -e "$DB" ]; then mv "$DB" "$DB.old"; fi
  mv "$tmp/db" "$DB"
  rm -rf "$DB.old"
  echo "vulncheck: database ready: $(cat "$DB/SOURCE")"
}

case "${1:-}" in
  --build-db) build_db; exit 0 ;;
  "") ;;
  *) sed -n '2,8p' "$0" >&2; exit 2 ;;
esac

if [ ! -f "$DB/index/db.json" ]; then
  msg="no vulnerability database at $DB (build one with: scripts/vulncheck.sh --build-db; or set LIANMENG_VULNDB)"
  if [ "${LIANMENG_VULNCHECK:-}" = "require" ]; then
    echo "vulncheck: $msg" >&2
    exit 1
  fi
  echo "vulncheck: SKIPPED: $msg"
  exit 0
fi
need_jq
DB=$(cd "$DB" && pwd)
echo "vulncheck: database $DB ($(cat "$DB/SOURCE" 2>/dev/null || echo "source unknown")); $(go env GOVERSION)"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
status=0
stdlib_warned=0
for mod in . sdk; do
  name=$( [ "$mod" = . ] && echo gateway || echo "$mod" )
  if ! (cd "$mod" && go run "$GOVULNCHECK" -db "file://$DB" -format json ./...) >"$out/$name.json" 2>"$out/$name.err"; then
    cat "$out/$name.err" >&2
    echo "vulncheck: govulncheck failed in ./$mod" >&2
    exit 1
  fi
  # One line per vulnerability and module, at the strongest level found:
  # called (a vulnerable symbol is reachable), imported, or required.
  jq -rs '
    (map(select(.osv)) | map({(.osv.id): (.osv.summary // "")}) | add // {}) as $summary
    | [ .[] | select(.finding) | .finding
        | { osv, module: .trace[0].module, version: .trace[0].version,
            fixed: (.fixed_version // "no fix"),
            level: (if .trace[0].function then 3 elif .trace[0].package then 2 else 1 end),
            via: (.trace[-1] | if .position then "\(.package).\(.function) at \(.position.filename):\(.position.line)" else "" end) } ]
    | group_by(.osv + " " + .module) | map(max_by(.level))
    | sort_by(-.level, .module, .osv)
    | .[]
    | [ (["", "required", "imported", "called"][.level]),
        (if .module == "stdlib" then "stdlib" else "module" end),
        .osv, "\(.module)@\(.version)", .fixed, ($summary[.osv] // ""), .via ]
    | @tsv' "$out/$name.json" >"$out/$name.tsv"
  if [ ! -s "$out/$name.tsv" ]; then
    echo "vulncheck: $name: no vulnerabilities found"
    continue
  fi
  # Third-party findings one per line; the standard library's summed up.
  stdlib_called=() stdlib_fixed=""
  while IFS=$'\t' read -r level kind id where fixed summary via; do
    if [ "$kind" = stdlib ]; then
      if [ "$level" = called ]; then
        stdlib_called+=("$id")
        stdlib_fixed=$(printf '%s\n%s\n' "$stdlib_fixed" "$fixed" | sort -V | tail -1)
      fi
      continue
    fi
    verdict=info
    if [ "$level" != required ]; then
      verdict=FAIL
      status=1
    fi
    echo "vulncheck: $name: $verdict: $id $level in $where (fixed in $fixed): $summary${via:+ [e.g. $via]}"
  done <"$out/$name.tsv"
  if [ ${#stdlib_called[@]} -gt 0 ]; then
    verdict=$( [ "$STDLIB" = fail ] && echo FAIL || echo warn )
    [ "$verdict" = FAIL ] && status=1
    stdlib_warned=1
    echo "vulncheck: $name: $verdict: the standard library of $(go env GOVERSION) has ${#stdlib_called[@]} vulnerabilities the code calls (${stdlib_called[*]}), all fixed in go${stdlib_fixed#v}; details: go run $GOVULNCHECK -db file://$DB ./..."
  fi
done

if [ "$status" -ne 0 ]; then
  echo "vulncheck: FAILED: update the modules above (go get MODULE@FIXED-VERSION, then go mod tidy in each module)" >&2
  exit 1
fi
if [ "$stdlib_warned" = 1 ]; then
  echo "vulncheck: ok for the modules (the standard library's are warnings: a newer Go toolchain fixes them; LIANMENG_VULNCHECK_STDLIB=fail makes them fatal)"
else
  echo "vulncheck: ok"
fi
