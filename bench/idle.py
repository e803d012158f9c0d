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

from benchlib import ASO, RUNS, cpu_seconds, create_database, production_environment, test_servers, wait_for, write

IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "30"))
SERVERS = "/tmp/aso-bench-idle-servers"


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


results = {}
with test_servers(SERVERS, 55472, 56419, 55940) as servers, tempfile.TemporaryDirectory() as work:
    postmaster = int(open(f"{SERVERS}/pg/postmaster.pid").readline())

    def postgres_pids():
        """The test PostgreSQL: its postmaster and every process it forked (sessions included)."""
        children = subprocess.run(["pgrep", "-P", str(postmaster)], stdout=subprocess.PIPE, text=True).stdout
        return [postmaster] + [int(p) for p in children.split()]
    dependencies = {"PostgreSQL": postgres_pids, "Redis": lambda: pids_of(f"redis-server.*{servers['TEST_REDIS_PORT']}")}

    embedded = subprocess.Popen([ASO, "serve"], env=dict(os.environ, DATA_DIR=f"{work}/embedded", API_PORT="18096", WORKER_CONCURRENCY="2",
                                                        LOG_LEVEL="WARNING"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("http://127.0.0.1:18096/health/readiness", 60)
        time.sleep(10)
        results["embedded serve (API + 2 workers)"] = [window({"process": lambda: [embedded.pid]})["process"] for _ in range(RUNS)]
    finally:
        embedded.send_signal(signal.SIGTERM)
        embedded.wait(timeout=60)

    env = production_environment(servers, create_database(servers, "bench_idle"), 6, WORKER_COUNT="2")
    api = subprocess.Popen([ASO, "serve"], env=dict(env, API_PORT="18097", DATA_DIR=f"{work}/api"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([ASO, "worker"], env=dict(env, DATA_DIR=f"{work}/worker", WORKER_METRICS_PORT="0"),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for("http://127.0.0.1:18097/health/readiness", 60)
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

lines = [f"| idle for {IDLE_SECONDS} s (median of {RUNS}) | CPU | share of one core |", "|---|---|---|"]
for name, values in results.items():
    cpu = statistics.median(values)
    lines.append(f"| {name} | {cpu:.2f} s | {100 * cpu / IDLE_SECONDS:.2f} % |")
write("idle", {"idle_seconds": IDLE_SECONDS, "cpu_s": results}, "\n".join(lines))
