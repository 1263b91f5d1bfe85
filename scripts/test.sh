#!/usr/bin/env bash
# The whole test suite: vet, gofmt, unit tests, the race detector on the packages that run
# goroutines, and the PostgreSQL tests against a real server. When IMSFEED_TEST_POSTGRES_URL is
# not set, a throwaway server is started (scripts/postgres.sh) and always stopped again.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages that run goroutines: tested again under the race detector. The importer's tests take
# the longest by far: listed first, they start first, and the others run beside them (go test
# starts packages in the order given, two at a time on two cores).
RACE_PKGS=${RACE_PKGS:-./importer ./store/... ./console ./source/... ./live/... ./diff ./mailer/... ./queue}

step() { printf '\n== %s\n' "$*"; }

step "go vet"
go vet ./...

step "python3-zeep"
# The live channel is checked with a SOAP client nobody here wrote: Debian's python3-zeep.
if ! /usr/bin/python3 -c 'import zeep' 2>/dev/null && ! python3 -c 'import zeep' 2>/dev/null; then
	echo "test.sh: installing Debian's python3-zeep (the live channel's WSDL test)" >&2
	sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-zeep >&2 \
		|| { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-zeep >&2; }
fi
step "chromium"
# The console is checked in a real browser: Debian's chromium, driven headless by chromedp.
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
	echo "test.sh: installing Debian's chromium (the console's browser test)" >&2
	sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo -n)
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2 \
		|| { "${sudo[@]}" apt-get update -qq >&2 && "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium >&2; }
fi
step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
[[ -z $unformatted ]] || { echo "gofmt would change: $unformatted" >&2; exit 1; }

if [[ -z ${IMSFEED_TEST_POSTGRES_URL:-} ]]; then
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/imsfeed-pg.XXXXXX")
	pglog=$(mktemp "${TMPDIR:-/tmp}/imsfeed-pg-log.XXXXXX")
	trap 'scripts/postgres.sh stop "$pgdir"; rm -f "$pglog"' EXIT
	IMSFEED_TEST_POSTGRES_URL=$(scripts/postgres.sh start "$pgdir" 2>"$pglog") \
		|| { cat "$pglog" >&2; echo "test.sh: could not start PostgreSQL (see above)" >&2; exit 1; }
	echo "test.sh: PostgreSQL for the tests at $IMSFEED_TEST_POSTGRES_URL"
fi
export IMSFEED_TEST_POSTGRES_URL
# Under CI the PostgreSQL tests (and others needing real servers) fail instead of skipping.
export CI=true

# RUN=REGEX [PKGS=...]: only those tests (make test-queue-full).
if [[ -n ${RUN:-} ]]; then
	# shellcheck disable=SC2086
	go test -count=1 -timeout 40m -run "$RUN" ${PKGS:-./...}
	exit
fi

# The console's browser test writes its screenshots (a phone's view of the main pages) here.
export IMSFEED_SCREENSHOTS=${IMSFEED_SCREENSHOTS:-${TMPDIR:-/tmp}/imsfeed-console-screenshots}
echo "test.sh: the console's screenshots go to $IMSFEED_SCREENSHOTS"
# A package's tests may take longer than go test's default 10 minutes on a loaded machine (the
# importer's under the race detector took 11 at a load average of 12 on two cores): a timeout
# there would fail a green suite.
step "unit and integration tests (go test ./...): PostgreSQL, SFTP and SMTP included"
# The command's tests mostly wait (two minutes of the queue's minute slots, SQLite's 30 s busy
# timeout) while a core stays idle: they run beside all the others, race detector included,
# and what they print comes when they are done.
cmd_pkg=./cmd/imsfeed
cmd_log=$(mktemp "${TMPDIR:-/tmp}/imsfeed-cmd-tests.XXXXXX")
go test -timeout 30m "$cmd_pkg" >"$cmd_log" 2>&1 &
cmd_pid=$!
cmd_done() {
	local status=0
	wait "$cmd_pid" || status=$?
	step "go test $cmd_pkg (ran beside the others)"
	cat "$cmd_log"
	rm -f "$cmd_log"
	return "$status"
}
status=0
# shellcheck disable=SC2046
go test -timeout 30m $(go list ./... | grep -vx "github.com/imsfeed/imsfeed/${cmd_pkg#./}") || status=$?
[[ $status -eq 0 ]] || { cmd_done || true; exit "$status"; }
step "race detector (go test -race) on the packages that run goroutines: $RACE_PKGS"
# -race also turns on checkptr, a check of every unsafe.Pointer conversion: in modernc.org's
# SQLite (C translated to Go, unsafe pointers on every line) it took 40% of the SQLite tests'
# time (the importer's early-load test on SQLite: 35 s with it, 21 s without). It is off for
# modernc.org's packages only, as in any build without -race; the race detector is on for them
# too, and checkptr stays on for the rest.
# shellcheck disable=SC2086
go test -race -gcflags='modernc.org/...=-d=checkptr=0' -timeout 30m $RACE_PKGS || status=$?
cmd_done || status=$?
[[ $status -eq 0 ]] || exit "$status"
step "all passed"
