"""Service (embedded mode): status polling under load and upload latency, each beside its
baseline measured in the same run.

- GET /v1/renders/{id} under wrk at 64 connections beside a trivial route of the same server
  (/health/liveness). Goals: ≥ 50% of its throughput, p99 ≤ 10 ms.
- Time to 201 for a 20 MB JPEG upload beside writing the same bytes to disk with fsync (the
  service makes an accepted upload durable before answering). Goal ≤ 1.5×.
"""
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import urllib.request

from benchlib import RUNS, served, write

PORT = 18089
BASE = f"http://127.0.0.1:{PORT}"
PHOTO = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"


def wrk(url):
    out = subprocess.run(["wrk", "-t2", "-c64", "-d8s", "--latency", url], stdout=subprocess.PIPE, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def upload(path):
    out = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-X", "POST", f"{BASE}/v1/renders",
         "-F", f"file=@{path}", "-F", "style_id=550e8400-e29b-41d4-a716-446655440008",
         "-F", "size_preset_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8"], stdout=subprocess.PIPE, text=True, check=True).stdout
    code, seconds = out.split()
    assert code == "201", out
    return float(seconds)


def disk_write(path, target):
    start = time.monotonic()
    subprocess.run(["dd", f"if={path}", f"of={target}", "bs=1M", "conv=fsync", "status=none"], check=True)
    return time.monotonic() - start


with tempfile.TemporaryDirectory() as work:
    photo = os.path.join(work, "photo20.jpg")
    subprocess.run(["vips", "resize", PHOTO, f"{work}/big.v", "1.45"], check=True)
    subprocess.run(["vips", "copy", f"{work}/big.v", f"{photo}[Q=97]"], check=True)
    size_mb = os.path.getsize(photo) / 1e6
    with served(work, PORT):
        uploads, writes = [], []
        for i in range(max(RUNS, 5)):
            uploads.append(upload(photo))
            writes.append(disk_write(photo, f"{work}/copy-{i}.jpg"))
        # Any render will do: the status route reads its record.
        out = subprocess.run(["curl", "-s", "-X", "POST", f"{BASE}/v1/renders", "-F", f"file=@{PHOTO}",
                              "-F", "style_id=550e8400-e29b-41d4-a716-446655440008",
                              "-F", "size_preset_id=6ba7b810-9dad-11d1-80b4-00c04fd430c8"], stdout=subprocess.PIPE, text=True, check=True).stdout
        render_id = json.loads(out)["render_id"]
        ours, trivial = [], []
        for _ in range(RUNS):
            ours.append(wrk(f"{BASE}/v1/renders/{render_id}"))
            trivial.append(wrk(f"{BASE}/health/liveness"))

rps = statistics.median(r for r, _ in ours)
p99 = statistics.median(p for _, p in ours)
base_rps = statistics.median(r for r, _ in trivial)
base_p99 = statistics.median(p for _, p in trivial)
up = statistics.median(uploads)
dd = statistics.median(writes)
share = rps / base_rps
ratio = up / dd
rows = {"get_render": {"rps": rps, "p99_ms": p99, "runs": ours}, "trivial": {"rps": base_rps, "p99_ms": base_p99, "runs": trivial},
        "upload_s": uploads, "disk_write_s": writes, "upload_mb": size_mb}
mark = lambda ok: "yes" if ok else "**no**"
lines = [
    f"| measure (median of {RUNS}, 64 connections) | ours | baseline | ratio | goal met |",
    "|---|---|---|---|---|",
    f"| GET /v1/renders/{{id}} req/s vs /health/liveness | {rps:,.0f} | {base_rps:,.0f} | {share:.0%} | {mark(share >= 0.5)} (≥ 50%) |",
    f"| GET /v1/renders/{{id}} p99 | {p99:.1f} ms | {base_p99:.1f} ms | | {mark(p99 <= 10)} (≤ 10 ms) |",
    f"| {size_mb:.1f} MB JPEG upload → 201 vs dd conv=fsync | {up * 1000:.0f} ms | {dd * 1000:.0f} ms | {ratio:.2f}× | {mark(ratio <= 1.5)} (≤ 1.5×) |",
]
write("service", rows, "\n".join(lines))
