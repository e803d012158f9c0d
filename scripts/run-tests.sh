#!/usr/bin/env bash
# The README's test command (`make test`): every suite against real components.
# Engine tests run in their own process: they render on the calling thread and would starve
# the service tests' servers, whose timing is checked. The production-stack faults run last,
# alone: they restart the servers the other suites share.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
swift build --build-tests
scripts/check-deploy.py .build/debug/aso-render
scripts/test-servers.sh start
trap 'scripts/test-servers.sh stop' EXIT
set -a
. "${ASO_TEST_SERVERS:-/tmp/aso-test-servers}/servers.env"
set +a
swift test --skip-build --filter RenderEngineTests
swift test --skip-build --filter RenderServiceTests --skip ProductionStackTests
# Alone, because it stops and restarts the shared PostgreSQL and Redis.
swift test --skip-build --filter ProductionStackTests
scripts/fuzz-api.sh
scripts/fuzz-api.sh --api-keys
# Hostile input, overload, shutdown, crashes, access control, retention, secrets (docs/reliability.md).
scripts/reliability.py --servers-env "${ASO_TEST_SERVERS:-/tmp/aso-test-servers}/servers.env"
scripts/walkthrough.sh
