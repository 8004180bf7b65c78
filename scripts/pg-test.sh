#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests.
#
#   scripts/pg-test.sh start DIR   fresh cluster in DIR on 127.0.0.1:<free port>; prints its URL
#                                  (postgres://haru@127.0.0.1:PORT/haru) as the only stdout line
#   scripts/pg-test.sh stop DIR    stops that server and removes DIR (fine if already gone)
#
# Trust auth (local socket and 127.0.0.1 only), role `haru` is a superuser so each test can
# CREATE DATABASE its own. As root, the server runs as the `postgres` user (initdb refuses
# root). Binaries: the highest /usr/lib/postgresql/*/bin, or $PG_BIN if set.
set -euo pipefail

MARKER=".pg-test"
START_TIMEOUT=30

die() {
    echo "pg-test: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        [[ -x "$PG_BIN/initdb" ]] || die "PG_BIN=$PG_BIN has no initdb"
        echo "$PG_BIN"
        return
    fi
    local best=""
    best="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -z "$best" || ! -x "$best/initdb" || ! -x "$best/pg_ctl" ]]; then
        die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): install Debian's postgresql package (apt-get install postgresql)"
    fi
    echo "$best"
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Run a command as USER ("" = ourselves), from / so that an unreadable cwd does not matter.
run_as() {
    local user="$1"
    shift
    if [[ -z "$user" || "$user" == "$(id -un)" ]]; then
        (cd / && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$user" -- "$@")
    else
        local cmd
        cmd="$(printf '%q ' "$@")"
        (cd / && su -s /bin/sh "$user" -c "$cmd")
    fi
}

# The user the server of DIR runs as: the owner of its data directory.
server_user() {
    local dir="$1"
    if is_root; then
        stat -c %U "$dir/data" 2>/dev/null || echo postgres
    else
        echo ""
    fi
}

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

log_tail() {
    local log="$1"
    if [[ -f "$log" ]]; then
        echo "pg-test: last lines of $log:" >&2
        tail -n 30 "$log" >&2 || true
    fi
}

cmd_start() {
    local dir="$1"
    local bin user pguser data log port
    bin="$(find_bin)"
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to pick a free port"

    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd -P)"
    data="$dir/data"
    log="$dir/postgres.log"
    if [[ -e "$data" ]]; then
        die "$dir already holds a cluster ($data); run '$0 stop $dir' first"
    fi
    if [[ -n "$(ls -A "$dir")" && ! -e "$dir/$MARKER" ]]; then
        die "$dir is not empty; give start a new or empty directory"
    fi
    # The socket lives in DIR: its path must fit in sun_path (107 bytes).
    if (( ${#dir} + 20 > 107 )); then
        die "$dir is too long a path for the server's unix socket; use a shorter one (e.g. under /tmp)"
    fi
    touch "$dir/$MARKER"

    user=""
    if is_root; then
        user="postgres"
        id -u "$user" >/dev/null 2>&1 || die "running as root but there is no 'postgres' user (install Debian's postgresql package)"
        chown -R "$user:" "$dir"
        chmod 700 "$dir"
        run_as "$user" test -w "$dir" ||
            die "user $user cannot write $dir (a parent directory is closed to it); use a directory under /tmp"
    fi
    pguser="postgres"

    echo "pg-test: initdb in $data ($bin)" >&2
    if ! run_as "$user" "$bin/initdb" -D "$data" -U "$pguser" -A trust -E UTF8 --no-locale \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2 || true
        die "initdb failed"
    fi

    cat >"$data/pg_hba.conf" <<'EOF'
# pg-test: trust, and only the local socket and 127.0.0.1.
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
EOF
    [[ -z "$user" ]] || chown "$user:" "$data/pg_hba.conf"

    # Tests trade durability for speed; PG_DURABLE=1 (deploy/start.sh) keeps it.
    local durability="fsync = off
synchronous_commit = off
full_page_writes = off"
    [[ "${PG_DURABLE:-0}" == "1" ]] && durability="fsync = on"
    local attempt started=""
    for attempt in 1 2 3; do
        port="$(free_port)"
        cat >>"$data/postgresql.conf" <<EOF

# pg-test (attempt $attempt)
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
$durability
EOF
        echo "pg-test: starting on 127.0.0.1:$port (log $log)" >&2
        if ! run_as "$user" "$bin/pg_ctl" -D "$data" -l "$log" -W start >&2; then
            log_tail "$log"
            die "pg_ctl start failed"
        fi

        local waited=0 status=""
        while :; do
            if run_as "$user" "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U "$pguser"; then
                started=1
                break
            fi
            # Give the postmaster a moment to write its pid file before asking if it died.
            if (( waited >= 20 )); then
                status=0
                run_as "$user" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || status=$?
                if [[ "$status" == 3 ]]; then
                    break
                fi
            fi
            if (( waited >= START_TIMEOUT * 10 )); then
                log_tail "$log"
                run_as "$user" "$bin/pg_ctl" -D "$data" -m immediate stop >&2 2>&1 || true
                die "the server did not become ready within ${START_TIMEOUT}s (pg_isready on 127.0.0.1:$port); see the log above"
            fi
            sleep 0.1
            waited=$((waited + 1))
        done
        [[ -n "$started" ]] && break
        # The server died: retry on another port only if it lost a race for this one.
        if grep -qiE 'could not bind|address already in use' "$log" 2>/dev/null; then
            echo "pg-test: port $port was taken, trying another" >&2
            continue
        fi
        log_tail "$log"
        die "the server exited during startup; see the log above"
    done
    if [[ -z "$started" ]]; then
        log_tail "$log"
        die "could not find a free port to start on"
    fi

    local psql=("$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U "$pguser" -d postgres)
    if ! run_as "$user" "${psql[@]}" -c "CREATE ROLE haru LOGIN SUPERUSER CREATEDB" >&2 ||
        ! run_as "$user" "${psql[@]}" -c "CREATE DATABASE haru OWNER haru" >&2; then
        log_tail "$log"
        run_as "$user" "$bin/pg_ctl" -D "$data" -m fast stop >&2 2>&1 || true
        die "could not create the haru role and database"
    fi

    local url="postgres://haru@127.0.0.1:$port/haru"
    echo "$url" >"$dir/url"
    echo "pg-test: ready: $url (stop with: $0 stop $dir)" >&2
    echo "$url"
}

cmd_stop() {
    local dir="$1"
    if [[ ! -e "$dir" ]]; then
        echo "pg-test: $dir is already gone" >&2
        return 0
    fi
    [[ -d "$dir" ]] || die "$dir is not a directory"
    dir="$(cd "$dir" && pwd -P)"
    if [[ ! -e "$dir/$MARKER" && -n "$(ls -A "$dir")" ]]; then
        die "$dir was not made by '$0 start' (no $MARKER); not touching it"
    fi

    local data="$dir/data"
    if [[ -f "$data/PG_VERSION" ]]; then
        local bin user status=0
        bin="$(find_bin)"
        user="$(server_user "$dir")"
        run_as "$user" "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || status=$?
        if [[ "$status" == 0 ]]; then
            echo "pg-test: stopping the server of $data" >&2
            if ! run_as "$user" "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >&2; then
                log_tail "$dir/postgres.log"
                die "pg_ctl stop failed for $data"
            fi
        fi
    fi
    rm -rf -- "$dir"
    echo "pg-test: removed $dir" >&2
}

[[ $# -eq 2 ]] || usage
case "$1" in
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    *) usage ;;
esac
