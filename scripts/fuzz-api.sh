#!/usr/bin/env bash
# API fuzzing (part of `make test`): schemathesis generates requests from /v1/openapi.json
# against a real server over a socket and runs every check — no 5xx, every status, header,
# content type and body as documented, invalid data refused, valid data accepted (uploads with
# real photos: scripts/fuzz/hooks.py).
#   scripts/fuzz-api.sh [BINARY] [--api-keys]   FUZZ_EXAMPLES (per operation, default 60), FUZZ_SEED
# With --api-keys the server requires API_KEYS and METRICS_TOKEN, and schemathesis sends the
# key (its auth checks also try requests without it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary=$root/.build/debug/aso-render
keys=""
for argument in "$@"; do
    case $argument in
        --api-keys) keys=yes ;;
        *) binary=$argument ;;
    esac
done
work=$(mktemp -d)
server=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    [[ -n ${KEEP_FUZZ:-} ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
auth=()
if [[ -n $keys ]]; then
    key="fuzz-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    export API_KEYS=$key METRICS_TOKEN="metrics-$key"
    auth=(--header "Authorization: Bearer $key")
fi
# Uploads carry real photos (scripts/fuzz/hooks.py) and are accepted, hundreds of them: no
# render threads, so they wait in the queue instead of taking the machine, and a queue that
# holds them all, so "valid data accepted" never meets the designed 503 of a full queue.
# Webhooks are on (a schema-valid webhook_url is a local one, scripts/fuzz/hooks.py).
WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw WEBHOOK_ALLOW_PRIVATE=true \
API_HOST=127.0.0.1 API_PORT=$port DATA_DIR="$work/data" WORKER_CONCURRENCY=0 MAX_QUEUED_RENDERS=100000 LOG_LEVEL=WARNING \
    PUBLIC_BASE_URL="http://127.0.0.1:$port" "$binary" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/health/liveness" >/dev/null 2>&1 && break
    sleep 0.2
done
# The styles' parameters and ranges, for the hook's style_params.
export FUZZ_STYLES=$work/styles.json SCHEMATHESIS_HOOKS=$root/scripts/fuzz/hooks.py
curl -fsS "${auth[@]}" "http://127.0.0.1:$port/v1/styles" >"$FUZZ_STYLES"
# A photo uploaded once, for the cases that render by asset_id.
FUZZ_ASSET_ID=$(curl -fsS "${auth[@]}" -F "file=@$("$root/scripts/test-photos.sh")/dune.jpg" "http://127.0.0.1:$port/v1/assets" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["asset_id"])')
export FUZZ_ASSET_ID

cd "$work"
status=0
# One worker: with two threads, hypothesis builds ASTs concurrently and CPython 3.11's
# per-interpreter AST recursion counter races (python/cpython#106905), crashing the run with
# "AST constructor recursion depth mismatch" (seen once in a fresh-clone CI run). One thread costs
# nothing that matters: about a minute per run either way.
st --config-file "$root/scripts/fuzz/schemathesis.toml" run "http://127.0.0.1:$port/v1/openapi.json" \
    --max-examples "${FUZZ_EXAMPLES:-60}" --seed "${FUZZ_SEED:-20261125}" --workers 1 \
    --no-color --output-sanitize false --report json --report-dir "$work/report" "${auth[@]}" >"$work/fuzz.log" 2>&1 || status=$?
cases=$(grep -oE '[0-9]+ generated' "$work/fuzz.log" | grep -oE '[0-9]+' | tail -1)
if ((status != 0)) || [[ -z $cases ]] || ((cases < 500)); then
    cat "$work/fuzz.log"
    echo "fuzz-api: FAILED (exit $status, ${cases:-0} cases; at least 500 wanted)" >&2
    exit 1
fi
# No 5xx and nothing the server logged as an unhandled error.
if grep -q '"level":"ERROR"' "$work/server.log"; then
    grep '"level":"ERROR"' "$work/server.log" | head -20
    echo "fuzz-api: the server logged errors" >&2
    exit 1
fi
grep -E "passed|failed|generated" "$work/fuzz.log" | tail -4
echo "fuzz-api: ok — $cases generated cases${keys:+ with API keys on}, every check passed"
