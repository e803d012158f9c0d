# ASO Render — the README's commands.
#   make run    install what is missing, build, start the service on :8089 (embedded mode)
#   make test   install what is missing, run the whole test suite against real components
#   make bench  benchmarks beside the peer baselines measured in the same run

SWIFT ?= swift
RELEASE_BIN := .build/release/aso-render

.PHONY: run test bench build deps-run deps-test deps-bench clean

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

build: deps-run
	$(SWIFT) build -c release --product aso-render

run: build
	$(RELEASE_BIN) serve

# Engine tests render on the calling thread (the cooperative pool); run them in their own
# process so they cannot starve the service tests' servers, whose timing is checked.
test: deps-test
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter RenderEngineTests
	$(SWIFT) test --skip-build --filter RenderServiceTests
	scripts/walkthrough.sh

bench: deps-bench build
	bench/run.sh

clean:
	rm -rf .build
