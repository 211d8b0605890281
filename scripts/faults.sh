#!/usr/bin/env bash
# The fault suite (issue 19, gateway/faults, build tag "faults"): real
# `lianmeng serve` processes under signed earn/redeem/refund load (with POS
# webhooks and payment-channel notifications in the kill scenario) while the
# suite kills the gateway (SIGKILL), mixes in hostile requests, and kills,
# restarts and starves a private MariaDB it starts itself (its own data
# directory and port; the shared server only hosts fresh databases for the
# SQLite/MariaDB pair of the gateway scenarios). After each scenario every
# acknowledged write must be in the database exactly once, `lianmeng verify`
# clean and coverage exactly 1. Prints one report line per scenario.
#
#   FAULTS_LONG=1            the long form (10 kills per scenario, more
#                            clients and load); default: the short form for CI
#   FAULTS_SOAK=30m          soak mode instead (not in CI): that long of mixed
#                            load on a private MariaDB, memory (resident, heap
#                            in use, live heap after a GC), goroutines, open
#                            files and database connections sampled every
#                            FAULTS_SOAK_EVERY (10s) and drawn in soak.svg
#                            (with soak.csv) in FAULTS_SOAK_OUT (default
#                            ./soak-DATE); fails on growth. Also writes the
#                            gateway's heap profiles (after a GC, one sample
#                            per 4 KiB) heap-warm.pb.gz (after the 1-minute
#                            warm-up) and heap-end.pb.gz; what grew:
#                              go tool pprof -base heap-warm.pb.gz \
#                                heap-end.pb.gz -top -inuse_space
#   FAULTS_SOAK_CLIENTS=N    soak with N clients (default: the form's 12 or
#                            24; fewer for a gentler rate on a shared machine)
#   FAULTS_RUN=REGEXP        only these scenarios (go test -run)
#   FAULTS_REPORT=FILE       keep the JSON report lines (default: a temp file)
#   FAULTS_LOG_DIR=DIR       append every gateway's whole log to DIR/NAME.log
#   LIANMENG_TEST_MYSQL_DSN  shared server for the gateway scenarios' MariaDB
#                            half (default root@tcp(127.0.0.1:3306)/test)
set -euo pipefail
cd "$(dirname "$0")/.."

export LIANMENG_TEST_MYSQL_DSN="${LIANMENG_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"
report="${FAULTS_REPORT:-$(mktemp)}"
: >"$report"
export FAULTS_REPORT="$report"
timeout=15m
[ "${FAULTS_LONG:-}" = 1 ] && timeout=90m
if [ -n "${FAULTS_SOAK:-}" ]; then
  export FAULTS_SOAK_OUT="${FAULTS_SOAK_OUT:-$(pwd)/soak-$(date +%Y%m%d-%H%M)}"
  export FAULTS_RUN=TestSoak
  timeout=$(python3 -c "import re,sys; m=re.fullmatch(r'(\d+)([smh])', sys.argv[1]); print(int(m[1])*{'s':1,'m':60,'h':3600}[m[2]]+900)" "$FAULTS_SOAK")s
  echo "soak: $FAULTS_SOAK, results in $FAULTS_SOAK_OUT"
fi

echo "== fault suite ($([ "${FAULTS_LONG:-}" = 1 ] && echo long || echo short) form, $(nproc) cores)"
start=$(date +%s)
set +e
go test -tags faults -count=1 -timeout "$timeout" -run "${FAULTS_RUN:-.}" -v ./gateway/faults/ 2>&1 |
  grep --line-buffered -Ev '^(=== (RUN|PAUSE|CONT)|    traffic_test.go:[0-9]+: REPORT)'
status=${PIPESTATUS[0]}
set -e

echo
echo "== report ($(($(date +%s) - start)) s)"
python3 - "$report" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'scenario':<22} {'database':<16} {'s':>4} {'faults':>6} {'requests':>8} {'acked':>7} {'retried':>7} {'unans.':>6}  recover ms / rejected by code / retried answers")
for r in rows:
    if "throughput" in r:
        tp = r["throughput"]
        print(f"{'throughput':<22} {'mariadb-private':<16} acknowledged writes/s, {tp['clients']} clients on {tp['merchants']} hot merchants: 1 instance {tp['one']:.0f}, 2 instances {tp['two']:.0f}")
        continue
    rej = " ".join(f"{k}={v}" for k, v in sorted(r["rejected_by_code"].items())) or "-"
    tr = " ".join(f"{k}={v}" for k, v in sorted(r["retried_answers"].items())) or "-"
    rec = ",".join(str(x) for x in r.get("recover_ms") or []) or "-"
    print(f"{r['scenario']:<22} {r['database']:<16} {r['seconds']:>4.0f} {r['faults']:>6} {r['requests']:>8} {r['acknowledged']:>7} {r['retried']:>7} {r['unanswered']:>6}  {rec} / {rej} / {tr}")
EOF
if [ "$status" != 0 ]; then
  echo "faults.sh: the fault suite FAILED (see above): a write was lost, doubled or misreported, or a scenario did not recover" >&2
fi
exit "$status"
