# ASO Render — the README's commands.
#   make run    install what is missing, build, start the service on :8089 (embedded mode)
#   make test   install what is missing, run the whole test suite against real components
#   make bench  benchmarks beside the peer baselines measured in the same run
#   make blind  a blind style round for judges (docs/styles.md): BLIND_OUT=DIR, BLIND_SEED=N

SWIFT ?= swift
RELEASE_BIN := .build/release/aso-render

.PHONY: run test bench blind build deps-run deps-bench clean

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

BLIND_OUT ?= .build/blind/$(shell date -u +%Y%m%d-%H%M%S)
BLIND_SEED ?=

blind: deps-bench build
	scripts/blind-round.py make --binary $(RELEASE_BIN) --out $(BLIND_OUT) --peers --batch-size 40 --judges 2 $(if $(BLIND_SEED),--seed $(BLIND_SEED))

clean:
	rm -rf .build
