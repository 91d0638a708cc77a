# Holdfast — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/holdfast.yaml

.PHONY: run test test-all test-fast lint bench bench-dialler bench-api bench-queue bench-scale asterisk venv clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,sim]'
	touch $(STAMP)

venv: $(STAMP)

# Builds (once, cached under ~/.cache/holdfast) a sandboxed Asterisk 22 unless a system one is present.
asterisk:
	bash scripts/asterisk-sandbox.sh

run: venv asterisk
	$(BIN)/holdfast dev-run --config $(CONFIG)

# PostgreSQL (if installed) backs the store's contract tests a second time; SQLite always runs.
# `test` leaves out tests marked slow (long fault-injection runs); `test-all` runs everything.
test: venv asterisk
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" $(BIN)/pytest -q -m "not slow"

test-all: venv asterisk
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" $(BIN)/pytest -q

# Core and shell tiers only: no Asterisk, no browser.
test-fast: venv
	$(BIN)/pytest -q tests/core tests/config tests/ari tests/telephony tests/web tests/store tests/sim

lint: venv
	$(BIN)/ruff check app tests bench
	$(BIN)/mypy app/core

bench: venv bench-dialler
	$(BIN)/python -m bench

# Outbound pacing policies side by side on the real core (20 seeds; ~15 min on 2 cores).
# Writes docs/bench-dialler.md and its plots. DIALLER_ARGS=--quick for a smaller run that prints only.
bench-dialler: venv
	$(BIN)/python -m bench.dialler $(DIALLER_ARGS)

# Callbacks/s over the HTTP API, group commit off and on, SQLite and (if installed) PostgreSQL;
# writes docs/bench-api.md.
bench-api: venv
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" $(BIN)/python -m bench api $(BENCH_API_ARGS)

# Holdfast vs Asterisk app_queue on the sandbox Asterisk (about 45 min; QUEUE_ARGS=--quick for a
# 3-minute smoke run). Writes docs/bench-queue.md, .png and .json.
bench-queue: venv asterisk
	$(BIN)/python -m bench.queue $(QUEUE_ARGS)

# Waiting callers ramped 100..500 with 50 agents on the sandbox Asterisk (about 6 min; SCALE_ARGS=--quick
# for a 2-minute smoke run that prints only). Writes docs/bench-scale.md, .png and .json.
bench-scale: venv asterisk
	$(BIN)/python -m bench.scale $(SCALE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
