# The two commands the README opens with: `make demo` and `make test`. Nothing but Python 3.11 and make needed.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Each config keeps its own Dagster run history (`.dagster/<config name>` beside it, unless DAGSTER_HOME
# is set): `make ui` opens the history of KPI_CONFIG, the demo's by default.
KPI_CONFIG ?= $(CURDIR)/.demo/kpi.yaml
UI_PORT ?= 3000

.PHONY: demo test lint format ui docs bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## set-up plus the main job on the embedded DuckDB warehouse: demo sources, 90 days, a summary
demo: $(STAMP)
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
ui: $(STAMP)
	KPI_CONFIG=$(KPI_CONFIG) DAGSTER_HOME=$$($(BIN)/python -m kpi.runner $(KPI_CONFIG)) $(BIN)/dagster dev -p $(UI_PORT)

## benchmarks: all KPIs at every grain three ways (the project, DuckDB SQL, pandas) at 1M and 10M
## transactions, kpi run (a 365-day backfill vs one day; a nightly day after 30 vs 730 days), the
## data-quality checks on a 1,000,000-row day, the warehouse loads (docs/benchmarks.md)
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_kpis.py --transactions 1000000
	$(BIN)/python benchmarks/bench_kpis.py --transactions 10000000
	$(BIN)/python benchmarks/bench_runs.py --invoices-per-day 2000 --days 365
	$(BIN)/python benchmarks/bench_runs.py --invoices-per-day 20000 --history 30,730
	$(BIN)/python benchmarks/bench_checks.py
	$(BIN)/python benchmarks/bench_loads.py

## docs/kpis.md from the KPI catalog
docs: $(STAMP)
	$(BIN)/python -m kpi.docs

clean:
	rm -rf $(VENV) .demo .dagster_home .pytest_cache .ruff_cache .hypothesis
