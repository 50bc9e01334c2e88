"""The KPI computation three ways on the same data: the project's, DuckDB SQL and pandas, compared
value by value (issue 10).

    make bench                   # or: .venv/bin/python benchmarks/bench_kpis.py --transactions 1000000
    .venv/bin/python benchmarks/bench_kpis.py --transactions 10000000
    .venv/bin/python benchmarks/bench_kpis.py --quick   # a tiny size, in seconds

What it measures
  Synthetic canonical entities (DESIGN.md's five, the schemas of kpi.entities.BUILT_IN_ENTITIES) over
  two years, 2025-01-01 .. 2026-12-31, made with a fixed-seed numpy generator at the size given
  (default: 1M revenue transactions, 100k expenses, 1M customers, 1M survey responses, 100k
  employees), are written once as Parquet into --data-dir (reused when present for the same sizes),
  with the periods of `Calendar().periods_containing(first, last, last)`: every day, ISO week, month,
  quarter and year of the two years. Then all 19 built-in KPIs at every grain and period, by:
    project  assets.kpis.transforms.compute_kpi_rows with the built-in catalog and Calendar() over
             pl.scan_parquet frames (loaded_days None: every day loaded);
    duckdb   hand-written DuckDB SQL, set-based, one query: flow measures aggregated per day and
             rolled up to each grain's periods; distinct customers from each customer's first
             purchase in a period (lag over the customer's rows: a first purchase adds up from days,
             a distinct count does not; 3-4x faster than count(DISTINCT) per grain or GROUPING
             SETS); span measures (customers, employees) from cumulative counts of starts and ends
             by day, looked up at each period's start-1 and end with ASOF joins;
    pandas   a straightforward pandas version: groupby per grain for flow measures, boolean masks
             over the snapshot per period for span measures.
  The DuckDB and pandas formulas are written from DESIGN.md ("KPIs"), not read from the catalog: they
  are an independent check of the project's numbers (tests/unit/test_bench_kpis.py runs them at the
  --quick size). Each engine runs in its own subprocess and imports only its own library, so its
  peak memory is its own (the child's VmHWM: ru_maxrss would do but, on Linux, keeps the RSS of the
  parent it was forked from); its time is the wall clock of the computation, reading the Parquet
  files included (imports and building the catalog excluded), best of --repeat runs.
  Each writes (kpi_id, grain, period_start, value, numerator, denominator) as Parquet; the three are
  then compared: the same keys, and every value, numerator and denominator equal within 1e-9
  relative (1e-9 absolute near zero), null where the other is null. A disagreement is printed with
  examples and the script exits with status 1.

Output: a table (engine, seconds, peak RSS, RSS after imports, rows, time relative to the
project's), the issue's targets (project <= DuckDB, pandas >= 5x the project's time, project peak
memory < 1 GB), and JSON with the sizes, the measurements and the machine (CPUs, model, RAM, load
average, library versions): --json, default benchmarks/results/kpis-<transactions>.json.
--engines project,duckdb leaves pandas out; --data-dir moves the Parquet cache (default: the
system's temporary folder); the sizes are --transactions, --expenses (default a tenth of the
transactions), --customers, --responses, --employees and --seed. On a 2-core machine, 10M
transactions take about two minutes, most of it pandas.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # the engines import their own library only, so each child's memory is its own
    import polars as pl

FIRST_DAY = date(2025, 1, 1)
LAST_DAY = date(2026, 12, 31)
DAYS = (LAST_DAY - FIRST_DAY).days + 1
CUSTOMERS_SINCE = date(2022, 1, 1)
EMPLOYEES_SINCE = date(2012, 1, 1)
ENTITY_NAMES = ("revenue_transactions", "expenses", "customers", "survey_responses", "employees")
ENGINES = ("project", "duckdb", "pandas")
GRAINS = ("day", "week", "month", "quarter", "year")
RESULT_COLUMNS = ["kpi_id", "grain", "period_start", "value", "numerator", "denominator"]
KEY = ["kpi_id", "grain", "period_start"]
COMPARED = ["value", "numerator", "denominator"]
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-9
GENERATOR_VERSION = 1
"""Part of the data folder's name: bump it when the generator changes, so old files are not reused."""
RESULTS = Path(__file__).with_name("results")
T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    transactions: int = 1_000_000
    expenses: int = 100_000
    customers: int = 1_000_000
    responses: int = 1_000_000
    employees: int = 100_000
    seed: int = 20250101

    @property
    def folder_name(self) -> str:
        return (
            f"v{GENERATOR_VERSION}-t{self.transactions}-x{self.expenses}-c{self.customers}"
            f"-r{self.responses}-e{self.employees}-s{self.seed}"
        )


QUICK = Sizes(transactions=20_000, expenses=2_000, customers=2_000, responses=5_000, employees=500)


# ----------------------------------------------------------------------------------------------------
# The data: the five canonical entities and the periods, as Parquet.


def generate_entities(sizes: Sizes) -> dict[str, pl.DataFrame]:
    """The five built-in entities over FIRST_DAY .. LAST_DAY, in the schemas of BUILT_IN_ENTITIES.

    revenue_transactions: uniform over the days, 5% without customer_id, 3% refunds (negative);
    expenses: the five categories; customers: signed up since 2022, about 30% churned since (a few on
    their sign-up day), none after LAST_DAY; survey_responses: half csat (1-5), half nps (0-10);
    employees: hired since 2012, about a third terminated (likewise).
    """
    import numpy as np
    import polars as pl

    from kpi.entities import BUILT_IN_ENTITIES

    generator = np.random.default_rng(sizes.seed)
    epoch_offset = (FIRST_DAY - date(1970, 1, 1)).days

    def identifier(prefix: str, column: str, width: int) -> pl.Expr:
        return pl.lit(prefix) + pl.col(column).cast(pl.String()).str.zfill(width)

    def day(column: str) -> pl.Expr:
        """Days after FIRST_DAY as a Date."""
        return (pl.col(column) + epoch_offset).cast(pl.Int32()).cast(pl.Date())

    def spans(count: int, since: date, ended_share: float, mean_days: float) -> tuple[Any, Any, Any]:
        """Start days (after FIRST_DAY) from `since` to LAST_DAY, end days, and whether it ended: a share
        ends, 2% of them on their start day (never active), the others an exponential number of
        days after it; none after LAST_DAY (a snapshot does not know the future)."""
        starts = generator.integers((since - FIRST_DAY).days, DAYS, count)
        delays = 1 + np.floor(generator.exponential(mean_days, count)).astype(np.int64)
        ends = starts + np.where(generator.random(count) < 0.02, 0, delays)
        ended = (generator.random(count) < ended_share) & (ends < DAYS)
        return starts, ends, ended

    n = sizes.transactions
    revenue = pl.DataFrame(
        {
            "index": np.arange(n),
            "booked": generator.integers(0, DAYS, n),
            "customer": generator.integers(0, sizes.customers, n),
            "no_customer": generator.random(n) < 0.05,
            "amount": np.round(generator.lognormal(4.0, 1.0, n), 2)
            * np.where(generator.random(n) < 0.03, -1.0, 1.0),
        }
    ).select(
        transaction_id=identifier("T", "index", 10),
        booked_on=day("booked"),
        customer_id=pl.when(~pl.col("no_customer")).then(identifier("C", "customer", 9)),
        amount=pl.col("amount"),
    )
    n = sizes.expenses
    expenses = pl.DataFrame(
        {
            "index": np.arange(n),
            "booked": generator.integers(0, DAYS, n),
            "category": generator.choice(
                ["cogs", "operating", "interest", "tax", "other"], n, p=[0.4, 0.35, 0.05, 0.1, 0.1]
            ),
            "amount": np.round(generator.lognormal(6.0, 1.2, n), 2),
        }
    ).select(
        expense_id=identifier("X", "index", 10),
        booked_on=day("booked"),
        category=pl.col("category"),
        amount=pl.col("amount"),
    )
    n = sizes.customers
    signed_up, churned, has_churned = spans(n, CUSTOMERS_SINCE, ended_share=0.34, mean_days=200)
    customers = pl.DataFrame(
        {
            "index": np.arange(n),
            "signed_up": signed_up,
            "churned": churned,
            "has_churned": has_churned,
            "segment": generator.choice(["smb", "mid_market", "enterprise", ""], n, p=[0.6, 0.25, 0.1, 0.05]),
        }
    ).select(
        customer_id=identifier("C", "index", 9),
        signed_up_on=day("signed_up"),
        churned_on=pl.when(pl.col("has_churned")).then(day("churned")),
        segment=pl.when(pl.col("segment") != "").then(pl.col("segment")),
    )
    n = sizes.responses
    is_csat = generator.random(n) < 0.5
    responses = pl.DataFrame(
        {
            "index": np.arange(n),
            "customer": generator.integers(0, sizes.customers, n),
            "responded": generator.integers(0, DAYS, n),
            "survey": np.where(is_csat, "csat", "nps"),
            "score": np.where(
                is_csat,
                generator.choice(5, n, p=[0.05, 0.1, 0.2, 0.35, 0.3]) + 1,
                generator.choice(11, n, p=[0.02] * 5 + [0.05, 0.08, 0.15, 0.2, 0.18, 0.24]),
            ),
        }
    ).select(
        response_id=identifier("R", "index", 10),
        customer_id=identifier("C", "customer", 9),
        responded_on=day("responded"),
        survey=pl.col("survey"),
        score=pl.col("score"),
    )
    n = sizes.employees
    hired, terminated, was_terminated = spans(n, EMPLOYEES_SINCE, ended_share=0.5, mean_days=1500)
    employees = pl.DataFrame(
        {
            "index": np.arange(n),
            "hired": hired,
            "terminated": terminated,
            "was_terminated": was_terminated,
            "department": generator.choice(["sales", "engineering", "support", "finance", "hr", "ops"], n),
            "voluntary": generator.random(n) < 0.7,
        }
    ).select(
        employee_id=identifier("E", "index", 8),
        hired_on=day("hired"),
        terminated_on=pl.when(pl.col("was_terminated")).then(day("terminated")),
        department=pl.col("department"),
        termination_type=pl.when(pl.col("was_terminated")).then(
            pl.when(pl.col("voluntary")).then(pl.lit("voluntary")).otherwise(pl.lit("involuntary"))
        ),
    )
    frames = {
        "revenue_transactions": revenue,
        "expenses": expenses,
        "customers": customers,
        "survey_responses": responses,
        "employees": employees,
    }
    typed = {name: frame.cast(BUILT_IN_ENTITIES[name].schema) for name, frame in frames.items()}  # type: ignore[arg-type]
    for name, frame in typed.items():
        assert frame.schema == pl.Schema(BUILT_IN_ENTITIES[name].schema), (name, frame.schema)
    return typed


def ensure_data(sizes: Sizes, directory: Path) -> tuple[Path, bool]:
    """The folder of Parquet files for `sizes` under `directory`, written unless already complete;
    and whether it was written now."""
    folder = directory / sizes.folder_name
    marker = folder / "complete"
    if marker.exists():
        return folder, False
    from kpi.periods import Calendar

    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in generate_entities(sizes).items():
        frame.write_parquet(folder / f"{name}.parquet")
    periods = Calendar().periods_containing(FIRST_DAY, LAST_DAY, LAST_DAY)
    periods.write_parquet(folder / "periods.parquet")
    marker.write_text(json.dumps(asdict(sizes)))  # last: a folder cut short is written again
    return folder, True


# ----------------------------------------------------------------------------------------------------
# The engines: each reads the Parquet files in `data` and writes RESULT_COLUMNS to `out`.


@dataclass(frozen=True)
class EngineRun:
    seconds: float
    rows: int


def best_of(repeat: int, compute: Callable[[], T]) -> tuple[float, T]:
    """The least wall-clock time of `repeat` runs of `compute`, and the last run's result."""
    timings = []
    result: T | None = None
    for _ in range(max(repeat, 1)):
        result = None  # the previous result is not held while the next is computed
        started = time.perf_counter()
        result = compute()
        timings.append(time.perf_counter() - started)
    assert result is not None
    return min(timings), result


def run_project(data: Path, out: Path, repeat: int = 1) -> EngineRun:
    """The pipeline's own transform: compute_kpi_rows over pl.scan_parquet frames."""
    import polars as pl

    from assets.kpis.transforms import compute_kpi_rows
    from kpi.catalog import built_in_catalog
    from kpi.periods import Calendar

    catalog = built_in_catalog()
    calendar = Calendar()
    kpis = list(catalog.kpis.values())

    def compute() -> pl.DataFrame:
        periods = pl.read_parquet(data / "periods.parquet")
        entities = {name: pl.scan_parquet(data / f"{name}.parquet") for name in ENTITY_NAMES}
        return compute_kpi_rows(entities, periods, kpis, catalog, calendar)

    seconds, rows = best_of(repeat, compute)
    rows.select(RESULT_COLUMNS).write_parquet(out)
    return EngineRun(seconds, rows.height)


# The KPIs of DESIGN.md's built-in catalog over the measure columns of one period: (kpi_id,
# numerator, denominator or None, scale). Written here, not read from kpi/catalog.yaml, for the
# DuckDB and pandas engines: both are checks of the catalog, not copies of it.
KPI_FORMULAS: list[tuple[str, str, str | None, float]] = [
    ("revenue", "revenue", None, 1),
    ("expenses", "expenses", None, 1),
    ("gross_profit", "revenue - cogs_expenses", None, 1),
    ("net_profit", "revenue - expenses", None, 1),
    ("net_profit_margin", "revenue - expenses", "revenue", 1),
    ("active_customers", "active_customers", None, 1),
    ("average_revenue_per_customer", "revenue", "active_customers", 1),
    ("new_customers", "customers_started", None, 1),
    ("churned_customers", "customers_ended", None, 1),
    ("customer_retention_rate", "customers_retained", "customers_at_start", 1),
    ("customer_churn_rate", "customers_ended_from_start", "customers_at_start", 1),
    ("csat", "csat_satisfied", "csat_responses", 100),
    ("nps", "nps_promoters - nps_detractors", "nps_responses", 100),
    ("headcount", "employees_at_end", None, 1),
    ("hires", "employees_started", None, 1),
    ("terminations", "employees_ended", None, 1),
    ("employee_turnover_rate", "employees_ended", "(employees_at_start + employees_at_end) / 2", 1),
    ("employee_retention_rate", "employees_retained", "employees_at_start", 1),
    ("revenue_per_employee", "revenue", "(employees_at_start + employees_at_end) / 2", 1),
]


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _span_sql(prefix: str, path: Path, start: str, end: str) -> str:
    """CTEs `<prefix>_measures`: the six span measures of a span entity per period, from cumulative
    counts by day, looked up at start-1 and at period_end (ASOF: the last day with an event on or
    before). With s the start and e the end of a row (e null: still active), on day d:
      #active(d)   = #(s <= d) - #(e not null and greatest(s, e) <= d)  (a row with e <= s is never active)
      started(P)   = #(s <= end) - #(s <= start-1); ended(P) likewise with e
      ended_from_start(P) = ended(P) - #(e in P and s >= start), where, for the calendar grains,
                     s >= start is s >= date_trunc(grain, e): counted per end day and grain (late_*)
      retained(P)  = #active(start-1) - ended_from_start(P)
    """
    late = ",\n".join(
        f"            count(*) FILTER (WHERE s >= {'e' if grain == 'day' else f'date_trunc({grain!r}, e)::DATE'})"
        f" AS late_{grain}"
        for grain in GRAINS
    )
    late_sums = ", ".join(f"sum(late_{grain}) OVER running AS late_{grain}" for grain in GRAINS)

    def late_of(side: str) -> str:
        cases = " ".join(f"WHEN {grain!r} THEN {side}.late_{grain}" for grain in GRAINS)
        return f"coalesce(CASE p.grain {cases} END, 0)"

    return f"""
    {prefix}_rows AS (SELECT {start} AS s, {end} AS e FROM read_parquet({_quote(path)})),
    {prefix}_by_day AS (
        SELECT day, sum(started) AS started, sum(ended) AS ended, sum(exited) AS exited,
            {", ".join(f"sum(late_{grain}) AS late_{grain}" for grain in GRAINS)}
        FROM (
            SELECT s AS day, count(*) AS started, 0 AS ended, 0 AS exited,
                {", ".join(f"0 AS late_{grain}" for grain in GRAINS)}
            FROM {prefix}_rows GROUP BY s
            UNION ALL
            SELECT e, 0, count(*), 0,
{late}
            FROM {prefix}_rows WHERE e IS NOT NULL GROUP BY e
            UNION ALL
            SELECT greatest(s, e), 0, 0, count(*), {", ".join("0" for _ in GRAINS)}
            FROM {prefix}_rows WHERE e IS NOT NULL GROUP BY greatest(s, e)
        )
        GROUP BY day
    ),
    {prefix}_running AS (
        SELECT day, sum(started) OVER running AS started, sum(ended) OVER running AS ended,
            sum(exited) OVER running AS exited, {late_sums}
        FROM {prefix}_by_day
        WINDOW running AS (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    ),
    {prefix}_at_bounds AS (
        SELECT p.grain, p.period_start,
            coalesce(b.started, 0) - coalesce(b.exited, 0) AS at_start,
            coalesce(e.started, 0) - coalesce(e.exited, 0) AS at_end,
            coalesce(e.started, 0) - coalesce(b.started, 0) AS started,
            coalesce(e.ended, 0) - coalesce(b.ended, 0) AS ended,
            {late_of("e")} - {late_of("b")} AS late
        FROM periods p
        ASOF LEFT JOIN {prefix}_running b ON p.period_start - 1 >= b.day
        ASOF LEFT JOIN {prefix}_running e ON p.period_end >= e.day
    ),
    {prefix}_measures AS (
        SELECT grain, period_start,
            at_start AS {prefix}_at_start, at_end AS {prefix}_at_end,
            started AS {prefix}_started, ended AS {prefix}_ended,
            ended - late AS {prefix}_ended_from_start,
            at_start - (ended - late) AS {prefix}_retained
        FROM {prefix}_at_bounds
    )"""


def duckdb_sql(data: Path) -> str:
    """One query: the kpi_values rows (RESULT_COLUMNS) of the 19 built-in KPIs over the periods."""

    def parquet(name: str) -> str:
        return f"read_parquet({_quote(data / f'{name}.parquet')})"

    first_purchases = ", ".join(
        f"count(*) FILTER (WHERE previous IS NULL OR previous < "
        f"{'booked_on' if grain == 'day' else f'date_trunc({grain!r}, booked_on)::DATE'}) AS first_in_{grain}"
        for grain in GRAINS
    )
    first_purchase_of_grain = " ".join(f"WHEN {grain!r} THEN f.first_in_{grain}" for grain in GRAINS)
    kpis = "\n        UNION ALL ".join(
        f"SELECT {kpi_id!r} AS kpi_id, grain, period_start, ({numerator})::DOUBLE AS numerator, "
        f"{'NULL' if denominator is None else f'({denominator})'}::DOUBLE AS denominator, "
        f"{denominator is not None} AS is_ratio, {scale}::DOUBLE AS scale FROM measures"
        for kpi_id, numerator, denominator, scale in KPI_FORMULAS
    )
    flow_columns = [
        "revenue",
        "expenses",
        "cogs_expenses",
        "csat_responses",
        "csat_satisfied",
        "nps_responses",
        "nps_promoters",
        "nps_detractors",
    ]
    return f"""
    WITH
    periods AS (SELECT grain, period_start, period_end FROM {parquet("periods")}),
    -- Flow measures: each dated entity aggregated per day (one pass), rolled up to every period.
    revenue_by_day AS (
        SELECT booked_on AS day, sum(amount) AS revenue
        FROM {parquet("revenue_transactions")} GROUP BY booked_on
    ),
    expenses_by_day AS (
        SELECT booked_on AS day, sum(amount) AS expenses,
            coalesce(sum(amount) FILTER (WHERE category = 'cogs'), 0) AS cogs_expenses
        FROM {parquet("expenses")} GROUP BY booked_on
    ),
    responses_by_day AS (
        SELECT responded_on AS day,
            count(*) FILTER (WHERE survey = 'csat') AS csat_responses,
            count(*) FILTER (WHERE survey = 'csat' AND score >= 4) AS csat_satisfied,
            count(*) FILTER (WHERE survey = 'nps') AS nps_responses,
            count(*) FILTER (WHERE survey = 'nps' AND score >= 9) AS nps_promoters,
            count(*) FILTER (WHERE survey = 'nps' AND score <= 6) AS nps_detractors
        FROM {parquet("survey_responses")} GROUP BY responded_on
    ),
    -- Distinct customers do not add up from days, but first purchases do: a row is its customer's
    -- first in its period of a grain when the customer's previous row (by day) is before the period.
    first_purchases_by_day AS (
        SELECT booked_on AS day,
            {first_purchases}
        FROM (
            SELECT booked_on, lag(booked_on) OVER (PARTITION BY customer_id ORDER BY booked_on) AS previous
            FROM {parquet("revenue_transactions")}
            WHERE customer_id IS NOT NULL
                AND booked_on BETWEEN (SELECT min(period_start) FROM periods)
                AND (SELECT max(period_end) FROM periods)
        )
        GROUP BY booked_on
    ),
    flow_by_day AS (
        SELECT * FROM revenue_by_day
        FULL JOIN first_purchases_by_day USING (day)
        FULL JOIN expenses_by_day USING (day)
        FULL JOIN responses_by_day USING (day)
    ),
    flow AS (
        SELECT p.grain, p.period_start,
            {", ".join(f"coalesce(sum(f.{column}), 0) AS {column}" for column in flow_columns)},
            coalesce(sum(CASE p.grain {first_purchase_of_grain} END), 0) AS active_customers
        FROM periods p LEFT JOIN flow_by_day f ON f.day BETWEEN p.period_start AND p.period_end
        GROUP BY p.grain, p.period_start
    ),
    -- Span measures: cumulative counts by day, looked up at each period's bounds.
    {_span_sql("customers", data / "customers.parquet", "signed_up_on", "churned_on")},
    {_span_sql("employees", data / "employees.parquet", "hired_on", "terminated_on")},
    measures AS (
        SELECT f.*, c.* EXCLUDE (grain, period_start), e.* EXCLUDE (grain, period_start)
        FROM flow f
        JOIN customers_measures c USING (grain, period_start)
        JOIN employees_measures e USING (grain, period_start)
    ),
    kpis AS (
        {kpis}
    )
    SELECT kpi_id, grain, period_start,
        CASE WHEN NOT is_ratio THEN numerator WHEN denominator <> 0 THEN numerator / denominator * scale END
            AS value,
        numerator, denominator
    FROM kpis
    """


def run_duckdb(data: Path, out: Path, repeat: int = 1) -> EngineRun:
    """The KPIs in DuckDB SQL (duckdb_sql), into a table of an in-memory database."""
    import duckdb

    sql = duckdb_sql(data)

    def compute() -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect()
        connection.execute(f"CREATE TABLE kpi_values AS {sql}")
        return connection

    seconds, connection = best_of(repeat, compute)
    counted = connection.execute("SELECT count(*) FROM kpi_values").fetchone()
    connection.execute(f"COPY kpi_values TO {_quote(out)} (FORMAT parquet)")
    connection.close()
    return EngineRun(seconds, int(counted[0]) if counted else 0)


def pandas_kpis(data: Path) -> Any:
    """The KPIs in pandas: per grain, a groupby of each dated entity by period start; per period,
    boolean masks over the customers and employees for the span measures."""
    import pandas as pd

    def read(name: str, columns: list[str]) -> pd.DataFrame:
        return pd.read_parquet(
            data / f"{name}.parquet", columns=columns, to_pandas_kwargs={"date_as_object": False}
        )

    periods = read("periods", ["grain", "period_start", "period_end"])
    transactions = read("revenue_transactions", ["booked_on", "customer_id", "amount"])
    expenses = read("expenses", ["booked_on", "category", "amount"])
    expenses["cogs_amount"] = expenses["amount"].where(expenses["category"] == "cogs", 0.0)
    responses = read("survey_responses", ["responded_on", "survey", "score"])
    csat, nps = responses["survey"] == "csat", responses["survey"] == "nps"
    responses = pd.DataFrame(
        {
            "responded_on": responses["responded_on"],
            "csat_responses": csat,
            "csat_satisfied": csat & (responses["score"] >= 4),
            "nps_responses": nps,
            "nps_promoters": nps & (responses["score"] >= 9),
            "nps_detractors": nps & (responses["score"] <= 6),
        }
    )
    customers = read("customers", ["signed_up_on", "churned_on"])
    employees = read("employees", ["hired_on", "terminated_on"])

    def period_start(days: pd.Series, grain: str) -> pd.Series:
        if grain == "day":
            return days
        if grain == "week":
            return days - pd.to_timedelta(days.dt.day_of_week, unit="D")
        return days.dt.to_period({"month": "M", "quarter": "Q", "year": "Y"}[grain]).dt.start_time

    def flow(frame: pd.DataFrame, date_column: str, first: Any, last: Any, grain: str, **agg: Any) -> Any:
        rows = frame[frame[date_column].between(first, last)]
        return rows.groupby(period_start(rows[date_column], grain).rename("period_start")).agg(**agg)

    measure_frames = []
    for grain, grain_periods in periods.groupby("grain", sort=False):
        first, last = grain_periods["period_start"].min(), grain_periods["period_end"].max()
        parts = [
            flow(
                transactions,
                "booked_on",
                first,
                last,
                str(grain),
                revenue=("amount", "sum"),
                active_customers=("customer_id", "nunique"),
            ),
            flow(
                expenses,
                "booked_on",
                first,
                last,
                str(grain),
                expenses=("amount", "sum"),
                cogs_expenses=("cogs_amount", "sum"),
            ),
            flow(
                responses,
                "responded_on",
                first,
                last,
                str(grain),
                **{column: (column, "sum") for column in responses.columns if column != "responded_on"},
            ),
        ]
        grain_measures = grain_periods.set_index("period_start")
        for part in parts:
            part.index = part.index.astype(grain_measures.index.dtype)
            grain_measures = grain_measures.join(part)
        measure_frames.append(grain_measures.fillna(0).reset_index())
    measures = pd.concat(measure_frames, ignore_index=True)

    def span_counts(snapshot: pd.DataFrame, start_column: str, end_column: str, prefix: str) -> pd.DataFrame:
        starts, ends = snapshot[start_column], snapshot[end_column]
        open_ended = ends.isna()
        rows = []
        for start, end in zip(measures["period_start"], measures["period_end"], strict=True):
            before = start - pd.Timedelta(days=1)
            at_start = (starts <= before) & (open_ended | (ends > before))
            at_end = (starts <= end) & (open_ended | (ends > end))
            ended = ends.between(start, end)
            rows.append(
                (
                    at_start.sum(),
                    at_end.sum(),
                    starts.between(start, end).sum(),
                    ended.sum(),
                    (at_start & ended).sum(),
                    (at_start & at_end).sum(),
                )
            )
        names = ["at_start", "at_end", "started", "ended", "ended_from_start", "retained"]
        return pd.DataFrame(rows, columns=[f"{prefix}_{name}" for name in names])

    measures = pd.concat(
        [
            measures,
            span_counts(customers, "signed_up_on", "churned_on", "customers"),
            span_counts(employees, "hired_on", "terminated_on", "employees"),
        ],
        axis=1,
    ).astype({"grain": str})
    kpi_frames = []
    for kpi_id, numerator_formula, denominator_formula, scale in KPI_FORMULAS:
        numerator = measures.eval(numerator_formula).astype("float64")
        if denominator_formula is None:
            denominator = pd.Series(float("nan"), index=measures.index)
            value = numerator
        else:
            denominator = measures.eval(denominator_formula).astype("float64")
            value = (numerator / denominator * scale).where(denominator != 0)
        kpi_frames.append(
            pd.DataFrame(
                {
                    "kpi_id": kpi_id,
                    "grain": measures["grain"],
                    "period_start": measures["period_start"],
                    "value": value,
                    "numerator": numerator,
                    "denominator": denominator,
                }
            )
        )
    return pd.concat(kpi_frames, ignore_index=True)


def run_pandas(data: Path, out: Path, repeat: int = 1) -> EngineRun:
    """The KPIs in pandas (pandas_kpis)."""
    seconds, rows = best_of(repeat, lambda: pandas_kpis(data))
    rows.to_parquet(out, index=False)
    return EngineRun(seconds, len(rows))


RUNNERS: dict[str, Callable[[Path, Path, int], EngineRun]] = {
    "project": run_project,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}


# ----------------------------------------------------------------------------------------------------
# Comparing the engines' results.


def read_result(path: Path) -> pl.DataFrame:
    """An engine's result in one shape: RESULT_COLUMNS, period_start a Date, NaN as null."""
    import polars as pl

    frame = pl.read_parquet(path)
    return frame.select(
        pl.col("kpi_id").cast(pl.String()),
        pl.col("grain").cast(pl.String()),
        pl.col("period_start").cast(pl.Date()),
        *(pl.col(column).cast(pl.Float64()).fill_nan(None) for column in COMPARED),
    )


def disagreements(results: dict[str, pl.DataFrame], reference: str = "project") -> list[str]:
    """What differs between each engine's rows and the `reference` engine's: keys given twice, keys
    only one has, and values (value, numerator, denominator) not equal within RELATIVE_TOLERANCE
    (ABSOLUTE_TOLERANCE near zero) or null on one side only. Each problem with up to five examples;
    empty when all agree."""
    import polars as pl

    problems = []
    for engine, frame in results.items():
        repeated = frame.filter(frame.select(KEY).is_duplicated())
        if not repeated.is_empty():
            problems.append(f"{engine}: {repeated.height} rows share a key, e.g.\n{repeated.head(5)}")
    expected = results[reference]
    for engine, frame in results.items():
        if engine == reference:
            continue
        joined = expected.join(frame, on=KEY, how="full", coalesce=True, suffix=f"_{engine}")
        for side, present in ((reference, expected), (engine, frame)):
            missing = joined.join(present.select(KEY), on=KEY, how="anti")
            if not missing.is_empty():
                problems.append(
                    f"{engine} vs {reference}: {missing.height} keys missing from {side}, e.g.\n"
                    f"{missing.select(KEY).head(5)}"
                )
        for column in COMPARED:
            mine, theirs = pl.col(column), pl.col(f"{column}_{engine}")
            close = (mine - theirs).abs() <= pl.max_horizontal(
                pl.max_horizontal(mine.abs(), theirs.abs()) * RELATIVE_TOLERANCE, pl.lit(ABSOLUTE_TOLERANCE)
            )
            same = (mine.is_null() & theirs.is_null()) | close.fill_null(False)
            different = joined.join(frame.select(KEY), on=KEY, how="semi").filter(~same)
            if not different.is_empty():
                problems.append(
                    f"{engine} vs {reference}: {column} differs on {different.height} rows, e.g.\n"
                    f"{different.select(*KEY, column, f'{column}_{engine}').head(5)}"
                )
    return problems


# ----------------------------------------------------------------------------------------------------
# The parent: data, one subprocess per engine, the comparison, the report.


def _status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (Linux), in MB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: VmHWM, the high-water mark of this program's own
    address space. ru_maxrss (the fallback off Linux) would do, but on Linux it keeps the RSS the
    process had before exec: a child forked from the parent would show the parent's memory."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# What each engine imports: imported before its clock starts and counted in "RSS after imports".
ENGINE_IMPORTS = {
    "project": ["polars", "assets.kpis.transforms", "kpi.catalog", "kpi.periods"],
    "duckdb": ["duckdb"],
    "pandas": ["pandas", "pyarrow.parquet"],
}


def child(engine: str, data: Path, out: Path, repeat: int) -> None:
    """Run one engine in this process and print its measurements as one JSON line."""
    for module in ENGINE_IMPORTS[engine]:
        importlib.import_module(module)
    imports_mb = _status_mb("VmRSS") or peak_rss_mb()
    run = RUNNERS[engine](data, out, repeat)
    print(
        json.dumps(
            {
                "seconds": run.seconds,
                "rows": run.rows,
                "imports_rss_mb": imports_mb,
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def run_child(engine: str, data: Path, out: Path, repeat: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--engine", engine, "--data", str(data), "--out", str(out)]
    command += ["--repeat", str(repeat)]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise SystemExit(f"engine {engine} failed (status {finished.returncode}):\n{finished.stderr}")
    measured: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    measured["process_seconds"] = time.perf_counter() - started
    # Warnings the engine printed (Polars' "POLARS_MAX_BLOCKING_THREAD_COUNT reached", say).
    measured["stderr"] = finished.stderr.strip()
    return measured


def machine() -> dict[str, Any]:
    model = "unknown"
    memory_gb = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": memory_gb,
        "platform": platform.platform(),
        "load_average_1_5_15_min": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        **{package: version(package) for package in ("polars", "duckdb", "pandas", "numpy", "pyarrow")},
    }


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = Sizes()
    parser.add_argument("--transactions", type=int, default=defaults.transactions)
    parser.add_argument("--expenses", type=int, help="default: a tenth of --transactions")
    parser.add_argument("--customers", type=int, default=defaults.customers)
    parser.add_argument("--responses", type=int, default=defaults.responses)
    parser.add_argument("--employees", type=int, default=defaults.employees)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--quick", action="store_true", help=f"a tiny size: {QUICK}")
    parser.add_argument("--repeat", type=int, default=1, help="runs per engine; the best time is kept")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "kpi-bench",
        help="where the Parquet files are written once per size (default: %(default)s)",
    )
    parser.add_argument("--json", type=Path, help="default: benchmarks/results/kpis-<transactions>.json")
    # A child: run one engine (the parent starts one per engine).
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.engine:
        child(arguments.engine, arguments.data, arguments.out, arguments.repeat)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    engines = [engine.strip() for engine in arguments.engines.split(",") if engine.strip()]
    unknown = [engine for engine in engines if engine not in ENGINES]
    if unknown or "project" not in engines:
        console.print(
            f"--engines: expected project and some of {', '.join(ENGINES)}; got {arguments.engines}"
        )
        return 2
    sizes = (
        QUICK
        if arguments.quick
        else Sizes(
            transactions=arguments.transactions,
            expenses=arguments.expenses if arguments.expenses is not None else arguments.transactions // 10,
            customers=arguments.customers,
            responses=arguments.responses,
            employees=arguments.employees,
            seed=arguments.seed,
        )
    )
    host = machine()  # before the run: its load average says how busy the machine was
    started = time.perf_counter()
    data, written = ensure_data(sizes, arguments.data_dir)
    console.print(
        f"data: {data} " + (f"(written in {time.perf_counter() - started:.1f} s)" if written else "(reused)")
    )
    measured: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        outputs = {engine: Path(folder) / f"{engine}.parquet" for engine in engines}
        for engine in engines:
            console.print(f"running {engine} ...")
            measured[engine] = run_child(engine, data, outputs[engine], arguments.repeat)
            if measured[engine]["stderr"]:
                lines = list(dict.fromkeys(measured[engine]["stderr"].splitlines()))  # each line once
                console.print(f"{engine} wrote to stderr:\n" + "\n".join(lines[:10]), markup=False)
        results = {engine: read_result(path) for engine, path in outputs.items()}
    problems = disagreements(results)

    project_seconds = measured["project"]["seconds"]
    table = Table(
        title=f"19 KPIs x 5 grains over {FIRST_DAY} .. {LAST_DAY} (best of {arguments.repeat})",
        caption=(
            f"{sizes.transactions:,} transactions, {sizes.expenses:,} expenses, {sizes.customers:,} customers, "
            f"{sizes.responses:,} survey responses, {sizes.employees:,} employees"
        ),
    )
    for column in ("engine", "seconds", "peak RSS MB", "RSS after imports MB", "rows", "time / project's"):
        table.add_column(column, justify="left" if column == "engine" else "right")
    for engine, run in measured.items():
        table.add_row(
            engine,
            f"{run['seconds']:.2f}",
            f"{run['peak_rss_mb']:,.0f}",
            f"{run['imports_rss_mb']:,.0f}",
            f"{run['rows']:,}",
            f"{run['seconds'] / project_seconds:.2f}",
        )
    console.print(table)
    targets = {"project_peak_rss_mb_below_1024": measured["project"]["peak_rss_mb"] < 1024}
    if "duckdb" in measured:
        ratio = project_seconds / measured["duckdb"]["seconds"]
        targets["project_over_duckdb_at_most_1"] = ratio <= 1.0
        console.print(f"project / duckdb time: {ratio:.2f} (target <= 1.0)")
    if "pandas" in measured:
        speedup = measured["pandas"]["seconds"] / project_seconds
        targets["pandas_over_project_at_least_5"] = speedup >= 5
        console.print(f"pandas / project time: {speedup:.1f} (target >= 5)")
    console.print(f"project peak memory: {measured['project']['peak_rss_mb']:,.0f} MB (target < 1024)")
    if problems:
        console.print(f"[bold red]the engines disagree ({len(problems)} problems):[/]")
        for problem in problems:
            console.print(problem, markup=False)
    else:
        console.print(
            f"[green]all engines agree on every value of {results['project'].height:,} rows "
            f"(relative tolerance {RELATIVE_TOLERANCE:g})[/]"
        )
    path = arguments.json or RESULTS / f"kpis-{sizes.transactions}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "bench_kpis",
        "measured_on": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sizes": asdict(sizes),
        "days": [str(FIRST_DAY), str(LAST_DAY)],
        "repeat": arguments.repeat,
        "machine": host,
        "engines": measured,
        "targets": targets,
        "agree": not problems,
        "disagreements": problems,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"written: {path}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
