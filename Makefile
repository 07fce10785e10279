# Two commands do everything on a fresh machine:
#   make demo   sets up (venv, packages, Kafka jars), runs the pipeline end to end
#   make test   sets up the same way, then runs every test tier against a real broker
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOMEFEED := $(VENV)/bin/homefeed
PYTEST_ARGS ?=

.PHONY: setup demo test test-unit lint broker-start broker-stop clean

setup:
	@bash scripts/venv.sh
	@bash deploy/kafka/fetch.sh >/dev/null

demo: setup
	$(HOMEFEED) demo

test: setup
	@bash scripts/browser.sh
	$(PY) -m pytest -ra $(PYTEST_ARGS)

test-unit: setup
	$(PY) -m pytest -ra tests/unit tests/streams $(PYTEST_ARGS)

LINTED := streams ranker indexer bench deploy tests

lint: setup
	$(PY) -m ruff check $(LINTED)
	$(PY) -m ruff format --check $(LINTED)
	$(PY) -m mypy $(LINTED)
	$(VENV)/bin/lint-imports

broker-start: setup
	$(HOMEFEED) broker start

broker-stop: setup
	$(HOMEFEED) broker stop

clean:
	rm -rf var .pytest_cache
