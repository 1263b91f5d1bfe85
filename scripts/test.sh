#!/usr/bin/env bash
# The whole test suite (placeholder until the store work adds PostgreSQL start-up).
set -euo pipefail
cd "$(dirname "$0")/.."
go vet ./...
unformatted=$(gofmt -l $(git ls-files '*.go'))
[[ -z $unformatted ]] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
go test ./...
