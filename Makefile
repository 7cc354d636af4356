# Two commands for a fresh machine: `make run` and `make test`. Both create .venv and install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint services clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

services:
	./scripts/services.sh

## Set up, migrate, and run API + worker + beat + Flower against the configured services.
run: $(STAMP) services
	$(BIN)/fba db upgrade
	$(BIN)/fba up

## Set up and run the whole suite: everything on RabbitMQ, then the broker tests again on Redis.
test: $(STAMP) services
	CELERY_BROKER=rabbitmq $(BIN)/pytest
	CELERY_BROKER=redis $(BIN)/pytest -m broker

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench
	$(BIN)/ruff format --check backend tests bench
	$(BIN)/mypy backend

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
