#!/usr/bin/env python3
"""A webhook receiver for tests: verifies each delivery's Standard Webhooks signature with
Python's hmac (and with the `standardwebhooks` reference package when it is installed), records
every request as one JSON line, and answers as told (fail the first attempts, be slow, …).

    receiver.py --secret whsec_… --log deliveries.jsonl [--port 0] [--port-file F]
                [--fail-first N] [--status CODE] [--delay SECONDS [--slow-first N]]

Each line: {"id", "timestamp", "attempt", "type", "render_id", "render_status", "hmac_valid",
"reference_valid" (null without the package), "answered", "received_at"}.
"""
import argparse
import base64
import hashlib
import hmac
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    from standardwebhooks.webhooks import Webhook
except ImportError:  # the reference is optional; hmac is always checked
    Webhook = None


def verify(secret: str, headers, body: bytes) -> bool:
    """Standard Webhooks, by hand: HMAC-SHA256 of "{id}.{timestamp}.{body}" under the
    base64-decoded part of the whsec_ secret; any of the space-separated v1 signatures may match;
    the timestamp must be within 5 minutes."""
    msg_id, stamp, signatures = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and stamp and signatures):
        return False
    if abs(time.time() - int(stamp)) > 300:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (part.partition(",") for part in signatures.split(" "))
    )


def main() -> None:
    # A test process may start this with SIGTERM blocked or ignored (for its own graceful
    # shutdown): take the default back so that stopping it works.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 500 to the first N requests of each webhook-id")
    parser.add_argument("--status", type=int, default=200, help="the answer once the failures are over")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--slow-first", type=int, default=0, help="wait --delay only for the first N requests of each webhook-id (0: always)")
    options = parser.parse_args()
    seen: dict[str, int] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            msg_id = self.headers.get("webhook-id") or ""
            with lock:
                seen[msg_id] = seen.get(msg_id, 0) + 1
                count = seen[msg_id]
            reference = None
            if Webhook is not None:
                try:
                    Webhook(options.secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
                    reference = True
                except Exception:
                    reference = False
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {}
            if options.delay and (options.slow_first == 0 or count <= options.slow_first):
                time.sleep(options.delay)
            answered = 500 if count <= options.fail_first else options.status
            record = {
                "id": msg_id, "timestamp": self.headers.get("webhook-timestamp"), "attempt": self.headers.get("webhook-attempt"),
                "type": payload.get("type"), "render_id": (payload.get("data") or {}).get("id"),
                "render_status": (payload.get("data") or {}).get("status"),
                "hmac_valid": verify(options.secret, self.headers, body), "reference_valid": reference,
                "answered": answered, "received_at": time.time(),
            }
            with lock, open(options.log, "a") as log:
                log.write(json.dumps(record) + "\n")
            self.send_response(answered)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", options.port), Handler)
    port = server.server_address[1]
    if options.port_file:
        with open(options.port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.replace(options.port_file + ".tmp", options.port_file)
    print(port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
