#!/usr/bin/env bash
# The one test command (README, .ci/run): formatting, tidy go.mod files,
# vet, and the whole test suite under the race detector, with every storage
# test run against embedded SQLite and MariaDB/MySQL. The repository holds
# two Go modules, the gateway (.) and the plugin SDK (sdk/, required by the
# gateway through a replace directive); each is vetted and tested, and
# scripts/sdk-stranger.sh builds the SDK README's plugin in a module outside
# the repository. Last, the short fault suite (scripts/faults.sh).
#
#   LIANMENG_TEST_MYSQL_DSN   server for the MySQL suite
#                             (default root@tcp(127.0.0.1:3306)/test)
#   CI=true                   start MariaDB if it is not answering, and fail
#                             (never skip) when the MySQL suite cannot run
#   LIANMENG_TEST_BROWSER=require  fail (never skip) the browser tests when
#                             chromium is missing (set by CI=true)
#   LIANMENG_VULNDB           the vulnerability database scripts/vulncheck.sh
#                             reads (it skips without one)
set -euo pipefail
cd "$(dirname "$0")/.."

export LIANMENG_TEST_MYSQL_DSN="${LIANMENG_TEST_MYSQL_DSN:-root@tcp(127.0.0.1:3306)/test}"

mysql_answers() {
  if command -v mariadb-admin >/dev/null 2>&1; then
    mariadb-admin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1
  elif command -v mysqladmin >/dev/null 2>&1; then
    mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1
  else
    (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null
  fi
}

if [ "${CI:-}" = "true" ]; then
  export LIANMENG_TEST_MYSQL=require
  if ! mysql_answers; then
    echo "test.sh: MariaDB is not answering; starting it"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
      mysql_answers && break
      sleep 1
    done
    mysql_answers || { echo "test.sh: MariaDB did not start within 60 s" >&2; exit 1; }
  fi
fi

# The browser tests (gateway/web) drive Debian's chromium headless and run
# the transparency page's OpenSSL command; CI must not skip them.
if [ "${CI:-}" = "true" ]; then
  export LIANMENG_TEST_BROWSER=require
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "test.sh: chromium or openssl is missing; installing them for the browser tests (apt-get install -y chromium openssl)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium openssl >/dev/null
  else
    echo "test.sh: chromium or openssl is missing and this is not root: install them (apt-get install -y chromium openssl), or the browser tests in gateway/web are skipped (and fail with CI=true)" >&2
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go mod tidy"
for mod in . sdk; do
  if ! diff=$(cd "$mod" && go mod tidy -diff 2>&1); then
    echo "$diff" >&2
    echo "go mod tidy: go.mod/go.sum of the module in ./$mod are not tidy; run: (cd $mod && go mod tidy)" >&2
    exit 1
  fi
done

echo "== sdk imports"
# The SDK is for strangers: nothing in sdk/ (tests included) may import the
# gateway module's packages.
sdk_deps=$(cd sdk && go list -deps -test ./...) || {
  echo "sdk: go list failed; does sdk/ import a package outside its module?" >&2
  exit 1
}
gateway_deps=$(echo "$sdk_deps" | sed 's/ \[.*//' | grep '^github.com/lianmeng/lianmeng/' |
  grep -Ev '^github.com/lianmeng/lianmeng/sdk([/._]|$)' | sort -u || true)
if [ -n "$gateway_deps" ]; then
  echo "sdk: sdk/ must not depend on the gateway, but it imports:" >&2
  echo "$gateway_deps" >&2
  exit 1
fi

echo "== go vet"
go vet ./...
(cd sdk && go vet ./...)

echo "== vulncheck"
# govulncheck against a local Go vulnerability database; skips (and says
# so) when there is none. See scripts/vulncheck.sh for building one.
scripts/vulncheck.sh

echo "== go test -race (sdk module)"
(cd sdk && go test -race -count=1 -timeout 20m "$@" ./...)

echo "== sdk as a stranger installs it"
scripts/sdk-stranger.sh

echo "== go test -race"
go test -race -count=1 -timeout 20m "$@" ./...

echo "== fault suite (short form; scripts/faults.sh, about 3 minutes)"
# Real gateway processes killed, a private MariaDB stopped and starved,
# hostile requests, plugin kills, a full disk, three instances: any lost or
# doubled acknowledged write fails here, and the report is printed.
scripts/faults.sh
