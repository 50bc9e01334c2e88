# The two commands the README opens with: `make demo` and `make test`. Nothing but Python 3.11 and make needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: demo test lint format ui docs bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: $(STAMP)
	$(BIN)/python -m kpi.runner

## set-up plus the main job on the embedded DuckDB warehouse: demo sources, 90 days, a summary
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/kpi demo --days 90

## lint, format check, type check, then the whole test suite
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

## the Dagster UI on the demo (or KPI_CONFIG): runs of `kpi run` / `make demo` show there
ui: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev

## benchmarks: the cost of the data-quality checks on a 1,000,000-row day
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_checks.py

## docs/kpis.md from the KPI catalog
docs: $(STAMP)
	$(BIN)/python -m kpi.docs

clean:
	rm -rf $(VENV) .demo .dagster_home .pytest_cache .ruff_cache .hypothesis
