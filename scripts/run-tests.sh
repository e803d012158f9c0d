#!/usr/bin/env bash
# The README's test command (`make test`): every suite against real components.
#
# Each step runs under a timeout and the run goes on after a failure, so one broken suite does
# not hide the others; a table of every step (passed / failed / skipped tests, time) and a final
# `N passed, N failed` line close the run, and the exit status is non-zero if anything failed.
# Engine tests run in their own process: they render on the calling thread and would starve
# the service tests' servers, whose timing is checked. The production-stack faults run last of
# the Swift suites, alone: they restart the servers the other suites share.
set -uo pipefail
cd "$(dirname "$0")/.."
servers_dir=${ASO_TEST_SERVERS:-/tmp/aso-test-servers}
logs=$(mktemp -d /tmp/aso-test-logs.XXXXXX)
# Installed before anything is started, so an interrupted run leaves no server behind.
trap 'scripts/test-servers.sh stop >/dev/null 2>&1 || true' EXIT

rows=()
total_passed=0 total_failed=0 total_skipped=0 broken=""

# step NAME TIMEOUT_S KIND COMMAND…   (KIND: swift = Swift Testing counts, else one check)
step() {
    local name=$1 limit=$2 kind=$3
    shift 3
    local log="$logs/${name// /-}.log" started=$SECONDS rc passed=0 failed=0 skipped=0 note=""
    if [[ -n $broken ]]; then
        rows+=("$name|skipped|0|0|0|0|$broken")
        total_skipped=$((total_skipped + 1))
        return
    fi
    echo "=== $name (timeout ${limit}s)"
    timeout --kill-after=30 "$limit" "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [[ $kind == swift ]]; then
        passed=$(grep -aE '^✔ Test .* passed' "$log" | grep -vc 'Test run with') || true
        failed=$(grep -aE '^✘ Test .* failed after' "$log" | grep -vc 'Test run with') || true
        skipped=$(grep -acE '^[^ ]+ (Test|Suite) .* skipped' "$log") || true
        if ((rc == 0 && passed == 0)); then
            note="no test matched"
            rc=1
        fi
    elif ((rc == 0)); then
        passed=1
    else
        failed=1
    fi
    ((rc == 124 || rc == 137)) && note="timed out after ${limit}s"
    if ((rc != 0 && failed == 0)); then failed=1; fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
    total_skipped=$((total_skipped + skipped))
    rows+=("$name|$([[ $rc == 0 ]] && echo passed || echo FAILED)|$passed|$failed|$skipped|$((SECONDS - started))|$note")
}

# Steps later ones cannot do without: when one fails, the rest are reported as skipped.
required() {
    local before=${#rows[@]}
    step "$@"
    [[ ${rows[$before]} == *"|FAILED|"* ]] && broken="after '$1' failed"
    return 0
}

required "install" 1800 check scripts/install-deps.sh test
# Cheap, so first: every Swift file as swift-format writes it (.swift-format; fix with
# `swift format --in-place --parallel -r Sources Tests Package.swift`).
step "format" 300 check swift format lint --strict --parallel -r Sources Tests Package.swift
required "build" 3600 check swift build --build-tests
step "deploy files" 300 check scripts/check-deploy.py .build/debug/aso-render
required "test servers" 300 check scripts/test-servers.sh start
if [[ -f $servers_dir/servers.env ]]; then
    set -a
    . "$servers_dir/servers.env"
    set +a
fi
# Production cases must run: with this set they fail, not vanish, when a server is missing.
export ASO_REQUIRE_SERVERS=1
step "engine" 2400 swift swift test --skip-build --filter RenderEngineTests
step "service" 2400 swift swift test --skip-build --filter RenderServiceTests --skip ProductionStackTests --skip RenderOptionsThroughTheAPITests --skip ReliabilityTests
# Dozens of renders in a server process: apart from the suites whose timing is checked.
step "render options" 1500 swift swift test --skip-build --filter RenderOptionsThroughTheAPITests
# Alone, because it stops and restarts the shared PostgreSQL and Redis.
step "production stack" 1200 swift swift test --skip-build --filter ProductionStackTests
step "API fuzzing" 900 check scripts/fuzz-api.sh
step "API fuzzing, keys on" 900 check scripts/fuzz-api.sh --api-keys
# The studio page in headless chromium: upload, previews, slider, size, order, download.
step "studio in a browser" 1200 check scripts/browser/studio_test.py --binary .build/debug/aso-render
step "studio, keys on" 1200 check scripts/browser/studio_test.py --binary .build/debug/aso-render --api-keys
# The same page in production mode: two API replicas and a worker on the shared test servers,
# behind a round-robin proxy, so uploads, previews and the long-poll cross replicas; with API
# keys, as deployed (both replicas must derive the same owner from a key).
step "studio, production" 1200 check scripts/browser/studio_test.py --binary .build/debug/aso-render --production --api-keys \
    --servers-env "$servers_dir/servers.env"
# Hostile input, overload, shutdown, crashes, webhooks, rate limits, retention, secrets
# (docs/reliability.md; `scripts/reliability.py --write` regenerates it from these): the
# *ReliabilityTests suites start their own aso-render processes, one suite at a time so that
# their memory and latency figures are their own.
step "reliability" 2400 swift swift test --skip-build --no-parallel --filter ReliabilityTests
step "walkthrough" 2400 check scripts/walkthrough.sh
# The image built with podman around the release binary the walkthrough built, and run.
step "container image" 1200 check scripts/container-test.sh .build/release/aso-render "$servers_dir/servers.env"

echo
printf '%-22s %-8s %7s %7s %8s %8s  %s\n' step result passed failed skipped seconds note
for row in "${rows[@]}"; do
    IFS='|' read -r name result passed failed skipped seconds note <<<"$row"
    printf '%-22s %-8s %7s %7s %8s %8s  %s\n' "$name" "$result" "$passed" "$failed" "$skipped" "$seconds" "$note"
done
echo
echo "$total_passed passed, $total_failed failed, $total_skipped skipped (${SECONDS}s; logs in $logs)"
((total_failed == 0 && total_skipped == 0))
