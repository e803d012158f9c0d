#!/usr/bin/env bash
# The spec's curl walkthrough and its Python example, run as written against a server started
# by `make run` (embedded mode, port 8089, a fresh DATA_DIR). Checks that what comes back is a
# 300 DPI TIFF of the preset's size. Part of `make test`. ASO_TEST_WALKTHROUGH_PORT moves it off
# 8089 (the commands are the same but for the port) so that two test runs can share a machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server=""
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=${ASO_TEST_WALKTHROUGH_PORT:-8089}
API=http://localhost:$port
if curl -fs "$API/health" >/dev/null 2>&1; then
    echo "walkthrough: something already listens on port $port" >&2
    exit 1
fi
(cd "$root" && DATA_DIR="$work/data" API_PORT=$port exec make -s run) >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 1800); do
    curl -fs "$API/health" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.5
done
curl -fs "$API/health" >/dev/null || { echo "walkthrough: server did not come up" >&2; exit 1; }

cd "$work"
cp "$("$root/scripts/test-photos.sh")/flower.jpg" my-photo.jpg

check_tiff() { # file expected-width expected-height
    local info
    info=$(tiffinfo "$1")
    grep -q "Image Width: $2 Image Length: $3" <<<"$info" || { echo "walkthrough: $1 is not $2x$3: $info" >&2; exit 1; }
    grep -q "Resolution: 300, 300 pixels/inch" <<<"$info" || { echo "walkthrough: $1 is not 300 DPI: $info" >&2; exit 1; }
    grep -q "Compression Scheme: LZW" <<<"$info" || { echo "walkthrough: $1 is not LZW" >&2; exit 1; }
}

echo "== curl walkthrough"
# 1. List available size presets
curl http://localhost:$port/v1/size-presets | tee presets.json
grep -q '"id":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"' presets.json
echo
# 2. Upload image and create render job
curl -X POST http://localhost:$port/v1/renders \
  -F "file=@my-photo.jpg" \
  -F "style_id=550e8400-e29b-41d4-a716-446655440000" \
  -F "size_preset_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8" | tee created.json
echo
id=$(python3 -c 'import json; print(json.load(open("created.json"))["render_id"])')
# 3. Poll for render status
status=""
for _ in $(seq 1 120); do
    curl -s "http://localhost:$port/v1/renders/$id" >status.json
    status=$(python3 -c 'import json; print(json.load(open("status.json"))["status"])')
    [[ $status == completed || $status == failed ]] && break
    sleep 1
done
cat status.json
echo
[[ $status == completed ]] || { echo "walkthrough: render ended $status" >&2; exit 1; }
# 4. Download rendered TIFF
curl "http://localhost:$port/v1/renders/$id/download" | tee download.json
echo
url=$(python3 -c 'import json; d = json.load(open("download.json")); assert d["expires_in"] == 604800; print(d["url"])')
# 5. Download the file from presigned URL
curl -o rendered-output.tiff "$url"
# 6. (Optional) Get JPEG preview for visual verification
curl "http://localhost:$port/v1/renders/$id/preview" | tee preview.json
echo
curl -o preview.jpg "$(python3 -c 'import json; print(json.load(open("preview.json"))["url"])')"
# A landscape photo on the 9x12 preset: a 12x9 in landscape print.
check_tiff rendered-output.tiff 3600 2700
vipsheader preview.jpg | grep -q "1200x900" || { echo "walkthrough: preview is not 1200x900" >&2; exit 1; }

echo "== the spec's Python example"
# The spec's code polls without a deadline; the run gives it one.
sed "s#localhost:8089#localhost:$port#" "$root/scripts/walkthrough/spec_example.py" >spec_example.py
timeout 600 python3 spec_example.py
check_tiff output.tiff 3600 2700
echo "walkthrough: ok"
