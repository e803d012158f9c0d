"""The production stack for the studio's browser test (`studio_test.py --production`).

Two `aso-render serve` replicas and one `aso-render worker` on the shared test servers
(PostgreSQL, Redis, S3 from `scripts/test-servers.sh`), in a database, Redis database and
bucket of their own that are removed afterwards, behind a round-robin reverse proxy: the page
talks to the proxy only, so consecutive requests of one page land on different replicas.

Routing: every request goes to the next replica in turn, except a long-poll (`GET
/v1/renders/{id}` with `Prefer: wait=…`) of a render ordered through this proxy, which goes to
the replica that did *not* take the order. So the wait that sees `completed` is always served by
a process that neither created the render nor rendered it (the worker did): it can only have
learnt of the change through the shared store.
"""
import datetime
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Redis databases of the other suites: 1 (Swift tests), 3 (ProductionStackTests), 5 (container
# test), 7 (reliability). The studio's is flushed before and after.
REDIS_DB = "9"
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
              "content-length"}
RENDER_PATH = re.compile(r"/v1/renders/([0-9a-f-]{36})")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RoundRobinProxy:
    """A reverse proxy in a thread: each request to the next upstream (see the module's note
    for long-polls), the whole exchange recorded for the test's assertions."""

    def __init__(self):
        self.upstreams = []  # (name, host, port)
        self.lock = threading.Lock()
        self.turn = 0
        self.exchanges = []
        self.ordered_by = {}  # render id -> index of the upstream that took the order
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *arguments):
                pass

            def do_GET(self):
                proxy.forward(self)

            do_HEAD = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self, upstreams):
        self.upstreams = upstreams
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def choose(self, method, path, headers):
        with self.lock:
            match = RENDER_PATH.fullmatch(path.split("?")[0])
            if method == "GET" and match and "wait=" in (headers.get("Prefer") or "") and match.group(1) in self.ordered_by:
                return (self.ordered_by[match.group(1)] + 1) % len(self.upstreams)
            index = self.turn % len(self.upstreams)
            self.turn += 1
            return index

    def forward(self, handler):
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            handler.send_error(501, "chunked request bodies are not proxied")
            return
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        index = self.choose(handler.command, handler.path, handler.headers)
        name, host, port = self.upstreams[index]
        exchange = {"upstream": name, "method": handler.command, "path": handler.path, "prefer": handler.headers.get("Prefer"),
                    "sent": time.time()}
        try:
            connection = http.client.HTTPConnection(host, port, timeout=120)
            connection.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            for header, value in handler.headers.items():
                if header.lower() not in HOP_BY_HOP:
                    connection.putheader(header, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            data = response.read()
            connection.close()
        except OSError as error:
            exchange.update(status=502, error=str(error), answered=time.time())
            with self.lock:
                self.exchanges.append(exchange)
            handler.send_error(502, f"upstream {name}: {error}")
            return
        exchange.update(status=response.status, answered=time.time(), preview_cache=response.getheader("Preview-Cache"),
                        preference_applied=response.getheader("Preference-Applied"))
        if (response.getheader("Content-Type") or "").startswith("application/json") and len(data) < 1 << 20:
            try:
                exchange["json"] = json.loads(data)
            except ValueError:
                pass
        with self.lock:
            self.exchanges.append(exchange)
            if handler.command == "POST" and handler.path.split("?")[0] == "/v1/renders" and response.status == 201:
                self.ordered_by[exchange["json"]["render_id"]] = index
        try:
            handler.send_response(response.status, response.reason)
            for header, value in response.getheaders():
                if header.lower() not in HOP_BY_HOP:
                    handler.send_header(header, value)
            if response.status not in (204, 304) and not 100 <= response.status < 200:
                handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD" and response.status not in (204, 304):
                handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page gave up on it (a preview superseded by a newer slider value)

    def recorded(self):
        with self.lock:
            return list(self.exchanges)


class Process:
    def __init__(self, binary, name, env, arguments, work):
        self.name = name
        self.log_path = f"{work}/{name}.log"
        self.popen = subprocess.Popen([binary, *arguments], env=env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT, cwd=ROOT)

    def log(self):
        with open(self.log_path) as file:
            return file.read()

    def stop(self):
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def wait_until_up(process, url, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.popen.poll() is not None:
            break
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.name} did not start: {process.log()[-3000:]}")


class ProductionStack:
    """`migrate`, two API replicas and a worker in production mode, behind the proxy."""

    def __init__(self, binary, work, servers_env, api_key):
        self.binary, self.work = binary, work
        self.test = dict(line.strip().split("=", 1) for line in open(servers_env) if "=" in line)
        suffix = os.urandom(4).hex()
        self.database, self.bucket = f"studio_{suffix}", f"studio-{suffix}"
        self.proxy = RoundRobinProxy()
        self.processes = []
        self.database_created = False
        test = self.test
        self.env = dict(
            os.environ, ASO_MODE="production", LOG_LEVEL="INFO", DB_HOST=test["TEST_PG_HOST"], DB_PORT=test["TEST_PG_PORT"],
            DB_NAME=self.database, DB_USER=test["TEST_PG_USER"], DB_PASSWORD=test["TEST_PG_PASSWORD"], REDIS_HOST=test["TEST_REDIS_HOST"],
            REDIS_PORT=test["TEST_REDIS_PORT"], REDIS_DB=REDIS_DB, REDIS_PASSWORD=test["TEST_REDIS_PASSWORD"],
            MINIO_ENDPOINT=test["TEST_S3_ENDPOINT"], MINIO_ACCESS_KEY=test["TEST_S3_ACCESS_KEY"], MINIO_SECRET_KEY=test["TEST_S3_SECRET_KEY"],
            MINIO_BUCKET=self.bucket, MIGRATIONS_DIR=os.path.join(ROOT, "db", "migrations"), PUBLIC_BASE_URL=self.proxy.base,
            API_HOST="127.0.0.1", URL_SIGNING_SECRET=os.urandom(24).hex())  # one secret for every replica, as deployed
        if api_key:
            self.env["API_KEYS"] = api_key
        else:
            self.env["ALLOW_ANONYMOUS"] = "true"

    def psql(self, sql):
        test = self.test
        subprocess.run(["psql", "-h", test["TEST_PG_HOST"], "-p", test["TEST_PG_PORT"], "-U", test["TEST_PG_USER"], "-d", test["TEST_PG_DATABASE"],
                        "-v", "ON_ERROR_STOP=1", "-qc", sql], env=dict(os.environ, PGPASSWORD=test["TEST_PG_PASSWORD"]), check=True,
                       capture_output=True, timeout=60)

    def flush_redis(self):
        test = self.test
        subprocess.run(["redis-cli", "-h", test["TEST_REDIS_HOST"], "-p", test["TEST_REDIS_PORT"], "-n", REDIS_DB, "--no-auth-warning",
                        "-a", test["TEST_REDIS_PASSWORD"], "FLUSHDB"], check=True, capture_output=True, timeout=30)

    def start(self):
        """Returns the proxy's base URL, the page's only address."""
        self.psql(f"CREATE DATABASE {self.database}")
        self.database_created = True
        self.flush_redis()
        migrate = subprocess.run([self.binary, "migrate"], env=self.env, capture_output=True, text=True, timeout=120, cwd=ROOT)
        if migrate.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
        upstreams = []
        for name in ("api-a", "api-b"):
            port = free_port()
            process = Process(self.binary, name, dict(self.env, API_PORT=str(port), DATA_DIR=f"{self.work}/{name}"), ["serve"], self.work)
            self.processes.append(process)
            upstreams.append((name, "127.0.0.1", port))
        for process, (_, host, port) in zip(self.processes, upstreams):
            wait_until_up(process, f"http://{host}:{port}/health/readiness")
        worker_port = free_port()
        worker = Process(self.binary, "worker", dict(self.env, WORKER_COUNT="1", WORKER_METRICS_PORT=str(worker_port),
                                                     DATA_DIR=f"{self.work}/worker"), ["worker", "render-queue"], self.work)
        self.processes.append(worker)
        wait_until_up(worker, f"http://127.0.0.1:{worker_port}/health/liveness")
        self.proxy.start(upstreams)
        return self.proxy.base

    def stop(self):
        """Processes, proxy, database, Redis database and bucket: nothing is left behind."""
        for process in self.processes:
            process.stop()
        if self.proxy.thread.is_alive():
            self.proxy.stop()
        failures = []
        if self.database_created:
            try:
                self.psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            except subprocess.SubprocessError as error:
                failures.append(f"dropping {self.database}: {error}")
        try:
            self.flush_redis()
        except subprocess.SubprocessError as error:
            failures.append(f"flushing Redis database {REDIS_DB}: {error}")
        try:
            self.delete_bucket()
        except Exception as error:  # noqa: BLE001 — reported, the other clean-ups still ran
            failures.append(f"deleting bucket {self.bucket}: {error}")
        if failures:
            raise RuntimeError("clean-up failed: " + "; ".join(failures))

    def delete_bucket(self):
        import boto3
        from botocore.config import Config
        test = self.test
        s3 = boto3.client("s3", endpoint_url=test["TEST_S3_ENDPOINT"], aws_access_key_id=test["TEST_S3_ACCESS_KEY"],
                          aws_secret_access_key=test["TEST_S3_SECRET_KEY"], region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
            for page in pages:
                keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
            s3.delete_bucket(Bucket=self.bucket)
        except s3.exceptions.NoSuchBucket:
            pass

    def log(self):
        return "\n".join(process.log() for process in self.processes)

    def replicas(self):
        """What crossed replicas during the run, and the problems with it (empty: all good)."""
        exchanges = self.proxy.recorded()
        names = [name for name, _, _ in self.proxy.upstreams]
        counts = {name: sum(1 for e in exchanges if e["upstream"] == name) for name in names}
        found = []
        if min(counts.values()) < 5:
            found.append(f"replicas: a replica answered fewer than 5 requests: {counts}")
        failed = [f"{e['status']} {e['method']} {e['path']} via {e['upstream']}" for e in exchanges if e["status"] >= 400]
        found += [f"replicas: {failure}" for failure in failed]

        # The photo, uploaded through one replica, previewed (rendered, not cached) by the other.
        uploads = [e for e in exchanges if e["method"] == "POST" and e["path"] == "/v1/assets" and e["status"] == 201]
        cross_previews = 0
        for upload in uploads:
            asset = upload["json"]["asset_id"]
            cross_previews += sum(1 for e in exchanges if e["path"].startswith(f"/v1/assets/{asset}/styles/") and e["status"] == 200
                                  and e["upstream"] != upload["upstream"] and e["preview_cache"] == "miss")
        if not uploads or not cross_previews:
            found.append(f"replicas: no style preview was rendered by the replica that did not receive the upload ({len(uploads)} uploads)")

        # The render, ordered through one replica, seen `completed` by a long-poll on the other
        # that was already waiting when the worker recorded the completion, and answered soon after.
        finished = {}
        for line in self.processes[-1].log().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") == "Render completed" and "render_id" in entry:
                finished[entry["render_id"]] = datetime.datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
        orders = [e for e in exchanges if e["method"] == "POST" and e["path"] == "/v1/renders" and e["status"] == 201]
        crossed, lag = 0, None
        for order in orders:
            render = order["json"]["render_id"]
            waits = [e for e in exchanges if e["method"] == "GET" and e["path"] == f"/v1/renders/{render}" and e["prefer"] and e["status"] == 200]
            if any(e["upstream"] == order["upstream"] for e in waits):
                found.append(f"replicas: a long-poll on {render} went to the replica that took its order")
            done = [e for e in waits if e.get("json", {}).get("status") == "completed"]
            if not done or render not in finished:
                found.append(f"replicas: render {render} was never seen completed through a long-poll ({len(waits)} waits; "
                             f"worker logged its completion: {render in finished})")
                continue
            first = min(done, key=lambda e: e["answered"])
            if first["preference_applied"] != first["prefer"].replace(" ", ""):
                found.append(f"replicas: the long-poll's preference was not applied: {first['preference_applied']!r}")
            # The worker logs "Render completed" just after it commits the status (ms precision).
            lag = first["answered"] - finished[render]
            if first["sent"] >= finished[render]:
                found.append(f"replicas: the long-poll that saw {render} completed was sent after the worker completed it")
            elif lag > 5:
                found.append(f"replicas: the long-poll answered {lag:.2f} s after the render completed (expected within the 1 s re-read)")
            else:
                crossed += 1
        if not orders:
            found.append("replicas: no order went through the proxy")
        return {"requests_per_replica": counts, "previews_across_replicas": cross_previews, "renders_followed_across_replicas": crossed,
                "completed_seen_after_s": round(lag, 2) if lag is not None else None}, found
