#!/usr/bin/env bash
# make bench: the reading benchmark of issue 2 on generated feeds (see bench/ and samples/feedgen).
# Generates a ~30 MB and a ~300 MB feed into a temp folder (removed on exit; nothing is left in
# the checkout), then `bench table` runs each case in its own process and prints MB/s, peak RSS
# and the reader's time relative to a bare encoding/xml Token() loop.
#   BENCH_SIZES="30"     only the 30 MB file (default "30 300")
#   BENCH_RUNS=3         runs per case; the fastest counts (default 1)
#   BENCH_CASES=...      cases to run (default tokens,read,read-event; `go run ./bench list`)
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imsfeed-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

go build -o "$tmp/feedgen" ./samples/cmd/feedgen
go build -o "$tmp/bench" ./bench

files=()
for size in ${BENCH_SIZES:-30 300}; do
	case $size in
	30) persons=15000 groups=2000 ;;    # ~32 MB, ~147,000 memberships
	300) persons=150000 groups=20000 ;; # ~317 MB, ~1,470,000 memberships
	*) echo "bench.sh: BENCH_SIZES: unknown size $size (30 or 300)" >&2; exit 2 ;;
	esac
	f="$tmp/feed-${size}MB.xml"
	"$tmp/feedgen" -persons "$persons" -groups "$groups" -members 75 -seed 1 -o "$f"
	files+=("$f")
done

"$tmp/bench" table -runs "${BENCH_RUNS:-1}" -cases "${BENCH_CASES:-tokens,read,read-event}" "${files[@]}"
