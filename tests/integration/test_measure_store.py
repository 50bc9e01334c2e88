"""The per-day measures the warehouse keeps (assets/kpis/store.py) give the values the rows give.

A company's revenue (with a region) and expenses are loaded into a real warehouse the way runs load
them: a range, nightly days, the latest day loaded again, a late day before days already summarized,
a restated day, then a config that adds a dimension. After each step the KPIs over every calendar period and over
objective windows (one that starts a quarter, one that does not) come out of the kept measures
(`kpi_rows_over`) exactly as the transforms compute them from the warehouse's rows, and revenue and
active customers per period and region as a plain filter-and-aggregate of the rows says.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

from assets.kpis.compute import kpi_rows_over
from assets.kpis.transforms import compute_kpi_rows
from kpi.config import PipelineConfig, load_config
from kpi.schema import entity_table, measure_days
from kpi.warehouse import Warehouse, entity_rows_where, loaded_days_of, record_loaded_days
from tests.conftest import new_database, write_config

START = date(2026, 1, 1)
KPIS = ["revenue", "active_customers", "biggest_sale", "mean_sale", "customers_per_expense"]
ROW_KEY = ["kpi_id", "grain", "period_start", "period_end", "dimension", "dimension_value"]


def company(directory: Path, warehouse: str, dimensions: list[str]) -> Path:
    """A config: revenue (with region and channel columns) and expenses from two CSV sources (never
    extracted here: the test loads the warehouse itself), KPIs over sums, means, maxima and distinct
    counts, and a distinct count over an expense sum (two dated inputs)."""
    csv = {"connector": "files", "options": {"path": "unused.csv"}}
    return write_config(
        directory,
        {
            "start_date": str(START),
            "warehouse": warehouse,
            "sources": [
                {
                    **csv,
                    "name": "shop",
                    "entity": "revenue_transactions",
                    "columns": {
                        "transaction_id": "id",
                        "booked_on": "day",
                        "customer_id": "customer",
                        "amount": "total",
                        "region": "region",
                        "channel": "channel",
                    },
                },
                {
                    **csv,
                    "name": "ledger",
                    "entity": "expenses",
                    "columns": {"expense_id": "id", "booked_on": "day", "category": "c", "amount": "a"},
                },
            ],
            "entities": {"revenue_transactions": {"dimensions": {"region": "str", "channel": "str"}}},
            "measures": {
                "biggest_sale": {"entity": "revenue_transactions", "agg": "max", "column": "amount"},
                "mean_sale": {"entity": "revenue_transactions", "agg": "mean", "column": "amount"},
            },
            "kpis": [
                {
                    "id": "revenue",
                    "name": "Revenue",
                    "formula": "sum of amount",
                    "numerator": "revenue",
                    "unit": "currency",
                    "direction": "higher_is_better",
                    "dimensions": dimensions,
                },
                {
                    "id": "active_customers",
                    "name": "Active customers",
                    "formula": "distinct customers",
                    "numerator": "active_customers",
                    "unit": "count",
                    "direction": "higher_is_better",
                    "dimensions": dimensions,
                },
                *(
                    {
                        "id": kpi_id,
                        "name": kpi_id,
                        "formula": kpi_id,
                        "numerator": kpi_id,
                        "unit": "currency",
                        "direction": "higher_is_better",
                    }
                    for kpi_id in ("biggest_sale", "mean_sale")
                ),
                {
                    "id": "customers_per_expense",
                    "name": "Customers per expense",
                    "formula": "distinct customers / expenses",
                    "numerator": "active_customers",
                    "denominator": "expenses",
                    "unit": "ratio",
                    "direction": "higher_is_better",
                },
            ],
        },
    )


def sales(day: date, seed: int, count: int = 12) -> pl.DataFrame:
    """Revenue rows of `day`: customers drawn from a small pool so that they repeat across days (a
    null customer and a null region among them, and ids that differ only by case or a trailing space),
    amounts with cents."""
    draw = random.Random(seed * 1000 + day.toordinal())
    customers = [None if index == 0 else f"c{draw.randint(1, 30)}" for index in range(count)]
    if count >= 4:  # customers a collation would take for one: by case, by a trailing space
        customers[-2:] = ["kA" if day.day % 2 else "ka", "s " if day.day % 3 == 0 else "s"]
    return pl.DataFrame(
        {
            "transaction_id": [f"{day}-{seed}-{index}" for index in range(count)],
            "booked_on": [day] * count,
            "customer_id": customers,
            "amount": [round(draw.uniform(-20, 500), 2) for _ in range(count)],
            "region": [
                None if index == 1 else draw.choice(["north", "south", "east"]) for index in range(count)
            ],
            "channel": [draw.choice(["web", "store"]) for _ in range(count)],
        }
    )


def spending(day: date) -> pl.DataFrame:
    return pl.DataFrame(
        {"expense_id": [f"e{day}"], "booked_on": [day], "category": ["opex"], "amount": [100.0 + day.day]}
    )


def load(warehouse: Warehouse, config: PipelineConfig, entity_name: str, frames: list[pl.DataFrame]) -> None:
    """Replace the days of `frames` of one entity as a load does: its rows, its loaded_partitions rows."""
    entity = config.catalog.entities[entity_name]
    source = config.sources_by_entity()[entity_name][0]
    frame = pl.concat(frames).with_columns(source=pl.lit(source))
    days = frame["booked_on"].unique().sort().to_list()
    with warehouse.transaction() as connection:
        warehouse.replace(connection, entity_table(entity), frame, entity_rows_where(entity, [source], days))
        counts = dict(frame.group_by("booked_on").len().iter_rows())
        record_loaded_days(
            warehouse, connection, entity_name, days, counts, "test", datetime.now(UTC), [source]
        )


def periods_through(config: PipelineConfig, last: date) -> pl.DataFrame:
    """Every calendar period of [START, last], and two objectives' windows to each of a few as-of days:
    one from the quarter's first day (kept first days), one from 01-05 (its rows)."""
    calendar = config.reporting_calendar
    periods = calendar.periods_containing(START, last, last)
    windows = [
        ("window", start, end, end == last)
        for start in (START, date(2026, 1, 5))
        for end in (date(2026, 1, 5), date(2026, 1, 19), last)
    ]
    return pl.concat([periods, pl.DataFrame(windows, schema=periods.schema, orient="row")])


def check(warehouse: Warehouse, config: PipelineConfig, last: date) -> None:
    periods = periods_through(config, last)
    kpis = [config.catalog.kpis[kpi_id] for kpi_id in KPIS]
    kept = kpi_rows_over(warehouse, config, periods, kpis, []).sort(ROW_KEY)
    sources = config.sources_by_entity()
    rows = {
        name: warehouse.read_entity(config.catalog.entities[name], START, last, sources[name]).lazy()
        for name in ("revenue_transactions", "expenses")
    }
    loaded = loaded_days_of(warehouse, sources, config.catalog.entities)
    from_rows = compute_kpi_rows(
        rows, periods, kpis, config.catalog, config.reporting_calendar, loaded, []
    ).sort(ROW_KEY)
    assert_frame_equal(kept, from_rows, check_exact=False, rel_tol=1e-12)
    by_hand(kept, rows["revenue_transactions"].collect(), periods, loaded["revenue_transactions"])


def by_hand(kept: pl.DataFrame, revenue: pl.DataFrame, periods: pl.DataFrame, loaded: list[date]) -> None:
    """Revenue and active customers of each period, in total and by region, as a filter of the rows
    of the loaded days in the period and a sum or a count of distinct non-null customers."""
    revenue = revenue.filter(pl.col("booked_on").is_in(loaded))
    for grain, start, end, _ in periods.iter_rows():
        rows = revenue.filter(pl.col("booked_on").is_between(start, end))
        of_period = kept.filter(
            pl.col("grain") == grain, pl.col("period_start") == start, pl.col("period_end") == end
        )
        expected = {("", ""): rows}
        if grain != "window":
            for (region,), of_region in rows.group_by("region"):
                expected["region", region or "(none)"] = of_region
        for (dimension, value), of_value in expected.items():
            row = of_period.filter(pl.col("dimension") == dimension, pl.col("dimension_value") == value)
            values = dict(row.select("kpi_id", "value").iter_rows())
            if not any(start <= day <= end for day in loaded):  # no data is not zero
                assert values["revenue"] is None and values["active_customers"] is None
                continue
            assert values["revenue"] == pytest.approx(of_value["amount"].sum(), rel=1e-12), (
                grain,
                start,
                end,
                value,
            )
            assert values["active_customers"] == of_value["customer_id"].drop_nulls().n_unique(), (
                grain,
                start,
                end,
                value,
            )


@pytest.fixture(params=["duckdb", "postgresql", "mariadb"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        return
    with new_database(request.param) as url:
        yield url


def test_kept_measures_follow_every_kind_of_load(tmp_path: Path, warehouse_url: str) -> None:
    config = load_config(company(tmp_path, warehouse_url, ["region"]))
    warehouse = Warehouse(config.warehouse_url())
    warehouse.create_tables(config.catalog.entities.values())
    try:

        def day(offset: int) -> date:
            return START + timedelta(days=offset)

        # A range: 20 days of revenue, expenses on all but 01-07 (the ratio's distinct count then
        # cannot come from the kept first days: it is counted from the rows of the covered days).
        load(warehouse, config, "revenue_transactions", [sales(day(offset), 1) for offset in range(20)])
        load(warehouse, config, "expenses", [spending(day(offset)) for offset in range(20) if offset != 6])
        check(warehouse, config, day(19))
        # Nightly days, each after the ones before.
        for offset in (20, 21):
            load(warehouse, config, "revenue_transactions", [sales(day(offset), 1)])
            load(warehouse, config, "expenses", [spending(day(offset))])
            check(warehouse, config, day(offset))
        # The latest day loaded again, with other rows: its values are replaced, not added to.
        load(warehouse, config, "revenue_transactions", [sales(day(21), 3, count=4)])
        check(warehouse, config, day(21))
        # A day after a gap, then the gap's first day: earlier than days already summarized.
        load(warehouse, config, "revenue_transactions", [sales(day(24), 1)])
        check(warehouse, config, day(24))
        load(warehouse, config, "revenue_transactions", [sales(day(22), 1)])
        check(warehouse, config, day(24))
        # A restated day: other customers, amounts and regions, fewer rows.
        load(warehouse, config, "revenue_transactions", [sales(day(9), 2, count=5)])
        check(warehouse, config, day(24))
        kept_days = warehouse.read(
            sa.select(measure_days.c.day).where(
                measure_days.c.measure == "revenue", measure_days.c.dimension == ""
            ),
            {"day": pl.Date()},
        )
        assert kept_days["day"].max() == day(24)
        # Another dimension: everything kept is computed again, by region and channel.
        config = load_config(company(tmp_path, warehouse_url, ["region", "channel"]))
        check(warehouse, config, day(24))
        channels = kpi_rows_over(
            warehouse, config, periods_through(config, day(24)), [config.catalog.kpis["revenue"]], []
        )
        web = channels.filter(pl.col("grain") == "month", pl.col("dimension_value") == "web")["value"].item()
        rows = warehouse.read_entity(config.catalog.entities["revenue_transactions"]).filter(
            pl.col("channel") == "web"
        )
        assert web == pytest.approx(rows["amount"].sum(), rel=1e-12)
    finally:
        warehouse.dispose()
