"""Following renders to the end: waiting (`Prefer: wait=60`) beside polling, under the same load.

Production mode on the test servers' PostgreSQL, Redis and S3: two API replicas and one worker
process (2 renders at once). Each round uploads RENDERS renders of 9x12 `photo` through replica A,
then one client per render follows it on replica B until it is terminal, so every wake-up crosses
processes (worker → PostgreSQL NOTIFY → replica B). Per way of following: the requests made,
replica B's CPU time over the round, and the lag from the render's `completed_at` to the client
seeing it (p50, p99); medians of RUNS rounds. The renders are uploaded with no worker running and
the worker starts once every client follows, so each is seen from queued to completed. Polling every second is what the spec's clients do;
every 0.1 s is an impatient client.
"""
import json
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import datetime

from benchlib import ASO, RUNS, cpu_seconds, create_database, production_environment, test_servers, wait_for, write

RENDERS = 40
PHOTO = "/usr/share/wallpapers/Elarun/contents/images/2560x1600.png"
FALLBACK = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
PHOTO_STYLE = "550e8400-e29b-41d4-a716-446655440008"
PRESET_9X12 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
SERVERS = "/tmp/aso-bench-wait-servers"
PORTS = (18094, 18095)
# How clients follow (None: Prefer: wait=60), and on which replica: the first row follows on
# replica A, so replica B's CPU over that round is what it spends with nobody following there.
WAYS = {"nobody following on B (idle; polled on A)": ("A", 1.0), "poll every 1 s": ("B", 1.0),
        "poll every 0.1 s": ("B", 0.1), "Prefer: wait=60": ("B", None)}


def upload(base, photo):
    out = subprocess.run(["curl", "-s", "-X", "POST", f"{base}/v1/renders", "-F", f"file=@{photo}", "-F", f"style_id={PHOTO_STYLE}",
                          "-F", f"size_preset_id={PRESET_9X12}"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out)["render_id"]


def follow(base, render_id, interval, result):
    """Follows one render to a terminal status; records requests and when completion was seen."""
    requests = 0
    while True:
        request = urllib.request.Request(f"{base}/v1/renders/{render_id}")
        if interval is None:
            request.add_header("Prefer", "wait=60")
        record = json.load(urllib.request.urlopen(request, timeout=90))
        requests += 1
        if record["status"] in ("completed", "failed", "canceled"):
            seen = time.time()
            completed = datetime.fromisoformat(record["completed_at"].replace("Z", "+00:00")).timestamp()
            result.append({"requests": requests, "lag_s": seen - completed, "status": record["status"]})
            return
        if interval is not None:
            time.sleep(interval)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def round_of(apis, api_b, start_worker, photo, way):
    """Uploads with no worker running, so every render is still queued when its client starts
    following it; the worker starts once all clients follow, and stops at the end."""
    replica, interval = way
    ids = [upload(apis[0], photo) for _ in range(RENDERS)]
    results = []
    cpu_before, start = cpu_seconds(api_b.pid), time.monotonic()
    threads = [threading.Thread(target=follow, args=(apis[0 if replica == "A" else 1], render_id, interval, results)) for render_id in ids]
    for thread in threads:
        thread.start()
    worker = start_worker()
    try:
        for thread in threads:
            thread.join()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    wall = time.monotonic() - start
    cpu = cpu_seconds(api_b.pid) - cpu_before
    if len(results) != RENDERS or any(r["status"] != "completed" for r in results):
        raise RuntimeError(f"not every render completed: {results}")
    lags = [r["lag_s"] for r in results]
    return {"requests": sum(r["requests"] for r in results), "cpu_s": cpu, "wall_s": wall,
            "lag_p50_ms": percentile(lags, 0.5) * 1000, "lag_p99_ms": percentile(lags, 0.99) * 1000}


photo = PHOTO if os.path.exists(PHOTO) else FALLBACK
measured = {way: [] for way in WAYS}
with test_servers(SERVERS, 55452, 56399, 55920) as servers, tempfile.TemporaryDirectory() as work:
    env = production_environment(servers, create_database(servers, "bench_wait"), 5, MAX_QUEUED_RENDERS="1000", WORKER_COUNT="2")
    processes = []
    try:
        for index, port in enumerate(PORTS):
            log = open(f"{work}/api-{index}.log", "w")
            processes.append(subprocess.Popen([ASO, "serve"], env=dict(env, API_PORT=str(port), DATA_DIR=f"{work}/api-{index}"),
                                              stderr=subprocess.STDOUT, stdout=log))
            try:
                wait_for(f"http://127.0.0.1:{port}/health/readiness", 60)
            except RuntimeError:
                raise RuntimeError(open(f"{work}/api-{index}.log").read()[-3000:])
        apis = [f"http://127.0.0.1:{port}" for port in PORTS]

        def start_worker():
            return subprocess.Popen([ASO, "worker"], env=dict(env, DATA_DIR=f"{work}/worker", WORKER_METRICS_PORT="0"),
                                    stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for _ in range(RUNS):
            for name, way in WAYS.items():
                measured[name].append(round_of(apis, processes[1], start_worker, photo, way))
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def median(way, key):
    return statistics.median(run[key] for run in measured[way])


base = "poll every 1 s"
idle = next(iter(WAYS))
lines = [
    f"| {RENDERS} renders followed from queued to completed (median of {RUNS}) | requests | replica B CPU | above idle | ratio | lag p50 | lag p99 | round |",
    "|---|---|---|---|---|---|---|---|",
]
for way in WAYS:
    above = median(way, "cpu_s") - median(idle, "cpu_s")
    ratio = "—" if way == idle else f"{above / (median(base, 'cpu_s') - median(idle, 'cpu_s')):.2f}×"
    lines.append(f"| {way}{' (baseline)' if way == base else ''} | {median(way, 'requests'):.0f} | {median(way, 'cpu_s'):.2f} s | "
                 f"{'—' if way == idle else f'{above:.2f} s'} | {ratio} | {median(way, 'lag_p50_ms'):.0f} ms | "
                 f"{median(way, 'lag_p99_ms'):.0f} ms | {median(way, 'wall_s'):.1f} s |")
lines += ["", "Lag: from the render's `completed_at` to the client seeing `completed`; `completed_at` is stamped "
          "when the render finishes, before its TIFF and preview are stored, so even an instant answer shows that "
          "upload time. Ratio: CPU above idle against polling every second."]
write("wait", {"renders": RENDERS, "photo": photo, "runs": measured}, "\n".join(lines))
