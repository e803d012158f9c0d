"""Shared helpers for the benchmark suites: run a command several times, take medians."""
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ASO = os.environ.get("ASO_BIN", ".build/release/aso-render")
PEERS = os.environ.get("PEERS", "../shared/bench/peers.sh")


def timed(command):
    """Wall seconds and peak RSS (KB) of one run, measured by GNU time."""
    with tempfile.NamedTemporaryFile("r") as stats:
        start = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", stats.name] + command,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - start
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
        rss = int(stats.read().strip().splitlines()[-1])
    return wall, rss, result.stdout


def median_of(command, runs=RUNS):
    walls, rsses, outputs = [], [], []
    for _ in range(runs):
        wall, rss, out = timed(command)
        walls.append(wall)
        rsses.append(rss)
        outputs.append(out)
    return {"wall_s": round(statistics.median(walls), 3), "walls": [round(w, 3) for w in walls],
            "max_rss_mb": round(max(rsses) / 1024, 1), "last_output": outputs[-1]}


def peer(name, source, size, runs=RUNS):
    """Median of `runs` runs of one peer from peers.sh."""
    walls, rsses = [], []
    for _ in range(runs):
        out = subprocess.run(["bash", PEERS, source, size, "--only", name], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, check=True).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        if not rows or rows[0]["rc"] != 0 or rows[0]["wall_s"] is None:
            return None
        walls.append(rows[0]["wall_s"])
        rsses.append(rows[0]["max_rss_kb"])
    return {"wall_s": round(statistics.median(walls), 3), "walls": walls, "max_rss_mb": round(max(rsses) / 1024, 1)}


def write(name, rows, markdown):
    os.makedirs("bench/results", exist_ok=True)
    with open(f"bench/results/{name}.json", "w") as f:
        json.dump(rows, f, indent=2)
    with open(f"bench/results/{name}.md", "w") as f:
        f.write(markdown + "\n")
    print(markdown)


@contextlib.contextmanager
def served(work, port, **settings):
    """`aso-render serve` in embedded mode on `port` with its data under `work` (no workers),
    live before the body runs and stopped with SIGTERM after it."""
    env = dict(os.environ, DATA_DIR=f"{work}/data", API_PORT=str(port), WORKER_CONCURRENCY="0", LOG_LEVEL="WARNING", **settings)
    server = subprocess.Popen([ASO, "serve"], env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveness")
                break
            except OSError:
                time.sleep(0.1)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for(url, seconds=90):
    """Returns once `url` answers 2xx, or raises after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid):
    """User + system seconds of a process and its threads (/proc); None once it has exited."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def test_servers(directory, pg_port, redis_port, s3_port):
    """scripts/test-servers.sh in a directory and on ports of the suite's own, so a test run on
    the same machine is not disturbed; yields their servers.env as a dict, stops them after."""
    env = dict(os.environ, ASO_TEST_SERVERS=directory, ASO_TEST_PG_PORT=str(pg_port), ASO_TEST_REDIS_PORT=str(redis_port),
               ASO_TEST_S3_PORT=str(s3_port))
    subprocess.run(["scripts/test-servers.sh", "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        yield dict(line.split("=", 1) for line in open(f"{directory}/servers.env").read().split())
    finally:
        subprocess.run(["scripts/test-servers.sh", "stop"], env=env, check=False)


def create_database(servers, prefix):
    """A new, empty database on the test PostgreSQL; returns its name."""
    database = f"{prefix}_{uuid.uuid4().hex[:6]}"
    subprocess.run(["psql", "-h", servers["TEST_PG_HOST"], "-p", servers["TEST_PG_PORT"], "-U", servers["TEST_PG_USER"],
                    "-d", servers["TEST_PG_DATABASE"], "-q", "-c", f"CREATE DATABASE {database}"],
                   env=dict(os.environ, PGPASSWORD=servers["TEST_PG_PASSWORD"]), check=True)
    return database


def production_environment(servers, database, redis_db, **settings):
    """The environment of a production-mode process on the test servers, with its own bucket."""
    return dict(os.environ, ASO_MODE="production", ALLOW_ANONYMOUS="true", LOG_LEVEL="WARNING",
                DB_HOST=servers["TEST_PG_HOST"], DB_PORT=servers["TEST_PG_PORT"], DB_NAME=database,
                DB_USER=servers["TEST_PG_USER"], DB_PASSWORD=servers["TEST_PG_PASSWORD"],
                REDIS_HOST=servers["TEST_REDIS_HOST"], REDIS_PORT=servers["TEST_REDIS_PORT"], REDIS_DB=str(redis_db),
                REDIS_PASSWORD=servers["TEST_REDIS_PASSWORD"], MINIO_ENDPOINT=servers["TEST_S3_ENDPOINT"],
                MINIO_ACCESS_KEY=servers["TEST_S3_ACCESS_KEY"], MINIO_SECRET_KEY=servers["TEST_S3_SECRET_KEY"],
                MINIO_BUCKET=database.replace("_", "-"), **settings)
