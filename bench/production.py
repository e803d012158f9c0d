"""Production mode end to end: 20 renders of 9x12 `photo` through one API process and two
`aso-render worker` processes on PostgreSQL, Redis and S3 (SeaweedFS), beside the same 20 in
embedded mode (one process, SQLite, local files) with the same number of renders at once.
Wall time is from the first upload to the last render completed; peak RSS is each process's
VmHWM. Starts the test servers from scripts/test-servers.sh.
"""
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid

from benchlib import ASO, RUNS, wait_for, write

RENDERS = 20
PHOTO = "/usr/share/wallpapers/Elarun/contents/images/2560x1600.png"
FALLBACK = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"
PHOTO_STYLE = "550e8400-e29b-41d4-a716-446655440008"
PRESET_9X12 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
SERVERS = "/tmp/aso-bench-servers"


def peak_rss_mb(process):
    with open(f"/proc/{process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def upload(base, photo):
    out = subprocess.run(["curl", "-s", "-X", "POST", f"{base}/v1/renders", "-F", f"file=@{photo}", "-F", f"style_id={PHOTO_STYLE}",
                          "-F", f"size_preset_id={PRESET_9X12}"], stdout=subprocess.PIPE, text=True, check=True).stdout
    return json.loads(out)["render_id"]


def run_batch(base, photo):
    """Seconds from the first upload until every render completed."""
    start = time.monotonic()
    ids = [upload(base, photo) for _ in range(RENDERS)]
    pending = set(ids)
    while pending:
        for render_id in list(pending):
            status = json.load(urllib.request.urlopen(f"{base}/v1/renders/{render_id}"))["status"]
            if status == "completed":
                pending.discard(render_id)
            elif status == "failed":
                raise RuntimeError(f"render {render_id} failed")
        time.sleep(0.05)
    return time.monotonic() - start


def start(arguments, env, ready_url=None):
    process = subprocess.Popen([ASO] + arguments, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if ready_url:
        wait_for(ready_url)
    return process


def stop(processes):
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


photo = PHOTO if os.path.exists(PHOTO) else FALLBACK
# Its own directory and ports, so a test run on the same machine is not disturbed.
servers_env = dict(os.environ, ASO_TEST_SERVERS=SERVERS, ASO_TEST_PG_PORT="55442", ASO_TEST_REDIS_PORT="56389", ASO_TEST_S3_PORT="55910")
subprocess.run(["scripts/test-servers.sh", "start"], env=servers_env, check=True, stdout=subprocess.DEVNULL)
try:
    servers = dict(line.split("=", 1) for line in open(f"{SERVERS}/servers.env").read().split())
    production, embedded = [], []
    rss = {"api": 0.0, "worker": 0.0, "embedded": 0.0}
    with tempfile.TemporaryDirectory() as work:
        for run in range(RUNS):
            database = f"bench_{run}_{uuid.uuid4().hex[:6]}"
            subprocess.run(["psql", "-h", servers["TEST_PG_HOST"], "-p", servers["TEST_PG_PORT"], "-U", servers["TEST_PG_USER"],
                            "-d", servers["TEST_PG_DATABASE"], "-q", "-c", f"CREATE DATABASE {database}"],
                           env=dict(os.environ, PGPASSWORD=servers["TEST_PG_PASSWORD"]), check=True)
            env = dict(os.environ, ASO_MODE="production", ALLOW_ANONYMOUS="true", LOG_LEVEL="WARNING", API_PORT="18090",
                       DB_HOST=servers["TEST_PG_HOST"], DB_PORT=servers["TEST_PG_PORT"], DB_NAME=database,
                       DB_USER=servers["TEST_PG_USER"], DB_PASSWORD=servers["TEST_PG_PASSWORD"],
                       REDIS_HOST=servers["TEST_REDIS_HOST"], REDIS_PORT=servers["TEST_REDIS_PORT"], REDIS_DB=str(run % 16),
                       REDIS_PASSWORD=servers["TEST_REDIS_PASSWORD"], MINIO_ENDPOINT=servers["TEST_S3_ENDPOINT"],
                       MINIO_ACCESS_KEY=servers["TEST_S3_ACCESS_KEY"], MINIO_SECRET_KEY=servers["TEST_S3_SECRET_KEY"], MINIO_BUCKET=database.replace("_", "-"),
                       WORKER_COUNT="1", DATA_DIR=f"{work}/production-{run}")
            api = start(["serve"], env, "http://127.0.0.1:18090/health/readiness")
            workers = [start(["worker"], dict(env, DATA_DIR=f"{work}/worker-{run}-{index}")) for index in range(2)]
            try:
                production.append(run_batch("http://127.0.0.1:18090", photo))
                rss["api"] = max(rss["api"], peak_rss_mb(api))
                rss["worker"] = max([rss["worker"]] + [peak_rss_mb(worker) for worker in workers])
            finally:
                stop([api] + workers)

            env = dict(os.environ, LOG_LEVEL="WARNING", API_PORT="18091", DATA_DIR=f"{work}/embedded-{run}", WORKER_CONCURRENCY="2")
            server = start(["serve"], env, "http://127.0.0.1:18091/health/readiness")
            try:
                embedded.append(run_batch("http://127.0.0.1:18091", photo))
                rss["embedded"] = max(rss["embedded"], peak_rss_mb(server))
            finally:
                stop([server])
finally:
    subprocess.run(["scripts/test-servers.sh", "stop"], env=servers_env, check=False)

ours = statistics.median(production)
base = statistics.median(embedded)
rows = {"renders": RENDERS, "photo": photo, "production_s": production, "embedded_s": embedded, "peak_rss_mb": rss}
lines = [
    f"| {RENDERS} renders, 9x12 photo, 2 at once (median of {RUNS}) | wall | renders/min | ratio | peak RSS |",
    "|---|---|---|---|---|",
    f"| production: API + 2 workers, PostgreSQL, Redis, S3 (SeaweedFS) | {ours:.1f} s | {RENDERS * 60 / ours:.0f} | {ours / base:.2f}× | "
    f"API {rss['api']:.0f} MB, worker {rss['worker']:.0f} MB |",
    f"| embedded: one process, SQLite, local files (baseline) | {base:.1f} s | {RENDERS * 60 / base:.0f} | 1.00× | {rss['embedded']:.0f} MB |",
]
write("production", rows, "\n".join(lines))
