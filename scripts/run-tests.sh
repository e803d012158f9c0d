#!/usr/bin/env bash
# The README's test command (`make test`): every suite against real components.
# Engine tests run in their own process: they render on the calling thread and would starve
# the service tests' servers, whose timing is checked.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
swift build --build-tests
scripts/test-servers.sh start
trap 'scripts/test-servers.sh stop' EXIT
set -a
. "${ASO_TEST_SERVERS:-/tmp/aso-test-servers}/servers.env"
set +a
swift test --skip-build --filter RenderEngineTests
swift test --skip-build --filter RenderServiceTests
scripts/walkthrough.sh
