"""What the service costs doing nothing: CPU time of idle processes over 30 s.

Embedded `serve` (API and 2 workers in one process), and in production mode on the test
servers' PostgreSQL, Redis and S3 an API replica and a worker process (WORKER_COUNT 2). Each
process is started, given 10 s to settle, then its CPU time (user + system, /proc) is read
over IDLE_SECONDS with no request made. Also the PostgreSQL and Redis servers' own CPU over the
same window, which the idle processes cause by polling. Median of RUNS windows.
"""
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid

from benchlib import ASO, RUNS, write

IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "30"))
SERVERS = "/tmp/aso-bench-idle-servers"
TICKS = os.sysconf("SC_CLK_TCK")


def wait_for(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid):
    """User + system seconds of a process and its threads; None once it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def pids_of(pattern):
    out = subprocess.run(["pgrep", "-f", pattern], stdout=subprocess.PIPE, text=True).stdout
    return [int(p) for p in out.split()]


def window(groups):
    """CPU seconds of each named group of processes over IDLE_SECONDS of doing nothing. A group
    is a function listing its pids: processes that start meanwhile count from zero, processes
    that exit meanwhile are left out."""
    before = {name: {p: cpu_seconds(p) for p in pids()} for name, pids in groups.items()}
    time.sleep(IDLE_SECONDS)
    spent = {}
    for name, pids in groups.items():
        after = {p: cpu_seconds(p) for p in pids()}
        spent[name] = sum(value - (before[name].get(p) or 0) for p, value in after.items() if value is not None)
    return spent


servers_env = dict(os.environ, ASO_TEST_SERVERS=SERVERS, ASO_TEST_PG_PORT="55462", ASO_TEST_REDIS_PORT="56409", ASO_TEST_S3_PORT="55930")
subprocess.run(["scripts/test-servers.sh", "start"], env=servers_env, check=True, stdout=subprocess.DEVNULL)
results = {}
try:
    servers = dict(line.split("=", 1) for line in open(f"{SERVERS}/servers.env").read().split())
    postmaster = int(open(f"{SERVERS}/pg/postmaster.pid").readline())

    def postgres_pids():
        """The test PostgreSQL: its postmaster and every process it forked (sessions included)."""
        children = subprocess.run(["pgrep", "-P", str(postmaster)], stdout=subprocess.PIPE, text=True).stdout
        return [postmaster] + [int(p) for p in children.split()]
    dependencies = {"PostgreSQL": postgres_pids, "Redis": lambda: pids_of(f"redis-server.*{servers['TEST_REDIS_PORT']}")}
    with tempfile.TemporaryDirectory() as work:
        embedded = subprocess.Popen([ASO, "serve"], env=dict(os.environ, DATA_DIR=f"{work}/embedded", API_PORT="18096", WORKER_CONCURRENCY="2",
                                                            LOG_LEVEL="WARNING"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("http://127.0.0.1:18096/health/readiness")
            time.sleep(10)
            results["embedded serve (API + 2 workers)"] = [window({"process": lambda: [embedded.pid]})["process"] for _ in range(RUNS)]
        finally:
            embedded.send_signal(signal.SIGTERM)
            embedded.wait(timeout=60)

        database = f"bench_idle_{uuid.uuid4().hex[:6]}"
        subprocess.run(["psql", "-h", servers["TEST_PG_HOST"], "-p", servers["TEST_PG_PORT"], "-U", servers["TEST_PG_USER"],
                        "-d", servers["TEST_PG_DATABASE"], "-q", "-c", f"CREATE DATABASE {database}"],
                       env=dict(os.environ, PGPASSWORD=servers["TEST_PG_PASSWORD"]), check=True)
        env = dict(os.environ, ASO_MODE="production", ALLOW_ANONYMOUS="true", LOG_LEVEL="WARNING",
                   DB_HOST=servers["TEST_PG_HOST"], DB_PORT=servers["TEST_PG_PORT"], DB_NAME=database,
                   DB_USER=servers["TEST_PG_USER"], DB_PASSWORD=servers["TEST_PG_PASSWORD"],
                   REDIS_HOST=servers["TEST_REDIS_HOST"], REDIS_PORT=servers["TEST_REDIS_PORT"], REDIS_DB="6",
                   REDIS_PASSWORD=servers["TEST_REDIS_PASSWORD"], MINIO_ENDPOINT=servers["TEST_S3_ENDPOINT"],
                   MINIO_ACCESS_KEY=servers["TEST_S3_ACCESS_KEY"], MINIO_SECRET_KEY=servers["TEST_S3_SECRET_KEY"],
                   MINIO_BUCKET=database.replace("_", "-"), WORKER_COUNT="2")
        api = subprocess.Popen([ASO, "serve"], env=dict(env, API_PORT="18097", DATA_DIR=f"{work}/api"),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        worker = subprocess.Popen([ASO, "worker"], env=dict(env, DATA_DIR=f"{work}/worker", WORKER_METRICS_PORT="0"),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("http://127.0.0.1:18097/health/readiness")
            time.sleep(10)
            windows = [window({"api": lambda: [api.pid], "worker": lambda: [worker.pid], **dependencies}) for _ in range(RUNS)]
            results["production serve (API only)"] = [w["api"] for w in windows]
            results["production worker (2 workers)"] = [w["worker"] for w in windows]
            results["PostgreSQL server, meanwhile"] = [w["PostgreSQL"] for w in windows]
            results["Redis server, meanwhile"] = [w["Redis"] for w in windows]
        finally:
            for process in (api, worker):
                process.send_signal(signal.SIGTERM)
            for process in (api, worker):
                process.wait(timeout=60)
finally:
    subprocess.run(["scripts/test-servers.sh", "stop"], env=servers_env, check=False)

lines = [f"| idle for {IDLE_SECONDS} s (median of {RUNS}) | CPU | share of one core |", "|---|---|---|"]
for name, values in results.items():
    cpu = statistics.median(values)
    lines.append(f"| {name} | {cpu:.2f} s | {100 * cpu / IDLE_SECONDS:.2f} % |")
write("idle", {"idle_seconds": IDLE_SECONDS, "cpu_s": results}, "\n".join(lines))
