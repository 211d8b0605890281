#!/usr/bin/env bash
# Regenerates the Go code for the plugin contract (sdk/proto) into
# sdk/internal/pb. The generators are pinned so the committed output only
# changes when the contract or these versions change.
#
# Needs protoc (Debian: apt-get install -y protobuf-compiler) and Go.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12      # google.golang.org/protobuf, same as go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1   # google.golang.org/grpc/cmd/protoc-gen-go-grpc

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

command -v protoc >/dev/null || { echo "genproto: protoc not found (apt-get install -y protobuf-compiler)" >&2; exit 1; }

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
# Install into a private bin so whatever is on PATH cannot leak in. GOFLAGS is
# cleared because -mod settings of the main module do not apply to @version.
GOBIN="$bin" GOFLAGS= go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
GOBIN="$bin" GOFLAGS= go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"

out=sdk/internal/pb
rm -f "$out"/*.pb.go
PATH="$bin:$PATH" protoc \
  -I sdk/proto \
  --go_out="$out" --go_opt=paths=source_relative \
  --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
  sdk/proto/lianmeng/plugin/v1/*.proto

# source_relative keeps the proto directory tree; flatten it into one package.
mv "$out"/lianmeng/plugin/v1/*.go "$out"/
rm -rf "$out"/lianmeng
gofmt -l "$out" >/dev/null
echo "genproto: wrote $(ls "$out"/*.pb.go | wc -l) files to $out"
