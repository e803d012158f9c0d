# ASO Render — the README's commands.
#   make run    install what is missing, build, start the service on :8089 (embedded mode)
#   make test   install what is missing, run the whole test suite against real components
#   make bench  benchmarks beside the peer baselines measured in the same run

SWIFT ?= swift
RELEASE_BIN := .build/release/aso-render

.PHONY: run test bench build deps-run deps-bench clean

deps-run:
	@scripts/install-deps.sh run

deps-bench:
	@scripts/install-deps.sh bench

build: deps-run
	$(SWIFT) build -c release --product aso-render

run: build
	$(RELEASE_BIN) serve

test:
	scripts/run-tests.sh

bench: deps-bench build
	bench/run.sh

clean:
	rm -rf .build
