#!/usr/bin/env bash
# make bench: the reading benchmark of issue 2 and the import benchmark of issue 3 on generated
# feeds (see bench/ and samples/feedgen). Generates a ~30 MB and a ~300 MB feed, each with a twin
# that has 1 % of the persons renamed, into a temp folder (removed on exit; nothing is left in
# the checkout), then `bench table` runs each case in its own process and prints MB/s, peak RSS
# and each case's time relative to a bare encoding/xml Token() loop over the same file.
#
# The import cases run the real importer into PostgreSQL (pg-*) and SQLite (sqlite-*): an initial
# load into an empty tenant, the same file again, then the 1 %-renamed twin. PostgreSQL is
# $IMSFEED_BENCH_POSTGRES_URL (each initial load gets a schema of its own, dropped at the end),
# else a throwaway server started with scripts/postgres.sh and stopped at the end.
#
# queue-night is a night of 1,000 tenants of 3,000 persons scheduled at one slot and worked by
# 1, 2 and 3 `imsfeed serve` processes on one PostgreSQL (bench/queuenight): total time, time
# per tenant, the mean run, peak RSS per process. BENCH_QUEUE_TENANTS=200 for a shorter one.
#
# night-50 is a whole night of `run --all --parallel 2`: 50 small tenants on local folders whose
# files the SIS left an hour before, with the default settle time (bench/night.go). It runs once.
# console-held is the operator console's held-run page on a hold of over 500,000 changes (a tenant
# of 100,000 persons whose broken night drops half of them, SQLite): the time to the page's first
# byte on the first view, again, for a search by key and by name, and for page 100. It runs once.
# bench live: the live channel (IMS ES over TLS with keep-alive, 1 and 8 clients) on SQLite and
# the same PostgreSQL, against a bare net/http TLS handler (bench/live.go). BENCH_LIVE=0 skips it.
#   BENCH_SIZES="30"     only the 30 MB file (default "30 300"; 1000: a ~1 GB feed, make bench-large)
#   BENCH_CHECK=FILE     compare each case's ratio to tokens and its peak RSS with those recorded in
#                        FILE (bench/ratios.json); a case over its limit is measured once more and
#                        fails only if it is over again; exit 1 on a regression (make bench-check)
#   BENCH_CHECK_UPDATE=1 record the figures measured in BENCH_CHECK instead (each case measured
#                        twice, the better kept)
#   BENCH_TOLERANCE=1.3  how much higher than recorded a case's ratio may be
#   BENCH_RSS_TOLERANCE=1.2  how much higher than recorded a case's peak RSS may be
#   BENCH_RUNS=3         runs per case; the fastest counts (default 1)
#   BENCH_CASES=...      cases to run (default: all; `go run ./bench list`)
#   BENCH_PROFILE=DIR    write a CPU profile of each import case into DIR (go tool pprof DIR/CASE.pprof)
#   BENCH_LIVE_OPS=...   the live operations to measure (default: all; e.g. replacePerson,createPersons)
#   BENCH_LIVE_TOLERANCE=1.3  with BENCH_CHECK: how much more CPU per request than recorded the
#                        live writes may take (their CPU time as a ratio to the bare handler's;
#                        in-process only: PostgreSQL's own CPU is not counted)
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/imsfeed-bench.XXXXXX")
pgdir=""
cleanup() {
	if [[ -x $tmp/bench ]]; then
		for f in "$tmp"/feed-*MB.xml; do
			[[ -e $f ]] && "$tmp/bench" cleanup "$f" || true
		done
	fi
	[[ -z $pgdir ]] || scripts/postgres.sh stop "$pgdir"
	rm -rf "$tmp"
}
trap cleanup EXIT
status=0 # the script's: non-zero when the table or the live part failed
trap 'exit 130' INT TERM # so that the EXIT trap runs on ^C or kill as well

cases=${BENCH_CASES:-tokens,read,read-validate,read-event,pg-initial,pg-unchanged,pg-1pct,sqlite-initial,sqlite-unchanged,sqlite-1pct,night-50,console-held,queue-night}
# queue-night is bench/queuenight, a program of its own (it runs imsfeed serve processes).
queue_night=0
if [[ ,$cases, == *,queue-night,* ]]; then
	queue_night=1
	cases=$(echo ",$cases," | sed 's/,queue-night,/,/; s/^,//; s/,$//')
fi
if [[ (,$cases, == *,pg-* || ${BENCH_LIVE:-1} != 0 || $queue_night == 1) && -z ${IMSFEED_BENCH_POSTGRES_URL:-} ]]; then
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/imsfeed-pg.XXXXXX")
	IMSFEED_BENCH_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir")
	echo "bench.sh: a throwaway PostgreSQL at $IMSFEED_BENCH_POSTGRES_URL" >&2
fi
export IMSFEED_BENCH_POSTGRES_URL=${IMSFEED_BENCH_POSTGRES_URL:-}
if [[ -n ${BENCH_PROFILE:-} ]]; then
	mkdir -p "$BENCH_PROFILE"
	export IMSFEED_BENCH_CPUPROFILE=$BENCH_PROFILE
fi

go build -o "$tmp/feedgen" ./samples/cmd/feedgen
go build -o "$tmp/bench" ./bench

files=()
sizes=${BENCH_SIZES:-30 300}
[[ -n $cases ]] || sizes="" # queue-night alone makes its own files
for size in $sizes; do
	case $size in
	30) persons=15000 groups=2000 ;;    # ~32 MB, ~147,000 memberships
	300) persons=150000 groups=20000 ;; # ~317 MB, ~1,470,000 memberships
	1000) persons=480000 groups=64000 ;; # ~1 GB, ~4,700,000 memberships (make bench-large)
	*) echo "bench.sh: BENCH_SIZES: unknown size $size (30, 300 or 1000)" >&2; exit 2 ;;
	esac
	f="$tmp/feed-${size}MB.xml"
	"$tmp/feedgen" -persons "$persons" -groups "$groups" -members 75 -seed 1 -o "$f"
	if [[ ,$cases, == *-1pct,* ]]; then # the 1 %-renamed twin the *-1pct cases import
		"$tmp/feedgen" -persons "$persons" -groups "$groups" -members 75 -seed 1 -rename 1 -o "${f%.xml}-rename1.xml"
	fi
	files+=("$f")
done

if [[ -n $cases ]]; then
	check=()
	if [[ -n ${BENCH_CHECK:-} ]]; then
		check=(-check "$(realpath "$BENCH_CHECK")" -tolerance "${BENCH_TOLERANCE:-1.3}" -rss-tolerance "${BENCH_RSS_TOLERANCE:-1.2}")
		[[ ${BENCH_CHECK_UPDATE:-0} == 1 ]] && check+=(-update)
	fi
	# A failed check still lets the live part run: the report shows every regression at once.
	"$tmp/bench" table -runs "${BENCH_RUNS:-1}" -cases "$cases" "${check[@]}" "${files[@]}" || status=$?
fi
if [[ $queue_night == 1 ]]; then
	go build -o "$tmp/imsfeed" ./cmd/imsfeed
	go build -o "$tmp/queuenight" ./bench/queuenight
	echo
	echo "A night of serve's queue (issue 13; BENCH_QUEUE_TENANTS, default 1000, BENCH_QUEUE_PROCS, default 1,2,3):"
	"$tmp/queuenight" -imsfeed "$tmp/imsfeed" -postgres "$IMSFEED_BENCH_POSTGRES_URL" \
		-tenants "${BENCH_QUEUE_TENANTS:-1000}" -persons 3000 -procs "${BENCH_QUEUE_PROCS:-1,2,3}"
fi
if [[ ${BENCH_LIVE:-1} != 0 ]]; then
	echo
	echo "The live channel (bench live: requests/s and latency per request, client and server on this machine):"
	live=(-seconds "${BENCH_LIVE_SECONDS:-3}")
	[[ -z ${BENCH_LIVE_OPS:-} ]] || live+=(-ops "$BENCH_LIVE_OPS")
	if [[ -n ${BENCH_CHECK:-} ]]; then
		live+=(-check "$(realpath "$BENCH_CHECK")" -tolerance "${BENCH_LIVE_TOLERANCE:-1.3}")
		[[ ${BENCH_CHECK_UPDATE:-0} == 1 ]] && live+=(-update)
	fi
	"$tmp/bench" live "${live[@]}" || status=$?
fi
exit "$status"
