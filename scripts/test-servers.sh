#!/usr/bin/env bash
# Real servers for the test suite, on loopback ports, in a scratch directory:
# PostgreSQL (initdb + pg_ctl), Redis (redis-server, AOF on, password), and an S3-compatible
# server (moto in server mode).
#   scripts/test-servers.sh start   # writes $ASO_TEST_SERVERS/servers.env (source it)
#   scripts/test-servers.sh stop
set -euo pipefail
dir=${ASO_TEST_SERVERS:-/tmp/aso-test-servers}
pg_port=${ASO_TEST_PG_PORT:-55432}
redis_port=${ASO_TEST_REDIS_PORT:-56379}
s3_port=${ASO_TEST_S3_PORT:-55900}
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_postgres=()
[[ $(id -u) -eq 0 ]] && as_postgres=(runuser -u postgres --)

start() {
    stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 777 "$dir"

    # PostgreSQL: its own cluster, trust on loopback only for the superuser, a password for the app user.
    # Local socket: trust (set-up below); TCP: passwords, as in production.
    "${as_postgres[@]}" "$pg_bin/initdb" -D "$dir/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 >"$dir/pg-init.log" 2>&1
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
        -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start </dev/null >/dev/null 2>&1
    "${as_postgres[@]}" psql -h "$dir" -p "$pg_port" -U postgres -q -c "CREATE USER aso WITH PASSWORD 'pg-test-secret-7d1c' CREATEDB" \
        -c "CREATE DATABASE aso_test OWNER aso"

    # Redis: append-only so a restart keeps the queue, a password to exercise AUTH.
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save "" \
        --requirepass redis-test-secret-3f9a --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1

    # S3: moto in server mode.
    # The subshell's own descriptors are closed too, so a caller piping this script's output is not held open.
    (cd "$dir" && nohup moto_server -H 127.0.0.1 -p "$s3_port" </dev/null >"$dir/moto.log" 2>&1 & echo $! >"$dir/moto.pid") </dev/null >/dev/null 2>&1

    # Each server must answer, or the start fails: a test run without one would not be a test run.
    up() {
        case $1 in
            postgres) PGPASSWORD=pg-test-secret-7d1c psql -h 127.0.0.1 -p "$pg_port" -U aso -d aso_test -qAtc "SELECT 1" >/dev/null 2>&1 ;;
            redis) redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning ping 2>/dev/null | grep -q PONG ;;
            s3) curl -fs "http://127.0.0.1:$s3_port/" >/dev/null 2>&1 ;;
        esac
    }
    for server in postgres redis s3; do
        for _ in $(seq 1 150); do up "$server" && break; sleep 0.2; done
        if ! up "$server"; then
            echo "test-servers: $server did not come up (logs in $dir)" >&2
            stop >/dev/null 2>&1 || true
            return 1
        fi
    done
    cat >"$dir/servers.env" <<ENV
TEST_PG_HOST=127.0.0.1
TEST_PG_PORT=$pg_port
TEST_PG_USER=aso
TEST_PG_PASSWORD=pg-test-secret-7d1c
TEST_PG_DATABASE=aso_test
TEST_PG_ADMIN_USER=postgres
TEST_REDIS_HOST=127.0.0.1
TEST_REDIS_PORT=$redis_port
TEST_REDIS_PASSWORD=redis-test-secret-3f9a
TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
TEST_SERVERS_DIR=$dir
TEST_PG_BIN=$pg_bin
ENV
    echo "test servers up: postgres :$pg_port, redis :$redis_port, s3 :$s3_port ($dir/servers.env)"
}

stop() {
    [[ -d $dir/pg ]] && "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
    [[ -f $dir/redis.pid ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    [[ -f $dir/moto.pid ]] && kill "$(cat "$dir/moto.pid")" 2>/dev/null || true
    # moto may run under a launcher (pyenv shim) whose pid is the one recorded.
    pkill -f "moto_server -H 127.0.0.1 -p $s3_port" 2>/dev/null || true
    return 0
}

# Fault tests stop and start one server while the rest keeps running.
stop_redis() { redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning shutdown >/dev/null 2>&1 || true; }
start_redis() {
    redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save "" \
        --requirepass redis-test-secret-3f9a --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1
    for _ in $(seq 1 50); do redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning ping >/dev/null 2>&1 && return 0; sleep 0.1; done
}
stop_postgres() { "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m fast stop </dev/null >/dev/null 2>&1 || true; }
start_postgres() {
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
        -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start </dev/null >/dev/null 2>&1
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    stop-redis) stop_redis ;;
    start-redis) start_redis ;;
    stop-postgres) stop_postgres ;;
    start-postgres) start_postgres ;;
    *) echo "usage: $0 start|stop|stop-redis|start-redis|stop-postgres|start-postgres" >&2; exit 2 ;;
esac
