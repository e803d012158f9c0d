"""A real `aso-render` process over a real socket, and the small HTTP tools the checks share."""
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.environ.get("ASO_RENDER_BINARY", os.path.join(ROOT, ".build", "debug", "aso-render"))
WATERCOLOR = "550e8400-e29b-41d4-a716-446655440000"
PHOTO = "550e8400-e29b-41d4-a716-446655440008"
P9X12 = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def multipart(fields, files=(), boundary=None):
    """fields: [(name, str|bytes)]; files: [(name, filename, bytes)] → (content type, body)."""
    boundary = boundary or uuid.uuid4().hex
    out = bytearray()
    for name, value in fields:
        value = value.encode() if isinstance(value, str) else value
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
    for name, filename, data in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(out)


def render_form(photo, style=PHOTO, preset=P9X12, filename="photo.jpg", extra=()):
    return multipart([("style_id", style), ("size_preset_id", preset), *extra], [("file", filename, photo)])


class Server:
    """`aso-render serve` (or `worker`) with its own data directory, port and environment."""

    def __init__(self, work, name, env=None, command=("serve",)):
        self.work, self.name, self.command = work, name, list(command)
        self.data = os.path.join(work, f"{name}-data")
        self.port = free_port()
        self.env = {**os.environ, "API_HOST": "127.0.0.1", "API_PORT": str(self.port), "DATA_DIR": self.data,
                    "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}", "WORKER_CONCURRENCY": "1", **(env or {})}
        self.log_path = os.path.join(work, f"{name}.log")
        self.process = None

    def start(self, wait=True):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([BINARY, *self.command], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        if wait:
            self.wait_until_up()
        return self

    def wait_until_up(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log()[-2000:]}")
            try:
                if self.request("GET", "/health/liveness", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not come up")

    def request(self, method, path, headers=None, body=None, timeout=60):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Response(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def upload(self, photo, headers=None, timeout=60, **form):
        content_type, body = render_form(photo, **form)
        return self.request("POST", "/v1/renders", {"Content-Type": content_type, **(headers or {})}, body, timeout=timeout)

    def status(self, render_id, headers=None):
        return self.request("GET", f"/v1/renders/{render_id}", headers).json().get("status")

    def wait_for(self, render_id, statuses=("completed", "failed", "canceled"), timeout=300, headers=None):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status = self.status(render_id, headers)
            if status in statuses:
                return status
            time.sleep(0.2)
        return self.status(render_id, headers)

    def rss_mb(self, field="VmRSS"):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, number=signal.SIGTERM, timeout=120):
        if self.process and self.process.poll() is None:
            self.process.send_signal(number)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode if self.process else None

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def database(self):
        return sqlite3.connect(f"file:{self.data}/aso-render.sqlite?mode=ro", uri=True, timeout=10)

    def statuses(self):
        with self.database() as db:
            return dict(db.execute("SELECT status, COUNT(*) FROM renders GROUP BY status").fetchall())
