#!/usr/bin/env python3
"""Writes docs/reliability.md from the reliability checks: each fault or bad input, how often it
was tried, what happened, and the data lost.

The checks are Swift tests against real aso-render processes (Tests/RenderServiceTests/Reliability,
the suites named *ReliabilityTests, and the few tests elsewhere that already covered a row). Each
records its rows as JSON in $ASO_RELIABILITY_ROWS, one file per section and part; this script
runs them with that variable set and orders the rows into one table. It exits non-zero when any
check fails, and then leaves the document as it was.

  scripts/reliability.py [--write PATH] [--servers-env PATH] [--load-seconds N]

Needs a build (`swift build --build-tests`) and the test servers of scripts/test-servers.sh for
the production-stack section (their servers.env is read unless TEST_PG_HOST is already set).
"""
import argparse
import datetime
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The Swift tests that record rows (`swift test --filter` takes a regular expression): the
# reliability suites, and the tests elsewhere that already covered a section's rows.
SWIFT_CHECKS = "|".join([
    "ReliabilityTests",
    "AccessAndReliabilityAPITests/apiKeysGuardV1AndScopeRendersToTheirKey",
    "SecurityTests/everySpellingOfAProtectedRouteNeedsItsCredential",
    "CrashRecoveryTests/sigkillWhileRenderingThenRestartCompletesEveryRender",
])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", help="write the table as Markdown to this path")
    parser.add_argument("--servers-env", default=os.path.join(os.environ.get("ASO_TEST_SERVERS", "/tmp/aso-test-servers"), "servers.env"),
                        help="PostgreSQL/Redis/S3 of scripts/test-servers.sh, for the production-stack section")
    parser.add_argument("--load-seconds", type=int, default=60, help="how long the overload check loads the server")
    options = parser.parse_args()
    servers = {}
    if "TEST_PG_HOST" not in os.environ and os.path.exists(options.servers_env):
        with open(options.servers_env) as f:
            servers = dict(line.strip().split("=", 1) for line in f if "=" in line and not line.startswith("#"))
    with tempfile.TemporaryDirectory(prefix="aso-reliability-") as recorded:
        env = {**os.environ, **servers, "ASO_REQUIRE_SERVERS": "1", "ASO_RELIABILITY_ROWS": recorded,
               "ASO_RELIABILITY_LOAD_SECONDS": str(options.load_seconds)}
        checks = subprocess.run(["swift", "test", "--skip-build", "--no-parallel", "--filter", SWIFT_CHECKS], cwd=ROOT, env=env)
        rows = []
        for path in sorted(glob.glob(os.path.join(recorded, "*.json"))):
            with open(path) as f:
                rows.extend(json.load(f))
    table = render(rows)
    print(table)
    if checks.returncode != 0:
        sys.exit("reliability: FAILED (see the Swift test output above)")
    if options.write:
        with open(options.write, "w") as document:
            document.write(document_text(table))
        print(f"reliability: wrote {options.write}")
    print(f"reliability: ok — {len(rows)} rows, {sum(r['tries'] for r in rows)} tries, no data lost")


def render(rows):
    lines = ["| Fault or bad input | Tries | Result | Data lost |", "|---|---:|---|---|"]
    for row in rows:
        cells = [row["fault"], str(row["tries"]), row["result"], row["lost"]]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def document_text(table):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    today = datetime.date.today().isoformat()
    cores = os.cpu_count()
    return f"""# Reliability

What ASO Render does when things go wrong, tried for real: every row below is recorded by a
Swift test — the suites in `Tests/RenderServiceTests/Reliability` (`*ReliabilityTests`, tagged
`reliability`), run against `aso-render` processes over real sockets (embedded mode; the secrets
rows run the production stack: PostgreSQL, Redis and SeaweedFS's S3), and three tests that
already covered a row: the keys and metrics rows (`AccessAndReliabilityAPITests`, in process),
the embedded path variants (`SecurityTests`, over a socket) and SIGKILL (`CrashRecoveryTests`).
This file is generated — `scripts/reliability.py --write docs/reliability.md` — and the same
checks run in `make test`, where any failure fails the build.

Last generated {today} at commit `{commit}` on {platform.system()} with {cores} cores.

{table}
How to read it: *Tries* is how many times the fault was injected or the input sent; *Result* is
what every one of those tries produced; *Data lost* counts accepted renders, uploads or outputs
that went missing (a render that was accepted and never completed counts as lost).

Related checks elsewhere in `make test`: API fuzzing with schemathesis (`scripts/fuzz-api.sh`,
at least 500 generated requests, every response checked against `/v1/openapi.json`), the
production stack's faults (`ProductionStackTests`: PostgreSQL, Redis and S3 stopped or slowed
during renders, workers killed), and crash recovery of the embedded mode (`CrashRecoveryTests`).

Limits and behaviour behind the rows:

- Uploads: 50 MB (`413` as soon as the stream crosses it, or at once from `Content-Length`),
  100 megapixels (`MAX_INPUT_PIXELS`, read from the header before any pixel is decoded). The
  format is recognised from the bytes, never the file name, which is also never used as a path.
- An upload whose header reads but whose pixels are broken (truncated, corrupt compressed data)
  is refused at upload (`400 Corrupt image`) before anything is stored, by a walk of a JPEG's
  markers to its end-of-image, or a low-resolution decode of every pixel of other formats; a photo that still fails in a worker is `failed` at once, not retried.
- Overload: beyond `MAX_QUEUED_RENDERS` waiting renders, `POST /v1/renders` answers `503` with
  `Retry-After` (`OVERLOAD_RETRY_AFTER_SECONDS`); the body is read and discarded, never stored.
- Rate limits (`RATE_LIMIT_PER_HOUR`, off by default): past a limit every `/v1` request gets
  `429 {{"error": "Rate limit exceeded", "status": 429}}` with `Retry-After` before its body is
  read, and costs nothing; other clients have their own buckets (per API key, or per address,
  `X-Forwarded-For` believed only from `TRUSTED_PROXIES`).
- Shutdown: `SIGTERM` stops accepting connections, finishes requests in flight, lets renders
  finish for `SHUTDOWN_GRACE_SECONDS`, then stops them at their next checkpoint and hands them
  back to the queue; nothing is left `processing`.
- A request header over NIO's limit is refused by the HTTP parser with a bare `400` and the
  connection closed (there is no request yet to answer in JSON).
- Webhooks: deliveries are rows written with the render's terminal status and claimed under a
  lease, so a restart (SIGTERM or SIGKILL) between attempts loses none, and an attempt is made
  by one process only; a receiver that is down, slow or answers non-2xx is retried with
  backoff and full jitter (at least 1 s apart) until `WEBHOOK_RETRY_WINDOW`. The receiver in
  these rows (`scripts/webhooks/receiver.py`) verifies every signature in Python.
"""


if __name__ == "__main__":
    main()
