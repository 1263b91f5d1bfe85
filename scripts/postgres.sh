#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests.
#
#   scripts/postgres.sh start [DIR]   initdb into DIR (default: a new temp dir), start it on a free
#                                     port of 127.0.0.1 with its socket in DIR, print its URL on
#                                     stdout (and "DIR=..." on stderr)
#   scripts/postgres.sh stop DIR      stop that server and remove DIR
#
# Finds initdb/pg_ctl under /usr/lib/postgresql/*/bin or on PATH and installs Debian's postgresql
# with apt-get when there is none. PostgreSQL refuses to run as root, so as root the server runs
# as the "postgres" system user (or "nobody"). Trust authentication on 127.0.0.1 and the socket
# only; fsync is off: the data is thrown away.
set -euo pipefail

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return 0; }
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

install_pg() {
	echo "postgres.sh: PostgreSQL not found; installing Debian's postgresql with apt-get" >&2
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "PostgreSQL is not installed and we are not root: install the postgresql package or set IMSFEED_TEST_POSTGRES_URL"
		sudo=(sudo -n)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -qq >&2
	"${sudo[@]}" apt-get install -y -qq --no-install-recommends postgresql >&2
}

# as_user runs a command as the server's user: ourselves, or a system user when we are root.
run_user=""
as_user() {
	if [[ -z $run_user ]]; then
		"$@"
	elif command -v runuser >/dev/null; then
		runuser -u "$run_user" -- "$@"
	else
		su -s /bin/sh "$run_user" -c "$(printf '%q ' "$@")"
	fi
}

pick_user() {
	[[ $(id -u) -eq 0 ]] || return 0
	if id postgres >/dev/null 2>&1; then run_user=postgres
	elif id nobody >/dev/null 2>&1; then run_user=nobody
	else die "running as root and there is neither a postgres nor a nobody user to run the server as"
	fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	local dir=${1:-}
	if [[ -z $dir ]]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/imsfeed-pg.XXXXXX")
		echo "postgres.sh: server directory $dir (stop it with: $0 stop $dir)" >&2
	fi
	mkdir -p "$dir"
	local bin
	bin=$(find_bin) || { install_pg; bin=$(find_bin) || die "no initdb/pg_ctl even after installing postgresql"; }
	pick_user
	[[ -z $run_user ]] || chown "$run_user" "$dir"
	chmod 700 "$dir"
	as_user "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
		|| { cat "$dir/initdb.log" >&2; die "initdb failed"; }
	local port tries
	for tries in $(seq 1 30); do
		port=$((20000 + RANDOM % 30000))
		port_in_use "$port" && continue
		if as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB -c shared_buffers=256MB -c max_connections=200" \
			start >/dev/null 2>&1; then
			echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
			return 0
		fi
		grep -q "already in use" "$dir/server.log" 2>/dev/null || { cat "$dir/server.log" >&2 2>/dev/null || true; die "the server did not start"; }
	done
	die "no free port found"
}

stop() {
	local dir=${1:?usage: postgres.sh stop DIR}
	local bin
	if [[ -d $dir/data ]] && bin=$(find_bin); then
		pick_user
		as_user "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}

case ${1:-} in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*) die "usage: postgres.sh start [DIR] | stop DIR" ;;
esac
