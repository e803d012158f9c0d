#!/usr/bin/env python3
"""Runs the reliability checks against real aso-render processes and prints one table: each
fault or bad input, how often it was tried, what happened, and the data lost.
`--write docs/reliability.md` regenerates the document.

The checks are Swift tests (Tests/RenderServiceTests/Reliability, the suites named
*ReliabilityTests): each records its rows as JSON in $ASO_RELIABILITY_ROWS, named by section
and part, and this script orders them into the table. The sections not yet ported run from
scripts/reliability/checks.py. Exits non-zero when any check fails; the document is then left
as it was.

  scripts/reliability.py [--write PATH] [--servers-env PATH] [--load-seconds N] [--only NAME] [--python-only]
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
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "reliability"))

import checks  # noqa: E402
from harness import BINARY, ROOT  # noqa: E402

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
                        help="PostgreSQL/Redis/S3 of scripts/test-servers.sh, for the production-stack secrets check")
    parser.add_argument("--load-seconds", type=int, default=60)
    parser.add_argument("--only", help="run only the Python checks whose name contains this")
    parser.add_argument("--python-only", action="store_true", help="run only the sections not yet ported to Swift")
    options = parser.parse_args()
    if not os.path.exists(BINARY):
        sys.exit(f"reliability: build first ({BINARY} is missing)")

    # (section number as in ReliabilityGroup, name, check)
    suite = [
        (6, "overload", lambda work: checks.check_overload(work, seconds=options.load_seconds)),
        (7, "rate limit", checks.check_rate_limit),
        (11, "webhooks", checks.check_webhooks),
        (12, "secrets", lambda work: checks.check_secrets(work, options.servers_env)),
    ]
    rows, failed = [], []
    with tempfile.TemporaryDirectory(prefix="aso-reliability-") as work:
        if not options.python_only and not options.only:
            recorded = os.path.join(work, "rows")
            os.mkdir(recorded)
            print("reliability: Swift checks …", flush=True)
            swift = subprocess.run(["swift", "test", "--skip-build", "--no-parallel", "--filter", SWIFT_CHECKS], cwd=ROOT,
                                   env={**os.environ, "ASO_RELIABILITY_ROWS": recorded})
            if swift.returncode != 0:
                failed.append("Swift checks")
            for path in sorted(glob.glob(os.path.join(recorded, "*.json"))):
                section = int(os.path.basename(path).split("-")[0])
                with open(path) as f:
                    rows.extend((section, checks.Row(r["fault"], r["tries"], r["result"], r["lost"])) for r in json.load(f))
        for section, name, check in suite:
            if options.only and options.only not in name:
                continue
            started = time.time()
            print(f"reliability: {name} …", flush=True)
            try:
                rows.extend((section, row) for row in check(work))
                print(f"reliability: {name}: ok ({time.time() - started:.0f} s)", flush=True)
            except Exception as error:  # every failure is reported, then the run fails
                failed.append(name)
                rows.append((section, checks.Row(name, 1, f"FAILED: {error}", lost="see log", ok=False)))
                traceback.print_exc()
                for log in sorted(os.listdir(work)):
                    if log.endswith(".log"):
                        with open(os.path.join(work, log), errors="replace") as f:
                            tail = f.read()[-3000:]
                        print(f"--- {log} (tail)\n{tail}", file=sys.stderr)

    rows = [row for _, row in sorted(rows, key=lambda pair: pair[0])]
    table = render(rows)
    print(table)
    if failed:
        sys.exit(f"reliability: FAILED: {', '.join(failed)}")
    if options.write:
        with open(options.write, "w") as document:
            document.write(document_text(table))
        print(f"reliability: wrote {options.write}")
    print(f"reliability: ok — {len(rows)} rows, {sum(r.tries for r in rows)} tries, no data lost")


def render(rows):
    lines = ["| Fault or bad input | Tries | Result | Data lost |", "|---|---:|---|---|"]
    for row in rows:
        cells = [row.fault, str(row.tries), row.result, row.lost]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def document_text(table):
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    today = datetime.date.today().isoformat()
    cores = os.cpu_count()
    return f"""# Reliability

What ASO Render does when things go wrong, tried for real: every row below is recorded by a
check run against `aso-render` processes over real sockets (embedded mode; the secrets row runs
the production stack: PostgreSQL, Redis and SeaweedFS's S3) — the Swift suites in
`Tests/RenderServiceTests/Reliability` (`*ReliabilityTests`, tagged `reliability`), and
`scripts/reliability/checks.py` for the sections not yet ported. This file is generated —
`scripts/reliability.py --write docs/reliability.md` — and the same checks run in `make test`,
where any failure fails the build.

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
