# Two commands do everything on a fresh machine with only python3: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
# Most of the suite waits (on servers, browsers, an embargo clock): two workers halve the wall time on two
# cores. `make test WORKERS=0` runs it in one process.
WORKERS ?= 2

.PHONY: run test test-fast test-slow lint format bench demo clean lock

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start the daemon with the demo newsroom (seeded on first start): web on 127.0.0.1:8000, mail sink
## on 127.0.0.1:8025 writing var/mail; Ctrl-C stops both.
run: $(STAMP)
	$(BIN)/python -m newsroom_feed.demo

## The whole suite, slow end-to-end tests included (what CI runs).
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS)

## Everything but the slow end-to-end tests.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) -m "not slow"

## Only the slow end-to-end tests.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy --strict src

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python -m bench

## Re-pin every dependency to what installs today.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
