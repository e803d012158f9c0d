"""Shared helpers for the benchmark suites: run a command several times, take medians."""
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import urllib.request

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
