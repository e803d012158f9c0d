"""The faults and bad inputs of docs/reliability.md, each tried against real `aso-render`
processes over real sockets. Every check returns a row: what was tried, how many times, what
happened, and whether any data was lost; an `ok` of False fails the run."""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import corpus
from harness import BINARY, PHOTO, P9X12, ROOT, WATERCOLOR, Server, free_port, multipart

ELEPHANTS = "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"


class Row:
    def __init__(self, fault, tries, result, lost="none", ok=True):
        self.fault, self.tries, self.result, self.lost, self.ok = fault, tries, result, lost, ok


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


# MARK: raw requests


def raw_exchange(port, data, read_timeout=10):
    """Sends raw bytes, returns what the server answers before closing (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b'"status"' in answer:
                    break
        except OSError:
            pass
        return answer


def status_of(raw):
    try:
        return int(raw.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None


PROTECTED = ("GET /v1/size-presets", "GET /v1/styles", "POST /v1/renders", "GET /v1/renders/{id}", "GET /v1/renders/{id}/download",
             "GET /v1/renders/{id}/preview", "POST /v1/renders/{id}/cancel")


def path_variants(path):
    rest = path.lstrip("/")
    head, _, tail = rest.partition("/")
    spellings = [f"/{rest}", f"//{rest}", f"/./{rest}", f"/{rest}/", f"/{rest}//", f"///{rest}", f"/%2F{rest}", f"/{rest}%2F"]
    if tail:
        spellings += [f"/{head}//{tail}", f"/{head}%2F{tail}", f"/{head}/./{tail}", f"/{head}/%2e/{tail}"]
    return spellings


def raw_status(port, method, path, headers=()):
    """One request sent byte for byte (no client normalises the path), its status code."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close", "Content-Length: 0", *headers]
    return status_of(raw_exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode()))


def path_variant_attack(api, render_id, key, metrics_token, worker_port=None):
    """Every spelling of every protected route without its credential must be refused; with
    it, most spellings must reach the route (proof that they are real paths to the handler)."""
    tries, reached = 0, 0
    for route in PROTECTED:
        method, path = route.split(" ")
        for variant in path_variants(path.replace("{id}", render_id)):
            status = raw_status(api.port, method, variant)
            tries += 1
            expect(status == 401, f"{method} {variant} without a key: {status}")
            if raw_status(api.port, method, variant, [f"Authorization: Bearer {key}"]) not in (401, 404):
                reached += 1
    expect(reached >= 4 * len(PROTECTED), f"only {reached} spellings reached a route with the key")
    for port in [api.port] + ([worker_port] if worker_port else []):
        metrics = 0
        for variant in path_variants("/metrics"):
            # The worker port has no API keys: a spelling that matches no route is a plain 404
            # there. Every spelling that reaches the metrics with the token is 401 without it.
            with_token = raw_status(port, "GET", variant, [f"Authorization: Bearer {metrics_token}"])
            status = raw_status(port, "GET", variant)
            tries += 1
            expect(status == 401 if with_token == 200 else status in (401, 404), f"GET {variant} on port {port}: {status} without the token")
            metrics += with_token == 200
        expect(metrics >= 4, f"only {metrics} spellings of /metrics reached it on port {port}")
    return tries


# MARK: overload


def make_upload_photos(work):
    """Real photos of 5 to 20 MB (the Elephants wallpaper at several JPEG qualities)."""
    photos = []
    for quality, name in ((88, "q88"), (95, "q95"), (100, "q100")):
        path = os.path.join(work, f"elephants-{name}.jpg")
        subprocess.run(["vips", "copy", ELEPHANTS, f"{path}[Q={quality}]"], check=True)
        photos.append(corpus.read(path))
    photos.append(corpus.read(ELEPHANTS))
    return [p for p in photos if 5 * corpus.MB <= len(p) <= 21 * corpus.MB]


def check_overload(work, seconds=60, uploaders=100, poll_rate=1000):
    limit = 20
    server = Server(work, "overload", {"MAX_QUEUED_RENDERS": str(limit), "OVERLOAD_RETRY_AFTER_SECONDS": "2",
                                       "WORKER_CONCURRENCY": "1", "LOG_LEVEL": "WARNING"}).start()
    photos = make_upload_photos(work)
    sizes = sorted(len(p) // corpus.MB for p in photos)
    # Polled throughout: renders made before the load starts (completed, so outside the bound).
    polled = [server.upload(corpus.read(corpus.DUNE)).json()["render_id"] for _ in range(4)]
    for render_id in polled:
        server.wait_for(render_id)
    deadline = time.time() + seconds
    lock = threading.Lock()
    accepted, upload_statuses, poll_statuses, failures, latencies = [], {}, {}, [], []

    def count(table, key):
        with lock:
            table[key] = table.get(key, 0) + 1

    def uploader(index):
        rng = random.Random(index)
        while time.time() < deadline:
            try:
                response = server.upload(rng.choice(photos), timeout=120)
            except Exception as error:  # counted; the run fails on any
                with lock:
                    failures.append(f"upload: {error!r}")
                time.sleep(0.5)
                continue
            count(upload_statuses, response.status)
            if response.status == 201:
                with lock:
                    accepted.append(response.json()["render_id"])
            elif response.status == 503:
                time.sleep(float(response.header("Retry-After") or 1))

    try:
        # Polling by curl (a C client leaves the cores to the server), 100 keep-alive connections
        # each paced with --rate, so slow answers under load do not lower the offered rate much.
        connections = 100
        per_poller = poll_rate // connections
        # Line-buffered, so a poller stopped behind the pace still reports what it did.
        pollers = [subprocess.Popen(
            ["stdbuf", "-oL", "curl", "-s", "--rate", f"{per_poller}/s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\n",
             f"http://127.0.0.1:{server.port}/v1/renders/{polled[index % len(polled)]}?poll=[1-{per_poller * seconds}]"],
            stdout=subprocess.PIPE, text=True) for index in range(connections)]
        threads = [threading.Thread(target=uploader, args=(i,)) for i in range(uploaders)]
        started = time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - started
        for poller in pollers:
            try:
                poller.wait(max(0.1, deadline + 2 - time.time()))
            except subprocess.TimeoutExpired:
                poller.terminate()  # behind the pace: what it did is counted
            output, _ = poller.communicate()
            for line in output.splitlines():
                fields = line.split()
                if len(fields) != 2:
                    continue  # the line being written when a poller behind the pace was stopped
                if fields[0] == "000":
                    failures.append("poll: no answer")
                    continue
                poll_statuses[int(fields[0])] = poll_statuses.get(int(fields[0]), 0) + 1
                latencies.append(float(fields[1]))
        peak = server.rss_mb("VmHWM")
        polls = sum(poll_statuses.values())
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
        # Every accepted render must exist and finish.
        drained = [server.wait_for(render_id, timeout=600) for render_id in accepted]
        lost = [r for r, s in zip(accepted, drained) if s != "completed"]
        recorded = sum(server.statuses().values())
        server_errors = {s: n for s, n in {**upload_statuses, **poll_statuses}.items() if s >= 500 and s != 503}
        expect(not server_errors, f"5xx besides 503: {server_errors}")
        expect(not failures, f"transport failures: {failures[:5]} ({len(failures)})")
        expect(upload_statuses.get(503, 0) > 0, "the queue bound was never reached")
        expect(not lost and recorded == len(accepted) + len(polled),
               f"{len(lost)} accepted renders did not complete; {recorded} recorded vs {len(accepted)} accepted + {len(polled)} polled")
        expect(server.request("GET", "/health").status == 200, "unhealthy after the load")
        result = (f"{sum(upload_statuses.values())} uploads ({sizes[0]}–{sizes[-1]} MB): {upload_statuses.get(201, 0)} × 201, "
                  f"{upload_statuses.get(503, 0)} × 503 + Retry-After; {polls} polls ({polls / elapsed:.0f}/s, p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms) all {'/'.join(str(s) for s in sorted(poll_statuses))}; no other status; every accepted render completed; "
                  f"peak RSS {peak:.0f} MB")
        return [Row(f"{uploaders} concurrent uploaders + polling at {poll_rate}/s for {seconds} s, queue bound {limit}", 1, result)]
    finally:
        server.stop()


# MARK: rate limits

RATE_LIMIT_BODY = b'{"error":"Rate limit exceeded","status":429}'


def check_rate_limit(work, hammer_threads=8, hammer_gets=300, hammer_uploads=60, others=5):
    """One client hammers GETs and uploads far past its limits while other clients go on as
    usual, all behind a trusted proxy (the clients are told apart by X-Forwarded-For). Every
    answer to the hammering client is checked: within its limits 200/201, then the spec's exact
    429 with Retry-After and the rate-limit headers; the others are never refused."""
    per_hour, uploads_per_hour = 100, 5
    server = Server(work, "rate-limit", {"RATE_LIMIT_PER_HOUR": str(per_hour), "RATE_LIMIT_UPLOADS_PER_HOUR": str(uploads_per_hour),
                                         "TRUSTED_PROXIES": "127.0.0.1", "LOG_LEVEL": "WARNING"}).start()
    photo = corpus.read(corpus.DUNE)
    content_type, upload_body = multipart([("style_id", PHOTO), ("size_preset_id", P9X12)], [("file", "photo.jpg", photo)])
    lock = threading.Lock()
    statuses, problems, refused_latencies, accepted = {}, [], [], []

    def exchange(connection, method, path, client, body=None):
        headers = {"X-Forwarded-For": f"203.0.113.9, {client}"}  # the left one is the client's own claim
        if body is not None:
            headers["Content-Type"] = content_type
        started = time.time()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data, time.time() - started

    def hammer(index):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        uploads = index < 2
        try:
            for _ in range(hammer_uploads // 2 if uploads else hammer_gets):
                try:
                    if uploads:
                        status, headers, data, took = exchange(connection, "POST", "/v1/renders", "198.51.100.66", upload_body)
                    else:
                        status, headers, data, took = exchange(connection, "GET", "/v1/size-presets", "198.51.100.66")
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        problems.append(f"transport: {error!r}")
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
                    continue
                kind = "upload" if uploads else "get"
                with lock:
                    statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
                    if not all(headers.get(h, "").isdigit() for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")):
                        problems.append(f"{status} without rate-limit headers: {headers}")
                    if status == 429:
                        refused_latencies.append(took)
                        if data != RATE_LIMIT_BODY or not headers.get("retry-after", "").isdigit() or int(headers["retry-after"]) < 1:
                            problems.append(f"429 answer: {data!r} Retry-After {headers.get('retry-after')!r}")
                    elif status == 201:
                        accepted.append(json.loads(data)["render_id"])
                    elif status != 200:
                        problems.append(f"{kind} answered {status}: {data[:200]!r}")
        finally:
            connection.close()

    def other(index):
        """An ordinary client: a few GETs and one upload, spread over the hammering."""
        client = f"198.51.100.{index + 1}"
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            made = 0
            for number in range(20):
                status, headers, data, _ = exchange(connection, "GET", "/v1/styles", client)
                made += 1
                remaining = headers.get("x-ratelimit-remaining")
                if status != 200 or remaining != str(per_hour - made):
                    with lock:
                        problems.append(f"other client {client}: {status}, remaining {remaining}")
                if number == 10:
                    status, headers, data, _ = exchange(connection, "POST", "/v1/renders", client, upload_body)
                    made += 1
                    with lock:
                        if status == 201:
                            accepted.append(json.loads(data)["render_id"])
                        else:
                            problems.append(f"other client {client} upload: {status}")
                time.sleep(0.05)
        finally:
            connection.close()

    try:
        rss_before = server.rss_mb()
        started = time.time()
        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(hammer_threads)]
        threads += [threading.Thread(target=other, args=(i,)) for i in range(others)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.time() - started
        expect(not problems, f"{len(problems)} problems: {problems[:5]}")
        passed = statuses.get(("get", 200), 0) + statuses.get(("upload", 201), 0)
        refused = statuses.get(("get", 429), 0) + statuses.get(("upload", 429), 0)
        # GCRA refills one request every 36 s (uploads one every 720 s) while the load runs.
        expect(per_hour <= passed <= per_hour + 1 + int(elapsed / (3600 / per_hour)), f"{passed} requests passed in {elapsed:.0f} s")
        expect(statuses.get(("upload", 201), 0) <= uploads_per_hour + 1 + int(elapsed / (3600 / uploads_per_hour)), f"uploads passed: {statuses}")
        expect(server.request("GET", "/health").status == 200, "unhealthy after the hammering")
        drained = [server.wait_for(render_id, timeout=600) for render_id in accepted]
        expect(all(status == "completed" for status in drained), f"accepted renders: {drained}")
        expect(sum(server.statuses().values()) == len(accepted), f"renders recorded {server.statuses()} vs accepted {len(accepted)}")
        expect('"level":"ERROR"' not in server.log(), "the server logged an error")
        refused_latencies.sort()
        p50, p99 = refused_latencies[len(refused_latencies) // 2], refused_latencies[int(len(refused_latencies) * 0.99)]
        tries = passed + refused
        return [Row(f"a client hammering past the rate limit ({per_hour}/h, uploads {uploads_per_hour}/h): {hammer_threads} keep-alive connections, "
                    f"{tries} requests ({statuses.get(('upload', 201), 0) + statuses.get(('upload', 429), 0)} of them uploads) in {elapsed:.0f} s",
                    tries,
                    f"{statuses.get(('get', 200), 0)} × 200 and {statuses.get(('upload', 201), 0)} × 201 within its limits, then {refused} × 429 "
                    f"with exactly the spec's body, Retry-After and X-RateLimit-* (p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms); "
                    f"refused uploads never stored; healthy, no error logged; RSS {rss_before:.0f} → {server.rss_mb():.0f} MB"),
                Row(f"{others} other clients behind the same proxy during the hammering (X-Forwarded-For, a spoofed left-hand entry)",
                    others * 21, "every request answered 200/201, none refused; each client counted in its own bucket (X-RateLimit-Remaining "
                    f"{per_hour - 1} down to {per_hour - 21})")]
    finally:
        server.stop()


# MARK: webhooks

WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """scripts/webhooks/receiver.py: checks every signature in Python and logs every request."""

    def __init__(self, work, name, *arguments):
        self.log_path = os.path.join(work, f"{name}-deliveries.jsonl")
        port_file = os.path.join(work, f"{name}.port")
        self.process = subprocess.Popen(
            ["python3", os.path.join(ROOT, "scripts/webhooks/receiver.py"), "--secret", WEBHOOK_SECRET, "--log", self.log_path,
             "--port-file", port_file, *arguments], stdout=subprocess.DEVNULL)
        deadline = time.time() + 10
        while not os.path.exists(port_file):
            expect(time.time() < deadline, "the webhook receiver did not start")
            time.sleep(0.05)
        with open(port_file) as f:
            self.url = f"http://127.0.0.1:{f.read().strip()}/hooks"

    def requests(self):
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as log:
            return [json.loads(line) for line in log if line.strip()]

    def stop(self):
        self.process.terminate()
        self.process.wait()


def webhook_server(work, name, **env):
    return Server(work, name, {"WEBHOOK_SECRET": WEBHOOK_SECRET, "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_BASE_SECONDS": "1",
                               **env})


def deliveries(server):
    with server.database() as db:
        return db.execute("SELECT render_id, status, attempts, last_error FROM webhook_deliveries ORDER BY created_at").fetchall()


def wait_for_deliveries(server, count, statuses, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = deliveries(server)
        if len(found) == count and all(row[1] in statuses for row in found):
            return found
        time.sleep(0.3)
    raise AssertionError(f"deliveries not {statuses}: {deliveries(server)}")


def expect_each_attempt_once(requests):
    pairs = [(r["id"], r["attempt"]) for r in requests]
    expect(len(pairs) == len(set(pairs)), f"an attempt was delivered twice: {pairs}")
    expect(all(r["hmac_valid"] and r["reference_valid"] is not False for r in requests), "a signature did not verify")


def check_webhooks(work):
    rows = []
    photo = corpus.read(corpus.DUNE)
    # A dead endpoint: nothing listens (each attempt fails at the 2 s timeout); retried with
    # backoff until the (shortened) window closes.
    dead_url = f"http://127.0.0.1:{free_port()}/hooks"
    server = webhook_server(work, "webhook-dead", WEBHOOK_RETRY_WINDOW="12s", WEBHOOK_TIMEOUT_SECONDS="2").start()
    try:
        ids = [server.upload(photo, extra=[("webhook_url", dead_url)]).json()["render_id"] for _ in range(3)]
        expect([server.wait_for(i) for i in ids] == ["completed"] * 3, "renders did not complete")
        found = wait_for_deliveries(server, 3, ("failed",), timeout=60)
        attempts = sum(row[2] for row in found)
        expect(all(row[2] >= 2 for row in found), f"not retried: {found}")
        metrics = server.request("GET", "/metrics").body.decode()
        expect('webhook_deliveries_total{outcome="failed"} 3' in metrics, "failed deliveries not counted")
        rows.append(Row("webhooks to a dead endpoint (connection refused; timeout 2 s, retry window shortened to 12 s)", 3,
                        f"{attempts} attempts with backoff, then each delivery marked failed and counted; renders completed"))
    finally:
        server.stop()

    # A slow endpoint: the first attempt outlasts the 2 s timeout, the retry is answered.
    receiver = Receiver(work, "webhook-slow", "--delay", "4", "--slow-first", "1")
    server = webhook_server(work, "webhook-slow", WEBHOOK_TIMEOUT_SECONDS="2").start()
    try:
        ids = [server.upload(photo, extra=[("webhook_url", receiver.url)]).json()["render_id"] for _ in range(3)]
        started = time.time()
        expect(server.request("GET", "/health/liveness", timeout=5).status == 200, "API not answering")
        wait_for_deliveries(server, 3, ("delivered",))
        elapsed = time.time() - started
        time.sleep(4.5)  # the receiver logs a slow request once it has slept through it
        requests = receiver.requests()
        expect_each_attempt_once(requests)
        expect(sorted({r["render_id"] for r in requests}) == sorted(ids), "a render's webhook is missing")
        expect(sorted(r["render_id"] for r in requests if r["attempt"] == "2") == sorted(ids), f"retries: {requests}")
        rows.append(Row("webhook receiver slower than WEBHOOK_TIMEOUT_SECONDS (4 s on the first attempt, timeout 2 s)", 3,
                        f"first attempts timed out and were retried, all delivered ({len(requests)} requests, "
                        f"signatures verified in Python) within {elapsed:.0f} s; no attempt sent twice"))
    finally:
        server.stop()
        receiver.stop()

    # A restart between an attempt that failed and its retry: SIGTERM, then SIGKILL.
    for number, label in ((signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL")):
        receiver = Receiver(work, f"webhook-restart-{label}", "--fail-first", "1")
        server = webhook_server(work, f"webhook-restart-{label}", WEBHOOK_RETRY_BASE_SECONDS="4").start()
        try:
            ids = [server.upload(photo, extra=[("webhook_url", receiver.url)]).json()["render_id"] for _ in range(2)]
            expect([server.wait_for(i) for i in ids] == ["completed"] * 2, "renders did not complete")
            deadline = time.time() + 30
            while len(receiver.requests()) < 2:
                expect(time.time() < deadline, "first attempts not seen")
                time.sleep(0.1)
            server.stop(number)
            server.start()
            wait_for_deliveries(server, 2, ("delivered",))
            time.sleep(2)
            requests = receiver.requests()
            expect_each_attempt_once(requests)
            delivered = [r["render_id"] for r in requests if r["answered"] == 200]
            expect(sorted(delivered) == sorted(ids), f"delivered: {delivered}")
            rows.append(Row(f"{label} and restart while 2 webhooks wait for their retry (first attempts got 500)", 2,
                            "both delivered once after the restart (same webhook-id, attempt 2); no attempt sent twice"))
        finally:
            server.stop()
            receiver.stop()
    return rows


# MARK: secrets


def check_secrets(work, servers_env):
    """The production stack with distinctive secrets: a full walkthrough with API keys, the
    usual errors, both processes' metrics, `aso-render config` and a failed start with a wrong
    password. No secret may appear in any log line, body, header, metric or output."""
    test = dict(line.strip().split("=", 1) for line in open(servers_env) if "=" in line)
    name = f"secrets_{random.randrange(16 ** 8):08x}"
    subprocess.run(["psql", "-h", test["TEST_PG_HOST"], "-p", test["TEST_PG_PORT"], "-U", test["TEST_PG_USER"], "-d", test["TEST_PG_DATABASE"],
                    "-qc", f"CREATE DATABASE {name}"], env={**os.environ, "PGPASSWORD": test["TEST_PG_PASSWORD"]}, check=True)
    api_key, other_key = "apikey-secret-5f0c2a9d7e13b4c6", "apikey-secret-other-8d1e77aa02"
    secrets = {
        "DB_PASSWORD": test["TEST_PG_PASSWORD"], "REDIS_PASSWORD": test["TEST_REDIS_PASSWORD"],
        "MINIO_SECRET_KEY": test["TEST_S3_SECRET_KEY"], "API_KEYS": api_key, "other API key": other_key,
        "METRICS_TOKEN": "metrics-secret-71c0d2", "URL_SIGNING_SECRET": "signing-secret-3e9b5a-0123456789abcdefghij",
    }
    worker_port = free_port()
    env = {
        "ASO_MODE": "production", "LOG_LEVEL": "DEBUG", "DB_HOST": test["TEST_PG_HOST"], "DB_PORT": test["TEST_PG_PORT"], "DB_NAME": name,
        "DB_USER": test["TEST_PG_USER"], "DB_PASSWORD": secrets["DB_PASSWORD"], "REDIS_HOST": test["TEST_REDIS_HOST"],
        "REDIS_PORT": test["TEST_REDIS_PORT"], "REDIS_DB": "7", "REDIS_PASSWORD": secrets["REDIS_PASSWORD"],
        "MINIO_ENDPOINT": test["TEST_S3_ENDPOINT"], "MINIO_ACCESS_KEY": test["TEST_S3_ACCESS_KEY"], "MINIO_SECRET_KEY": secrets["MINIO_SECRET_KEY"],
        "MINIO_BUCKET": f"secrets-{name[-8:]}", "API_KEYS": f"{api_key},{other_key}", "METRICS_TOKEN": secrets["METRICS_TOKEN"],
        "MIGRATIONS_DIR": os.path.join(ROOT, "db", "migrations"),
        "URL_SIGNING_SECRET": secrets["URL_SIGNING_SECRET"], "WORKER_METRICS_PORT": str(worker_port), "WORKER_COUNT": "1",
    }
    seen = []  # every text the service produced

    def run(*arguments, extra=None):
        result = subprocess.run([BINARY, *arguments], env={**os.environ, **env, **(extra or {})}, capture_output=True, text=True, timeout=120)
        seen.append(result.stdout + result.stderr)
        return result

    expect(run("migrate").returncode == 0, "migrate failed")
    api = Server(work, "secrets-api", env).start()
    worker = Server(work, "secrets-worker", env, command=("worker", "render-queue"))
    worker.port = worker_port
    worker.start()
    exchanges = 0
    try:
        auth = {"Authorization": f"Bearer {api_key}"}

        def call(method, path, headers=None, body=None, server=api):
            nonlocal exchanges
            response = server.request(method, path, headers, body)
            seen.append(json.dumps(response.headers) + response.body.decode("latin-1"))
            exchanges += 1
            return response

        photo = corpus.read(corpus.DUNE)
        call("GET", "/v1/size-presets", auth)
        call("GET", "/v1/styles", auth)
        content_type, body = multipart([("style_id", WATERCOLOR), ("size_preset_id", P9X12)], [("file", "my-photo.jpg", photo)])
        created = call("POST", "/v1/renders", {**auth, "Content-Type": content_type, "Idempotency-Key": "walkthrough-1"}, body)
        expect(created.status == 201, f"upload: {created.status} {created.body[:200]}")
        render_id = created.json()["render_id"]
        expect(call("GET", f"/v1/renders/{render_id}/download", auth).status == 409, "download before completion")
        deadline = time.time() + 300
        while call("GET", f"/v1/renders/{render_id}", auth).json()["status"] not in ("completed", "failed") and time.time() < deadline:
            time.sleep(0.5)
        expect(call("GET", f"/v1/renders/{render_id}", auth).json()["status"] == "completed", "render did not complete")
        for route in ("download", "preview"):
            url = call("GET", f"/v1/renders/{render_id}/{route}", auth).json()["url"]
            parsed = urllib.parse.urlsplit(url)
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
            connection.request("GET", f"{parsed.path}?{parsed.query}")
            file_response = connection.getresponse()
            expect(file_response.status == 200 and len(file_response.read()) > 10000, f"{route} file: {file_response.status}")
            connection.close()
            seen.append(url)
        # The errors a client meets, with and without keys.
        call("GET", "/v1/size-presets")
        call("GET", "/v1/size-presets", {"Authorization": f"Bearer {api_key}x"})
        call("GET", "/v1/renders/not-a-uuid", auth)
        call("GET", "/v1/renders/00000000-0000-4000-8000-000000000000", auth)
        call("GET", f"/v1/renders/{render_id}", {"Authorization": f"Bearer {other_key}"})
        call("POST", "/v1/renders", {**auth, "Content-Type": content_type, "Idempotency-Key": "walkthrough-1"}, body.replace(b"my-photo", b"other"))
        call("DELETE", "/v1/size-presets", auth)
        call("GET", "/metrics")
        call("GET", "/metrics", {"Authorization": f"Bearer {secrets['METRICS_TOKEN']}"})
        call("GET", "/metrics", {"Authorization": f"Bearer {secrets['METRICS_TOKEN']}"}, server=worker)
        call("GET", "/health", server=worker)
        call("GET", "/health")
        variants = path_variant_attack(api, render_id, api_key, secrets["METRICS_TOKEN"], worker_port=worker_port)
        expect(run("config").returncode == 0, "config failed")
        # A start that fails: the wrong password must not be echoed either.
        wrong = "wrong-db-secret-a41f99"
        secrets["wrong DB_PASSWORD"] = wrong
        failed = run("migrate", extra={"DB_PASSWORD": wrong})
        expect(failed.returncode != 0, "migrate with a wrong password succeeded")
    finally:
        api.stop()
        worker.stop()
    seen.append(api.log())
    seen.append(worker.log())
    text = "\n".join(seen)
    lines = text.count("\n")
    leaks = [label for label, secret in secrets.items() if secret in text]
    expect(not leaks, f"secrets found in the output: {leaks}")
    return [Row("path variants × every protected route, /metrics on the API and the worker port, production mode", variants,
                "401 for every spelling without the credential"),
            Row("production walkthrough with distinctive DB, Redis, S3, API-key, metrics and signing secrets", 1,
                f"{exchanges} responses, {lines} lines of logs and command output (DEBUG), `aso-render config`, a failed migrate "
                f"with a wrong password: no secret in any of them")]
