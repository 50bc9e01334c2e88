"""benchmarks/bench_kpis.py: its three engines (the project's compute_kpi_rows, DuckDB SQL, pandas)
agree on every value of the 19 built-in KPIs at every grain, on its --quick data.

The DuckDB and pandas versions are written from DESIGN.md's formulas, not from the catalog, so this
is an independent-method check of the project's numbers (and it keeps the benchmark's baselines
honest: a benchmark against a wrong query measures nothing). The quick data holds the edge cases:
days without expenses or csat responses (zero denominators: null values), customers and employees
ending on their start day, weeks crossing the first day and the last period cut at the last day.
A few values are also worked out here straight from the rows, and the comparison is shown to catch
a changed, a missing and a nulled value.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

from kpi.catalog import built_in_catalog

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_kpis.py"


def load_benchmark() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_kpis", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_kpis"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = load_benchmark()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, written = bench.ensure_data(bench.QUICK, tmp_path_factory.mktemp("bench-data"))
    assert written
    return folder


@pytest.fixture(scope="module")
def results(data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, pl.DataFrame]:
    out = tmp_path_factory.mktemp("bench-results")
    frames = {}
    for engine, run in bench.RUNNERS.items():
        measured = run(data, out / f"{engine}.parquet", 1)
        frames[engine] = bench.read_result(out / f"{engine}.parquet")
        assert measured.rows == frames[engine].height
    return frames


def test_the_three_engines_agree_on_every_value(results: dict[str, pl.DataFrame], data: Path) -> None:
    problems = bench.disagreements(results)
    assert problems == [], "\n".join(problems)
    periods = pl.read_parquet(data / "periods.parquet")
    assert sorted(periods["grain"].unique()) == sorted(bench.GRAINS)
    for frame in results.values():
        assert frame.height == len(built_in_catalog().kpis) * periods.height
        assert set(frame["kpi_id"]) == set(built_in_catalog().kpis)


def test_the_quick_data_reaches_the_edge_cases(results: dict[str, pl.DataFrame], data: Path) -> None:
    project = results["project"]
    # zero denominators: days without csat responses or without revenue-bearing customers
    assert project.filter(pl.col("kpi_id") == "csat", pl.col("value").is_null()).height > 0
    assert project.filter(pl.col("denominator") == 0).height > 0
    customers = pl.read_parquet(data / "customers.parquet")
    employees = pl.read_parquet(data / "employees.parquet")
    assert customers.filter(pl.col("churned_on") == pl.col("signed_up_on")).height > 0
    assert employees.filter(pl.col("terminated_on") == pl.col("hired_on")).height > 0
    assert customers.filter(pl.col("signed_up_on") < bench.FIRST_DAY).height > 0
    # the first week starts before the first day; the last week is cut at the last day
    weeks = pl.read_parquet(data / "periods.parquet").filter(pl.col("grain") == "week")
    assert weeks["period_start"].min() == date(2024, 12, 30)
    assert weeks["period_end"].max() == bench.LAST_DAY


def test_values_worked_out_from_the_rows(results: dict[str, pl.DataFrame], data: Path) -> None:
    """A flow, a ratio and a span KPI straight from the rows, beside the engines' (all agree)."""
    transactions = pl.read_parquet(data / "revenue_transactions.parquet")
    employees = pl.read_parquet(data / "employees.parquet")
    in_2025 = transactions.filter(pl.col("booked_on").dt.year() == 2025)
    revenue_2025 = in_2025["amount"].sum()
    customers_2025 = in_2025["customer_id"].drop_nulls().n_unique()
    end = date(2025, 12, 31)
    headcount = employees.filter(
        (pl.col("hired_on") <= end) & (pl.col("terminated_on").is_null() | (pl.col("terminated_on") > end))
    ).height

    def value(kpi_id: str, grain: str = "year", start: date = date(2025, 1, 1)) -> float:
        row = results["duckdb"].filter(
            pl.col("kpi_id") == kpi_id, pl.col("grain") == grain, pl.col("period_start") == start
        )
        return float(row["value"].item())

    assert value("revenue") == pytest.approx(revenue_2025, rel=1e-12)
    assert value("active_customers") == customers_2025
    assert value("average_revenue_per_customer") == pytest.approx(revenue_2025 / customers_2025, rel=1e-12)
    assert value("headcount") == headcount
    assert value("headcount", "month", date(2025, 12, 1)) == headcount


@pytest.mark.parametrize("change", ["changed", "missing", "nulled"])
def test_a_wrong_engine_is_caught(results: dict[str, pl.DataFrame], change: str) -> None:
    pandas = results["pandas"].with_row_index()
    target = pandas.filter(pl.col("kpi_id") == "customer_retention_rate", pl.col("grain") == "month")[
        "index"
    ][3]
    if change == "changed":
        pandas = pandas.with_columns(
            value=pl.when(pl.col("index") == target).then(pl.col("value") * (1 + 1e-7)).otherwise("value")
        )
    elif change == "missing":
        pandas = pandas.filter(pl.col("index") != target)
    else:
        pandas = pandas.with_columns(numerator=pl.when(pl.col("index") != target).then("numerator"))
    problems = bench.disagreements({**results, "pandas": pandas.drop("index")})
    assert len(problems) == 1, problems
    assert problems[0].startswith("pandas vs project")
    assert "customer_retention_rate" in problems[0]
