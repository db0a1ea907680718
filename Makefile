# gridflow: the two commands are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | sha1sum | cut -c1-12)
RUN_DIR ?= $(CURDIR)/.run
export GRIDFLOW_RUN_DIR := $(RUN_DIR)
# The ports follow GRIDFLOW_KAFKA_PORT / GRIDFLOW_PG_PORT when they are set.
KAFKA_PORT ?= $(or $(GRIDFLOW_KAFKA_PORT),9092)
PG_PORT ?= $(or $(GRIDFLOW_PG_PORT),55432)
# The SASL/SCRAM + ACL broker (deploy/kafka/start.sh --sasl), beside the open one.
KAFKA_SASL_PORT ?= $(or $(GRIDFLOW_KAFKA_SASL_PORT),9094)
SERVERS_ENV := GRIDFLOW_KAFKA_BOOTSTRAP=127.0.0.1:$(KAFKA_PORT) \
	GRIDFLOW_KAFKA_SASL_BOOTSTRAP=127.0.0.1:$(KAFKA_SASL_PORT) \
	GRIDFLOW_DATABASE_URL=postgresql+psycopg2://gridflow:gridflow@127.0.0.1:$(PG_PORT)/gridflow

# The official AsyncAPI 3.0.0 JSON Schema, which tests/unit/schemas/test_asyncapi.py
# validates schemas/json/asyncapi.json against: from the npm package @asyncapi/specs,
# pinned by version and by the file's SHA-256, kept in the venv (not in the repository).
ASYNCAPI_SPECS := 6.11.1
ASYNCAPI_SHA256 := abe96881dbfaad495ccbb6bd8d3fb43ca18a13b9d7564849ccb66f39d5e5b20f
ASYNCAPI_SCHEMA := $(VENV)/share/asyncapi/3.0.0.schema.json

.PHONY: install bench demo test test-unit test-integration lint servers kafka kafka-sasl postgres stop schemas clean tools

install: $(STAMP) $(ASYNCAPI_SCHEMA)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $@

$(ASYNCAPI_SCHEMA):
	mkdir -p $(@D)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  (cd "$$tmp" && npm pack --silent @asyncapi/specs@$(ASYNCAPI_SPECS) >/dev/null) && \
	  tar -xzf "$$tmp"/asyncapi-specs-$(ASYNCAPI_SPECS).tgz -C "$$tmp" 'package/schemas/3.0.0-without-$$id.json' && \
	  echo "$(ASYNCAPI_SHA256)  $$tmp/package/schemas/3.0.0-without-\$$id.json" | sha256sum --check --quiet && \
	  cp "$$tmp/package/schemas/3.0.0-without-\$$id.json" $@

demo: install
	$(BIN)/gridflow demo

# Throughput and latency on the real servers; writes bench/results/<date>.json and .png,
# then the deadline store at 10 million rows and the timer (bench/results/<date>-deadlines.json).
bench: install servers
	$(BIN)/pip install --quiet -c constraints.txt -e '.[bench]'
	$(SERVERS_ENV) $(BIN)/python bench/run.py
	$(SERVERS_ENV) $(BIN)/python bench/deadlines.py
	$(SERVERS_ENV) $(BIN)/python bench/notify.py
	$(BIN)/python bench/routing.py
	$(SERVERS_ENV) $(BIN)/python bench/open311.py
	$(SERVERS_ENV) $(BIN)/python bench/archive.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-unit: install
	$(BIN)/pytest tests/unit -q

kafka:
	GRIDFLOW_KAFKA_PORT=$(KAFKA_PORT) deploy/kafka/start.sh

kafka-sasl:
	GRIDFLOW_KAFKA_SASL_PORT=$(KAFKA_SASL_PORT) deploy/kafka/start.sh --sasl

postgres:
	GRIDFLOW_PG_PORT=$(PG_PORT) deploy/postgres/start.sh

servers: kafka kafka-sasl postgres

# promtool (Debian's prometheus package) and chromium for the operations tests, when absent.
tools:
	deploy/tools/ensure.sh

test-integration: install servers tools
	$(SERVERS_ENV) $(BIN)/pytest tests/integration tests/e2e -q || \
		{ echo "failed:"; cat .pytest_cache/v/cache/lastfailed; echo; exit 1; }

# Fast tests first, then the real servers and the tests that need them.
test: lint test-unit test-integration

stop:
	-deploy/kafka/stop.sh
	-deploy/kafka/stop.sh --sasl
	-deploy/postgres/stop.sh

schemas: install
	$(BIN)/gridflow schemas

clean: stop
	rm -rf $(VENV) $(RUN_DIR) .pytest_cache .ruff_cache
