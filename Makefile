# bidwatch — everything a fresh Debian machine needs, then the job.
#   make demo   set up, then sweep the example program against the local simulator
#   make test   set up, then lint (ruff, mypy, import contracts) and run the test suite
#   make bench  set up, then run the benchmarks (one JSON line each)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench browser tools clean

setup: $(STAMP) browser tools

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

# A Chromium for Playwright: its own, a system one, or Debian's (installed when root).
browser: $(STAMP)
	@sh scripts/ensure-browser.sh $(BIN)/python

# The tools the tests run beside Python: SpamAssassin scores the notices (Debian's, installed
# when root; otherwise you are told what to install and those tests skip).
tools:
	@sh scripts/ensure-tools.sh

demo: setup
	$(BIN)/bidwatch demo

# ruff, then the types (mypy over monitor/), then the layer contracts (import-linter,
# contracts in pyproject.toml)
lint: $(STAMP)
	$(BIN)/ruff check monitor tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/pytest -q --durations=10

# The fault tests (tests/test_faults_browser.py) with BIDWATCH_CHAOS=1: Chromium killed a dozen
# times at random points of as many sweeps as that takes, a fresh seed each run (printed;
# BIDWATCH_CHAOS_SEED=N replays one). `make test` runs the same tests with a few seeded kills.
.PHONY: chaos
chaos: setup
	BIDWATCH_CHAOS=1 $(BIN)/pytest -q -s -p no:cacheprovider tests/test_faults_browser.py

# WebSearcher (the reference parser the reader benchmark runs beside ours) lives in a
# virtualenv of its own: it brings selenium and friends that bidwatch does not need.
WS_VENV := .venv-websearcher

$(WS_VENV)/.installed:
	@test -d $(WS_VENV) || $(PYTHON) -m venv $(WS_VENV)
	$(WS_VENV)/bin/pip install --quiet WebSearcher
	@touch $@

bench: setup $(WS_VENV)/.installed
	$(BIN)/python -m tests.bench

clean:
	rm -rf var .pytest_cache .ruff_cache
