# Every target creates and uses the project's virtualenv (.venv/): nothing to activate by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACK := $(BIN)/python scripts/localstack.py
# Services read their connection settings from the environment; the local stack writes them here.
WITH_ENV := set -a; [ -f .local/stack.env ] && . .local/stack.env; [ -f .env ] && . ./.env; set +a;

.PHONY: help venv up down clean status env migrate lint fmt typecheck test pytest test-stack bench run \
        validate-deploy deps dashboards

help:
	@echo "make run        the whole platform locally (Kafka, PostgreSQL, simulator, services)"
	@echo "make test       lint-free code, then every test against real Kafka and PostgreSQL"
	@echo "make up|down|clean|status   the local Kafka + PostgreSQL stack (.local/)"
	@echo "make lint|fmt|typecheck|bench|validate-deploy"

venv: $(STAMP)
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (found " + sys.version.split()[0] + ")")'
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

deps:
	@bash scripts/install-system-deps.sh

up: deps venv
	$(STACK) up

down:
	@if [ -x $(BIN)/python ]; then $(STACK) down; else python3 scripts/localstack.py down; fi

clean:
	@if [ -x $(BIN)/python ]; then $(STACK) clean; else python3 scripts/localstack.py clean; fi

status: venv
	$(STACK) status

env: venv
	@$(STACK) env

migrate: up
	$(WITH_ENV) $(BIN)/python -m migrations upgrade

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy collector oura_connection stream_processor gateway schemas migrations oura_simulator scripts

fmt: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv
	$(BIN)/mypy collector oura_connection stream_processor gateway schemas migrations oura_simulator scripts

# Everything: the deployment artifacts (tests/deploy runs there, with its tools), then pytest.
test: up validate-deploy
	$(WITH_ENV) $(BIN)/pytest --ignore=tests/deploy $(PYTEST_ARGS)

# Just pytest, for quick iterations (`make pytest PYTEST_ARGS=tests/schemas`).
pytest: up
	$(WITH_ENV) $(BIN)/pytest --ignore=tests/deploy $(PYTEST_ARGS)

# Stack lifecycle: `up` twice is harmless, `down` leaves no process, data survives down/up.
test-stack: up
	$(BIN)/python scripts/check_stack_lifecycle.py

bench: up
	$(WITH_ENV) $(BIN)/python benchmarks/run_all.py

run: up
	$(WITH_ENV) $(BIN)/python scripts/run_platform.py

# Regenerate the Grafana dashboards (helm/myhealth/dashboards/) from scripts/dashboards/.
dashboards: venv
	$(BIN)/python -m scripts.dashboards

validate-deploy: venv
	bash scripts/validate-deploy.sh
