#!/usr/bin/env bash
# Builds deploy/Dockerfile's runtime stage with podman around the binary built here (no Swift
# toolchain image or registry here: the base image is debootstrapped from the Debian mirror once
# and cached under ~/.cache/aso-render), then runs it: the spec's walkthrough in embedded mode and
# in production mode against the test PostgreSQL, Redis and S3, the HEALTHCHECK, a non-root user,
# no compiler and no secret in the image. Prints the image size.
#   scripts/container-test.sh BINARY SERVERS_ENV
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$(realpath "$1")
servers_env=$2
cache=${XDG_CACHE_HOME:-$HOME/.cache}/aso-render
image=aso/pop-render-api:test
work=$(mktemp -d)
containers=()
cleanup() {
    for name in "${containers[@]}"; do podman rm -f "$name" >/dev/null 2>&1 || true; done
    rm -rf "$work"
    podman image prune -f >/dev/null 2>&1 || true
}
trap cleanup EXIT

# The issue's podman settings for this machine: runc, cgroupfs, no default ulimits, host network.
mkdir -p "$cache"
cat >"$cache/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF=$cache/containers.conf

if ! podman image exists debian:bookworm-slim; then
    if [[ ! -f $cache/bookworm-minbase.tar ]]; then
        rm -rf "$cache/rootfs"
        debootstrap --variant=minbase bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1
        rm -rf "$cache/rootfs/var/cache/apt/archives/"*.deb "$cache/rootfs/var/lib/apt/lists/"*
        tar -C "$cache/rootfs" -cf "$cache/bookworm-minbase.tar" .
        rm -rf "$cache/rootfs"
    fi
    podman import --change 'CMD ["/bin/bash"]' "$cache/bookworm-minbase.tar" debian:bookworm-slim >/dev/null
fi

# The builder stage's /staging, from this build: the binary, its resources and the Swift runtime
# libraries it links (found next to it through its $ORIGIN run path).
mkdir -p "$work/context/staging"
cp "$binary" "$work/context/staging/"
# Symbols only: a debug-info-laden test build would otherwise double the image.
strip "$work/context/staging/$(basename "$binary")"
cp -R "$(dirname "$binary")"/*.resources "$work/context/staging/"
ldd "$binary" | awk '$3 ~ /^\/opt\/swift|usr\/lib\/swift/ {print $3}' | xargs -r -I{} cp {} "$work/context/staging/"
podman build --format docker --network host -q -f "$root/deploy/Dockerfile" --target runtime --build-context build="$work/context" -t "$image" "$root" >/dev/null
size=$(podman image inspect "$image" --format '{{.Size}}')
echo "container-test: image $image built, $((size / 1024 / 1024)) MB"

fail() { echo "container-test: $*" >&2; exit 1; }
inspect() { podman image inspect "$image" --format "$1"; }
[[ $(inspect '{{.Config.User}}') == 10001:10001 ]] || fail "runs as $(inspect '{{.Config.User}}'), not the numeric non-root user"
[[ $(podman run --rm --no-healthcheck --network host --entrypoint id "$image" -u) == 10001 ]] || fail "the process is not uid 10001"
for tool in cc gcc clang swiftc ld; do
    podman run --rm --no-healthcheck --network host --entrypoint sh "$image" -c "command -v $tool" >/dev/null 2>&1 && fail "the image holds a compiler: $tool"
done
secrets=$(podman run --rm --no-healthcheck --network host --entrypoint sh "$image" -c 'env; find / -xdev \( -name "*.pem" -o -name "*.key" -o -name ".env" -o -name "*secret*" \) -not -path "/etc/ssl/*" -not -path "/usr/lib/ssl/*" -not -path "/usr/share/*" -not -path "/proc/*" 2>/dev/null' \
    | grep -iE 'PASSWORD|SECRET|API_KEYS|TOKEN|\.pem|\.key|\.env' || true)
[[ -z $secrets ]] || fail "secrets in the image: $secrets"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() { # container: the image's own HEALTHCHECK must pass
    for _ in $(seq 1 120); do
        podman healthcheck run "$1" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    podman logs "$1" >&2 || true
    fail "$1: HEALTHCHECK never passed"
}
walkthrough() { # base URL: the spec's upload, poll, download of a 300 DPI TIFF and the preview
    local api=$1 id status url
    curl -fsS "$api/v1/size-presets" | grep -q '"9x12"' || fail "size presets"
    id=$(curl -fsS -X POST "$api/v1/renders" -F "file=@$("$root/scripts/test-photos.sh")/flower.jpg" \
        -F "style_id=550e8400-e29b-41d4-a716-446655440000" -F "size_preset_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["render_id"])')
    for _ in $(seq 1 600); do
        status=$(curl -fsS "$api/v1/renders/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
        [[ $status == completed || $status == failed ]] && break
        sleep 0.5
    done
    [[ $status == completed ]] || fail "render $id: $status"
    url=$(curl -fsS "$api/v1/renders/$id/download" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
    curl -fsS -o "$work/output.tiff" "$url"
    tiffinfo "$work/output.tiff" | grep -q "Resolution: 300, 300 pixels/inch" || fail "the download is not a 300 DPI TIFF"
    url=$(curl -fsS "$api/v1/renders/$id/preview" | python3 -c 'import json, sys; print(json.load(sys.stdin)["url"])')
    curl -fsS -o "$work/preview.jpg" "$url"
    vipsheader "$work/preview.jpg" | grep -q "1200x" || fail "the preview is not 1200 px wide"
}

# The image's HEALTHCHECK, run as declared but for the port: with host networking (the only
# network here) each container gets a free port instead of 8089.
healthcheck=$(inspect '{{json .Config.Healthcheck}}')
[[ $healthcheck == *'curl -f http://localhost:8089/health/liveness'* ]] || fail "HEALTHCHECK: $healthcheck"
health() { echo "curl -f http://localhost:$1/health/liveness || exit 1"; }

# Embedded mode: the image's defaults but the port.
port=$(free_port)
name=aso-ct-embedded-$$
containers+=("$name")
podman run -d --name "$name" --network host -e API_PORT="$port" -e API_HOST=127.0.0.1 -e PUBLIC_BASE_URL="http://127.0.0.1:$port" \
    --health-cmd "$(health "$port")" --health-interval disable "$image" serve >/dev/null
wait_healthy "$name"
walkthrough "http://127.0.0.1:$port"
echo "container-test: embedded walkthrough ok"

# Production mode: API and worker containers on the test servers, a database and buckets of their own.
set -a
. "$servers_env"
set +a
db=ct_$$
PGPASSWORD=$TEST_PG_PASSWORD psql -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" -U "$TEST_PG_USER" -d "$TEST_PG_DATABASE" -qc "CREATE DATABASE $db"
port=$(free_port)
production=(-e DB_HOST="$TEST_PG_HOST" -e DB_PORT="$TEST_PG_PORT" -e DB_NAME="$db" -e DB_USER="$TEST_PG_USER" -e DB_PASSWORD="$TEST_PG_PASSWORD"
    -e REDIS_HOST="$TEST_REDIS_HOST" -e REDIS_PORT="$TEST_REDIS_PORT" -e REDIS_DB=5 -e REDIS_PASSWORD="$TEST_REDIS_PASSWORD"
    -e MINIO_ENDPOINT="$TEST_S3_ENDPOINT" -e MINIO_ACCESS_KEY="$TEST_S3_ACCESS_KEY" -e MINIO_SECRET_KEY="$TEST_S3_SECRET_KEY"
    -e MINIO_BUCKET="ct-$$" -e ALLOW_ANONYMOUS=true -e API_PORT="$port")
name=aso-ct-api-$$
containers+=("$name")
podman run -d --name "$name" --network host "${production[@]}" --health-cmd "$(health "$port")" --health-interval disable "$image" serve >/dev/null
wait_healthy "$name"
curl -fsS "http://127.0.0.1:$port/health" | grep -q '"storage":"ok"' || fail "production /health"
podman logs "$name" 2>&1 | grep '"Mode chosen"' | grep -q '"mode":"production"' || fail "not in production mode: $(podman logs "$name" 2>&1 | head -3)"
name=aso-ct-worker-$$
containers+=("$name")
podman run -d --no-healthcheck --name "$name" --network host "${production[@]}" -e WORKER_METRICS_PORT="$(free_port)" "$image" worker render-queue >/dev/null
walkthrough "http://127.0.0.1:$port"
for name in "${containers[@]}"; do
    podman logs "$name" 2>&1 | grep -qF -e "$TEST_PG_PASSWORD" -e "$TEST_S3_SECRET_KEY" -e "$TEST_REDIS_PASSWORD" && fail "$name logged a secret"
done
PGPASSWORD=$TEST_PG_PASSWORD psql -h "$TEST_PG_HOST" -p "$TEST_PG_PORT" -U "$TEST_PG_USER" -d "$TEST_PG_DATABASE" -qc "DROP DATABASE $db WITH (FORCE)" || true
echo "container-test: production walkthrough ok (API and worker containers); image $((size / 1024 / 1024)) MB"
