# Holdout: every target sets itself up from nothing (python3 is the only prerequisite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HOLDOUT_HOME ?= $(CURDIR)/.holdout
export AIRFLOW__COSMOS__ENABLE_TELEMETRY ?= False
export DO_NOT_TRACK ?= 1
export MPLBACKEND ?= Agg

.PHONY: help install install-dev compose-tool browser-tool java-tool demo test lint format benchmark airflow mlflow clean

help:
	@echo "make demo       set up, generate the default retailer, build, train, launch, simulate, close"
	@echo "make test       set up with dev extras and run the whole test suite"
	@echo "make airflow    start Airflow (standalone) on the project's DAGs"
	@echo "make mlflow     start the MLflow UI on the project's tracking store"
	@echo "make benchmark  1M-customer benchmark (see BENCHMARKS.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==0.13.9'

# Installs are pinned by the lock files and re-run only when a lock or pyproject changes. The bytecode is compiled
# once here: where PYTHONDONTWRITEBYTECODE is set (as on CI machines) every `holdout` and dbt process would
# otherwise compile dbt, pandas and the rest again on start (about 1 s each, 3-4 s of a small daily build).
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python --quiet
$(VENV)/.installed: requirements.lock pyproject.toml Makefile | $(BIN)/uv
	$(UV_INSTALL) --compile-bytecode -r requirements.lock
	$(UV_INSTALL) --no-deps -e .
	$(BIN)/python -m compileall -q holdout ml dags
	touch $@

$(VENV)/.installed-dev: requirements-dev.lock pyproject.toml Makefile | $(BIN)/uv
	$(UV_INSTALL) --compile-bytecode -r requirements-dev.lock
	$(UV_INSTALL) --no-deps -e .
	$(BIN)/python -m compileall -q holdout ml dags
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Debian's docker-compose validates docker-compose.yml in the tests (no Docker engine is needed for that).
compose-tool:
	@command -v docker-compose >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq docker-compose >/dev/null 2>&1) || echo "docker-compose not installed: compose validation falls back to the schema checks"; }

# Debian's Chromium opens the HTML reports in the tests (no external requests, every chart renders).
browser-tool:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq chromium >/dev/null 2>&1) || echo "chromium not installed (not root or apt failed): the browser checks of the reports will skip"; }

# Java 17 runs the local Spark of the dbt `spark` target (tests/test_spark.py; README "Running on Spark").
java-tool:
	@command -v java >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get update -qq >/dev/null 2>&1; apt-get install -y -qq openjdk-17-jre-headless >/dev/null 2>&1) || echo "java not installed (not root or apt failed): the Spark build checks (tests/test_spark.py) will skip"; }

demo: install
	$(BIN)/holdout demo

# Two workers, one test file each at a time (module fixtures are built once), in collection order: conftest.py puts
# the longest files first (xdist would otherwise start the files with most tests first, the one-test e2e file last).
TEST_WORKERS ?= 2
test: install-dev compose-tool browser-tool java-tool
	$(BIN)/python -m pytest -q --timeout=1200 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

benchmark: install
	$(BIN)/python benchmarks/bench_build.py

airflow: install
	$(BIN)/holdout airflow

mlflow: install
	$(BIN)/holdout mlflow-ui

clean:
	rm -rf $(HOLDOUT_HOME) dbt_project/target dbt_project/logs
