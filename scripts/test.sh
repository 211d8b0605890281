#!/usr/bin/env bash
# The one test command (README, .ci/run): formatting, vet, and the whole
# test suite under the race detector, with every storage test run against
# embedded SQLite and MariaDB/MySQL.
#
#   LIANMENG_TEST_MYSQL_DSN   server for the MySQL suite
#                             (default root@tcp(127.0.0.1:3306)/test)
#   CI=true                   start MariaDB if it is not answering, and fail
#                             (never skip) when the MySQL suite cannot run
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

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '\.pb\.go$' || true)
if [ -n "$unformatted" ]; then
  echo "gofmt: these files need formatting:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m "$@" ./...
