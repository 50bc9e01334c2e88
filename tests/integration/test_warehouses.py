"""The same partitions loaded into PostgreSQL and MariaDB (the running servers, a fresh database each)
give the same kpi_values and key_results as the embedded DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml
from polars.testing import assert_frame_equal

from kpi.runner import run_partitions
from tests.conftest import SERVERS, new_database

FIRST, LAST = date(2026, 2, 27), date(2026, 3, 2)


@pytest.fixture(params=list(SERVERS))
def server_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards; its URL."""
    with new_database(request.param) as url:
        yield url


def with_warehouse(config_path: Path, url: str, name: str) -> Path:
    data = yaml.safe_load(config_path.read_text())
    data["warehouse"] = url
    path = config_path.with_name(name)
    path.write_text(yaml.safe_dump(data))
    return path


def table(url: str, sql: str) -> pl.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            frame = pl.read_database(sql, connection)
    finally:
        engine.dispose()
    return frame.with_columns(pl.col(pl.Float64, pl.Float32).round(6))


def test_a_server_warehouse_holds_the_same_values_as_duckdb(
    demo_config_path: Path, server_database: str, instance
) -> None:
    duckdb_url = f"duckdb:///{demo_config_path.parent / 'warehouse.duckdb'}"
    server_config = with_warehouse(demo_config_path, server_database, "server.yaml")
    for path in (demo_config_path, server_config):
        outcomes = run_partitions(path, FIRST, LAST, instance=instance)
        assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    kpi_sql = (
        "SELECT kpi_id, grain, period_start, period_end, value, numerator, denominator, previous_value, "
        "year_ago_value, days_covered, is_complete FROM kpi_values ORDER BY kpi_id, grain, period_start"
    )
    expected = table(duckdb_url, kpi_sql)
    actual = table(server_database, kpi_sql).cast(expected.schema)  # MariaDB's booleans are integers
    # 4 days, the ISO weeks from Monday 02-23 and 03-02, Feb and Mar, Q1, 2026
    assert expected.height == 19 * (4 + 2 + 2 + 1 + 1)
    assert_frame_equal(actual, expected)
    kr_sql = (
        "SELECT key_result_id, as_of, actual, days_covered, progress, status FROM key_results "
        "ORDER BY key_result_id, as_of"
    )
    assert_frame_equal(table(server_database, kr_sql), table(duckdb_url, kr_sql))
    scorecard = table(
        server_database, "SELECT key_result_id, as_of FROM okr_scorecard ORDER BY key_result_id"
    )
    assert scorecard["as_of"].unique().to_list() == [LAST] and scorecard.height == 8
    checks = table(
        server_database,
        "SELECT count(*) AS n FROM dq_results WHERE passed = TRUE"
        if "postgresql" in server_database
        else "SELECT count(*) AS n FROM dq_results WHERE passed = 1",
    )
    assert (
        checks["n"][0] == 4 * 13
    )  # a day: 5 sources' quality, 5 entities' unique_keys, kpi_values, key_results, objective_progress
