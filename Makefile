# Holdfast — the two commands that matter: `make run` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONFIG ?= examples/holdfast.yaml

.PHONY: run test test-all test-fast lint bench bench-dialler bench-pacing-frontier bench-api bench-queue bench-scale bench-amd bench-failover bench-store asterisk browser venv clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,sim]'
	touch $(STAMP)

venv: $(STAMP)

# Builds (once, cached under ~/.cache/holdfast) a sandboxed Asterisk 22 unless a system one is present.
asterisk:
	bash scripts/asterisk-sandbox.sh

# Debian's Chromium for the live page's browser tests (Playwright is in the dev extra and uses it;
# its own browser download is not used). Installed when missing and we may; else the tests say so.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: /usr/bin/chromium is missing: sudo apt-get install chromium (browser tests skip, or fail under CI)"; fi; \
	fi

run: venv asterisk
	$(BIN)/holdfast dev-run --config $(CONFIG)

# PostgreSQL (if installed) backs the store's contract tests a second time; SQLite always runs.
# `test` leaves out tests marked slow (long fault-injection runs); `test-all` runs everything.
# `--durations` lists the slowest tests: `make test` must stay under 30 minutes on 2 cores.
# The tests without Asterisk or a browser run in two processes (pytest-xdist: 2 cores); then the
# real-Asterisk and browser tests one at a time: they share the sandbox Asterisk and assert audio
# timing, which a second busy process would disturb. Both tiers run whatever the first gave.
SHELL_TIER := --ignore=tests/e2e --ignore=tests/web/browser tests
REAL_TIER := tests/e2e tests/web/browser
test: venv asterisk browser
	@export HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)"; rc=0; \
	$(BIN)/pytest -q -n 2 -m "not slow" --durations=10 $(SHELL_TIER) || rc=1; \
	$(BIN)/pytest -q -m "not slow" --durations=25 $(REAL_TIER) || rc=1; \
	exit $$rc

test-all: venv asterisk browser
	@export HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)"; rc=0; \
	$(BIN)/pytest -q -n 2 $(SHELL_TIER) || rc=1; \
	$(BIN)/pytest -q $(REAL_TIER) || rc=1; \
	exit $$rc

# Core and shell tiers only: no Asterisk, no browser.
test-fast: venv
	$(BIN)/pytest -q -m "not web" tests/core tests/config tests/ari tests/telephony tests/web tests/store tests/sim

lint: venv
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/mypy app

# The dialler benchmark first (bench-dialler below, ~15 min), then the wait estimators on simulated
# sample paths. Writes docs/bench-dialler.md and docs/bench-wait-estimate.md.
bench: venv bench-dialler
	$(BIN)/python -m bench

# Outbound pacing policies side by side on the real core (20 seeds; ~15 min on 2 cores).
# Writes docs/bench-dialler.md and its plots. DIALLER_ARGS=--quick for a smaller run that prints only.
bench-dialler: venv
	$(BIN)/python -m bench.dialler $(DIALLER_ARGS)

# Issue 15's frontier: occupancy against abandonment with the pacing gain held, four risk rules and
# power mode's fixed ratios (~35 min on 2 cores). Writes docs/bench-pacing-frontier.md.
bench-pacing-frontier: venv
	$(BIN)/python -m bench.pacing_frontier $(FRONTIER_ARGS)

# Callbacks/s over the HTTP API, group commit off and on, SQLite and (if installed) PostgreSQL;
# writes docs/bench-api.md.
bench-api: venv
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" $(BIN)/python -m bench api $(BENCH_API_ARGS)

# Holdfast vs Asterisk app_queue on the sandbox Asterisk (about 45 min; QUEUE_ARGS=--quick for a
# 3-minute smoke run). Writes docs/bench-queue.md, .png and .json.
bench-queue: venv asterisk
	$(BIN)/python -m bench.queue $(QUEUE_ARGS)

# Waiting callers ramped 100..500 with 50 agents on the sandbox Asterisk, once with the service given
# the CPU first (as the README advises) and once scheduled as any other process (about 16 min;
# SCALE_ARGS=--quick for a 2-minute smoke run that prints only). Writes docs/bench-scale.md, .png, .json.
bench-scale: venv asterisk
	$(BIN)/python -m bench.scale --holdfast-nice -10 $(SCALE_ARGS)
	$(BIN)/python -m bench.scale --append $(SCALE_ARGS)

# AMD() on the shipped synthetic greetings (bench/amd/greetings/), the default tuning and three others,
# on the sandbox Asterisk (about 2 min). Writes docs/bench-amd.md and .json; AMD_ARGS=--print-only to
# only print.
bench-amd: venv asterisk
	$(BIN)/python -m bench.amd $(AMD_ARGS)

# Engine events per second with SQLite and PostgreSQL as the store (no Asterisk; about 1 min); writes
# docs/bench-store.md
bench-store: venv
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" $(BIN)/python -m bench store $(STORE_ARGS)

# Active/standby on PostgreSQL: kill -9 of the leader -> first dispatch by the standby, 20 trials on the
# sandbox Asterisk (about 8 min). Writes docs/failover.md and .json.
bench-failover: venv asterisk
	HOLDFAST_TEST_POSTGRES_DSN="$$(bash scripts/postgres-for-tests.sh)" HOLDFAST_BENCH_FAILOVER=1 \
		$(BIN)/pytest -q -s tests/e2e/test_standby_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
