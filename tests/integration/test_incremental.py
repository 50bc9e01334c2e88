"""A nightly run after a range gives the same tables as one run over the whole range, in any order."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import yaml
from polars.testing import assert_frame_equal

from kpi.config import load_config
from kpi.runner import run_partitions
from kpi.warehouse import Warehouse

FIRST, LAST = date(2026, 2, 26), date(2026, 3, 3)


def with_warehouse(config_path: Path, name: str) -> Path:
    data = yaml.safe_load(config_path.read_text())
    data["warehouse"] = f"duckdb:///{config_path.parent / name}"
    path = config_path.with_name(f"{name}.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def tables(config_path: Path) -> dict[str, pl.DataFrame]:
    warehouse = Warehouse(load_config(config_path).warehouse_url())
    try:
        with warehouse.engine.connect() as connection:
            return {
                name: pl.read_database(
                    f"SELECT * EXCLUDE (computed_at{extra}) FROM {name} ORDER BY ALL", connection
                ).with_columns(pl.col(pl.Float64).round(6))
                for name, extra in (("kpi_values", ", run_id"), ("key_results", ""))
            }
    finally:
        warehouse.dispose()


def run(config_path: Path, days: list[tuple[date, date]], instance, single_run: bool = False) -> None:
    for first, last in days:
        outcomes = run_partitions(config_path, first, last, instance=instance, single_run=single_run)
        assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]


def test_nightly_after_a_range_equals_one_run_over_the_whole_range(demo_config_path: Path, instance) -> None:
    whole = with_warehouse(demo_config_path, "whole.duckdb")
    nightly = with_warehouse(demo_config_path, "nightly.duckdb")
    backwards = with_warehouse(demo_config_path, "backwards.duckdb")
    single = with_warehouse(demo_config_path, "single.duckdb")
    run(whole, [(FIRST, LAST)], instance)
    run(nightly, [(FIRST, date(2026, 3, 2)), (LAST, LAST)], instance)
    # Days in reverse order, as a parallel backfill may run them: previous values and to-date periods
    # must still come out the same.
    run(
        backwards,
        [(day, day) for day in sorted(pl.date_range(FIRST, LAST, eager=True).to_list(), reverse=True)],
        instance,
    )
    # The range as one run (a single-run backfill), then the nightly run of the last day.
    run(single, [(FIRST, date(2026, 3, 2))], instance, single_run=True)
    run(single, [(LAST, LAST)], instance)
    expected = tables(whole)
    # 6 days, the ISO weeks from Monday 02-23 and 03-02, Feb and Mar, Q1, 2026
    assert expected["kpi_values"].height == 19 * (6 + 2 + 2 + 1 + 1)
    for other in (nightly, backwards, single):
        actual = tables(other)
        for name in expected:
            assert_frame_equal(actual[name], expected[name])
