#!/usr/bin/env bash
# The SDK as a stranger installs it. In an empty Go module OUTSIDE this
# repository, write the plugin and its test exactly as sdk/README.md shows
# them: every ```go block that follows a line
#
#   <!-- sdk-stranger: FILE -->
#
# becomes FILE (main.go and main_test.go today). Require the SDK from this
# checkout (require ... v0.0.0 + replace => <repo>/sdk, as the README's
# Install section says), then tidy, vet, build, run `describe` and test. It
# fails loudly if the README's code does not compile, is not gofmt'd, or its
# tests do not pass, and if the SDK drags in the gateway module.
#
# Offline is fine: modules come from the configured GOPROXY and the module
# cache, as for the rest of the build. Called by scripts/test.sh.
#
#   KEEP=1 scripts/sdk-stranger.sh   keeps the scratch module and says where
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd -P)
readme="$repo/sdk/README.md"
say() { echo "sdk-stranger: $*"; }
die() {
  echo "sdk-stranger: FAIL: $*" >&2
  exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/lianmeng-sdk-stranger.XXXXXX")
work=$(cd "$work" && pwd -P)
case "$work/" in
  "$repo"/*) die "scratch directory $work is inside the repository; set TMPDIR elsewhere" ;;
esac
if [ "${KEEP:-}" = 1 ]; then
  trap 'say "kept the scratch module in $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

# 1. The files, taken literally from the README.
awk -v dir="$work" '
  function fail(msg) { print "sdk-stranger: FAIL: sdk/README.md line " NR ": " msg > "/dev/stderr"; bad = 1; exit 1 }
  /^<!-- sdk-stranger: [^ ]+ -->[[:space:]]*$/ {
    if (state != 0) fail("a marker inside a code block")
    file = $3
    if (file !~ /^[A-Za-z0-9_][A-Za-z0-9_.-]*\.go$/) fail("bad file name " file)
    if (file in seen) fail(file " is marked twice")
    seen[file] = 1
    state = 1
    next
  }
  state == 1 {
    if ($0 ~ /^[[:space:]]*$/) next
    if ($0 !~ /^```go[[:space:]]*$/) fail("the marker for " file " is not followed by a ```go block")
    out = dir "/" file
    printf "" > out
    state = 2
    next
  }
  state == 2 {
    if ($0 ~ /^```[[:space:]]*$/) { close(out); state = 0; next }
    print > out
  }
  END {
    if (bad) exit 1
    if (state != 0) { print "sdk-stranger: FAIL: sdk/README.md: the block for " file " never ends" > "/dev/stderr"; exit 1 }
  }
' "$readme" || exit 1
for f in main.go main_test.go; do
  [ -s "$work/$f" ] || die "sdk/README.md has no <!-- sdk-stranger: $f --> block"
done
say "took $(cd "$work" && ls *.go | tr '\n' ' ')from sdk/README.md into $work"

cd "$work"
export GOWORK=off
# -mod=mod lets go mod tidy and the builds write go.mod/go.sum here; keep
# whatever else the machine's go env sets.
export GOFLAGS="$(go env GOFLAGS) -mod=mod"

# 2. A module of its own that requires the SDK from this checkout.
step() {
  local what=$1
  shift
  say "$what"
  "$@" || die "$what failed (in $work; run with KEEP=1 to keep it)"
}
step "go mod init" go mod init example.com/hello 2>/dev/null
step "require the SDK from $repo/sdk" go mod edit \
  -require=github.com/lianmeng/lianmeng/sdk@v0.0.0 \
  -replace=github.com/lianmeng/lianmeng/sdk="$repo/sdk"
step "go mod tidy" go mod tidy
if go list -m all | grep -q '^github.com/lianmeng/lianmeng '; then
  die "the plugin's build list contains the gateway module github.com/lianmeng/lianmeng: the SDK must not depend on it"
fi

# 3. The README's code as written: formatted, vetted, built, described, tested.
unformatted=$(gofmt -l .)
[ -z "$unformatted" ] || die "the README's code is not gofmt'd: $unformatted"
step "go vet" go vet ./...
step "go build" go build -o hello .
./hello describe >describe.json || die "./hello describe failed"
grep -q '"name": "hello"' describe.json || die "./hello describe did not describe a plugin named hello: $(cat describe.json)"
grep -q '"kind": "earning_rule"' describe.json || die "./hello describe lists no earning rule: $(cat describe.json)"
say "./hello describe: ok"
say "go test"
if ! go test -count=1 -v ./... >test.log 2>&1; then
  cat test.log >&2
  die "go test failed (in $work; run with KEEP=1 to keep it)"
fi
grep -E '^(--- |ok|PASS|FAIL)' test.log
passed=$(grep -c '^--- PASS: Test' test.log || true)
[ "$passed" -ge 2 ] || die "go test ran $passed test(s); the README's main_test.go has TestInProcess and TestOutOfProcess"
say "ok: the plugin and test in sdk/README.md compile and pass in a module outside the repository"
