#!/usr/bin/env bash
# Real servers for the test suite, on loopback ports, in a scratch directory:
# PostgreSQL (initdb + pg_ctl), Redis (redis-server, AOF on, password; TLS on a second port
# with a certificate from a test CA, client certificates required), and SeaweedFS's S3
# gateway with authentication on, so a wrong, forged or expired signature is refused as by AWS.
#   scripts/test-servers.sh start   # writes $ASO_TEST_SERVERS/servers.env (source it)
#   scripts/test-servers.sh stop
set -euo pipefail
dir=${ASO_TEST_SERVERS:-/tmp/aso-test-servers}
pg_port=${ASO_TEST_PG_PORT:-55432}
redis_port=${ASO_TEST_REDIS_PORT:-56379}
redis_tls_port=${ASO_TEST_REDIS_TLS_PORT:-$((redis_port + 1))}
s3_port=${ASO_TEST_S3_PORT:-55900}
# SeaweedFS's master, volume and filer servers (and their gRPC ports) take the 6 ports from here.
weed_ports=${ASO_TEST_S3_INTERNAL_PORTS:-$((s3_port + 1))}
s3_access=aso-test-access
s3_secret=s3-test-secret-8b2e71c4
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_postgres=()
[[ $(id -u) -eq 0 ]] && as_postgres=(runuser -u postgres --)

start() {
    stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 777 "$dir"

    # PostgreSQL: its own cluster, trust on loopback only for the superuser, a password for the app user.
    # Local socket: trust (set-up below); TCP: passwords, as in production, with or without TLS
    # (a self-signed certificate for localhost and 127.0.0.1; another one plays a wrong CA).
    "${as_postgres[@]}" "$pg_bin/initdb" -D "$dir/pg" -U postgres --auth-local=trust --auth-host=scram-sha-256 >"$dir/pg-init.log" 2>&1
    for name in pg-server pg-other-ca; do
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            -keyout "$dir/$name.key" -out "$dir/$name.crt" >/dev/null 2>&1
    done
    chmod 600 "$dir/pg-server.key"
    [[ $(id -u) -eq 0 ]] && chown postgres "$dir/pg-server.key" "$dir/pg-server.crt"
    start_postgres
    "${as_postgres[@]}" psql -h "$dir" -p "$pg_port" -U postgres -q -c "CREATE USER aso WITH PASSWORD 'pg-test-secret-7d1c' CREATEDB" \
        -c "CREATE DATABASE aso_test OWNER aso"

    # Redis: append-only so a restart keeps the queue, a password to exercise AUTH. TLS on a
    # second port: a test CA signs the server's certificate (for the name localhost only, as a
    # certificate for a DNS name is usually made; clients at 127.0.0.1 name it) and a client
    # certificate, which the server requires (tls-auth-clients yes, Redis's default); another
    # CA plays the wrong one.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ASO test Redis CA" \
        -keyout "$dir/redis-ca.key" -out "$dir/redis-ca.crt" >/dev/null 2>&1
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ASO test other CA" \
        -keyout "$dir/redis-other-ca.key" -out "$dir/redis-other-ca.crt" >/dev/null 2>&1
    local serial=1 name extensions
    for name in redis-server redis-client; do
        extensions="subjectAltName=DNS:localhost"
        [[ $name == redis-client ]] && extensions="extendedKeyUsage=clientAuth"
        openssl req -newkey rsa:2048 -nodes -subj "/CN=${name#redis-}" -keyout "$dir/$name.key" -out "$dir/$name.csr" >/dev/null 2>&1
        openssl x509 -req -in "$dir/$name.csr" -CA "$dir/redis-ca.crt" -CAkey "$dir/redis-ca.key" -set_serial $((serial++)) -days 30 \
            -extfile <(echo "$extensions") -out "$dir/$name.crt" >/dev/null 2>&1
    done
    start_redis

    # S3: SeaweedFS (master, volume, filer, S3 gateway in one process), every port set, loopback
    # only. Growing one volume per bucket (not 7) keeps a bucket per test cheap.
    mkdir -p "$dir/s3"
    printf '{"identities":[{"name":"aso-test","credentials":[{"accessKey":"%s","secretKey":"%s"}],"actions":["Admin","Read","Write","List","Tagging"]}]}\n' \
        "$s3_access" "$s3_secret" >"$dir/s3/identities.json"
    printf '[master.volume_growth]\ncopy_1 = 1\n' >"$dir/s3/master.toml"
    start_s3
    # Each server must answer, or the start fails: a test run without one would not be a test run.
    up() {
        case $1 in
            postgres) PGPASSWORD=pg-test-secret-7d1c psql -h 127.0.0.1 -p "$pg_port" -U aso -d aso_test -qAtc "SELECT 1" >/dev/null 2>&1 ;;
            redis) redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning ping 2>/dev/null | grep -q PONG &&
                redis-cli -p "$redis_tls_port" --tls --cacert "$dir/redis-ca.crt" --cert "$dir/redis-client.crt" --key "$dir/redis-client.key" \
                    -a redis-test-secret-3f9a --no-auth-warning ping 2>/dev/null | grep -q PONG ;;
            s3) s3_ready ;;
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
TEST_PG_SSLROOTCERT=$dir/pg-server.crt
TEST_PG_WRONG_SSLROOTCERT=$dir/pg-other-ca.crt
TEST_REDIS_HOST=127.0.0.1
TEST_REDIS_PORT=$redis_port
TEST_REDIS_PASSWORD=redis-test-secret-3f9a
TEST_REDIS_TLS_PORT=$redis_tls_port
TEST_REDIS_TLS_CA_CERT=$dir/redis-ca.crt
TEST_REDIS_TLS_CERT=$dir/redis-client.crt
TEST_REDIS_TLS_KEY=$dir/redis-client.key
TEST_REDIS_WRONG_CA_CERT=$dir/redis-other-ca.crt
TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port
TEST_S3_ACCESS_KEY=$s3_access
TEST_S3_SECRET_KEY=$s3_secret
TEST_S3_INTERNAL_PORTS=$weed_ports
TEST_SERVERS_DIR=$dir
TEST_PG_BIN=$pg_bin
ENV
    echo "test servers up: postgres :$pg_port, redis :$redis_port (TLS :$redis_tls_port), s3 :$s3_port ($dir/servers.env)"
}

stop() {
    [[ -d $dir/pg ]] && "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m immediate stop >/dev/null 2>&1 || true
    [[ -f $dir/redis.pid ]] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
    stop_s3
    return 0
}

# SeaweedFS shuts down slowly and partly on SIGTERM; its data is scratch, so it is killed.
start_s3() {
    local p=$weed_ports
    (cd "$dir/s3" && exec weed server -dir="$dir/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.telemetry=false \
        -master.port=$p -master.port.grpc=$((p + 1)) -volume.port=$((p + 2)) -volume.port.grpc=$((p + 3)) \
        -filer -filer.port=$((p + 4)) -filer.port.grpc=$((p + 5)) -s3 -s3.port="$s3_port" -s3.port.grpc=$((p + 6)) \
        -s3.port.iceberg=0 -s3.port.lance=0 -s3.config="$dir/s3/identities.json" -master.volumeSizeLimitMB=64 -volume.max=0 \
        </dev/null >"$dir/s3.log" 2>&1 & echo $! >"$dir/s3.pid") </dev/null >/dev/null 2>&1
}
stop_s3() {
    [[ -f $dir/s3.pid ]] && kill -9 "$(cat "$dir/s3.pid")" 2>/dev/null || true
    rm -f "$dir/s3.pid"
}
# Up means a signed bucket creation and upload succeed (the gateway answers before its volumes are ready).
s3_ready() {
    TEST_S3_ENDPOINT=http://127.0.0.1:$s3_port TEST_S3_ACCESS_KEY=$s3_access TEST_S3_SECRET_KEY=$s3_secret python3 - <<'PY' >/dev/null 2>&1
import os, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["TEST_S3_ENDPOINT"], aws_access_key_id=os.environ["TEST_S3_ACCESS_KEY"],
                  aws_secret_access_key=os.environ["TEST_S3_SECRET_KEY"], region_name="us-east-1",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))
try:
    s3.create_bucket(Bucket="aso-ready")
except s3.exceptions.ClientError as error:
    if error.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
s3.put_object(Bucket="aso-ready", Key="ready", Body=b"ready")
PY
}

# Fault tests stop and start one server while the rest keeps running.
# Redis answers SHUTDOWN before its process has let go of its ports: on a loaded machine a
# start that follows at once failed with "Address already in use" and left Redis down for the
# rest of the suite. So a stop waits for the process to be gone, and a start tries again.
stop_redis() {
    local pid
    pid=$(cat "$dir/redis.pid" 2>/dev/null || true)
    redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning shutdown >/dev/null 2>&1 || true
    if [[ -n $pid ]]; then
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    fi
}
start_redis() {
    for _ in 1 2 3; do
        redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$dir" --appendonly yes --save "" \
            --tls-port "$redis_tls_port" --tls-cert-file "$dir/redis-server.crt" --tls-key-file "$dir/redis-server.key" \
            --tls-ca-cert-file "$dir/redis-ca.crt" --tls-auth-clients yes \
            --requirepass redis-test-secret-3f9a --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" </dev/null >/dev/null 2>&1
        for _ in $(seq 1 50); do redis-cli -p "$redis_port" -a redis-test-secret-3f9a --no-auth-warning ping >/dev/null 2>&1 && return 0; sleep 0.1; done
        sleep 1
    done
    echo "redis did not start on :$redis_port (see $dir/redis.log)" >&2
    return 1
}
stop_postgres() { "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -m fast stop </dev/null >/dev/null 2>&1 || true; }
start_postgres() {
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w \
        -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c ssl=on -c ssl_cert_file=$dir/pg-server.crt -c ssl_key_file=$dir/pg-server.key" \
        start </dev/null >/dev/null 2>&1
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    stop-redis) stop_redis ;;
    start-redis) start_redis ;;
    stop-postgres) stop_postgres ;;
    start-postgres) start_postgres ;;
    stop-s3) stop_s3 ;;
    start-s3)
        start_s3
        for _ in $(seq 1 150); do s3_ready && exit 0; sleep 0.2; done
        exit 1
        ;;
    *) echo "usage: $0 start|stop|stop-redis|start-redis|stop-postgres|start-postgres|stop-s3|start-s3" >&2; exit 2 ;;
esac
