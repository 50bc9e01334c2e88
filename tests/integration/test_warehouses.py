"""The same partitions loaded into PostgreSQL and MariaDB (the running servers, a fresh database each)
give the same kpi_values and key_results as the embedded DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
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
    assert expected.height == 19 * (4 + 2 + 1 + 1)
    assert_frame_equal(actual, expected)
    kr_sql = (
        "SELECT key_result_id, as_of, actual, days_covered, progress, status FROM key_results "
        "ORDER BY key_result_id, as_of"
    )
    assert_frame_equal(table(server_database, kr_sql), table(duckdb_url, kr_sql))
    scorecard = table(
        server_database, "SELECT key_result_id, as_of FROM okr_scorecard ORDER BY key_result_id"
    )
    assert scorecard["as_of"].unique().to_list() == [LAST] and scorecard.height == 7
    checks = table(
        server_database,
        "SELECT count(*) AS n FROM dq_results WHERE passed = TRUE"
        if "postgresql" in server_database
        else "SELECT count(*) AS n FROM dq_results WHERE passed = 1",
    )
    assert (
        checks["n"][0] == 4 * 12
    )  # a day: 5 sources' quality, 5 entities' unique_keys, kpi_values, key_results


def previous_release_tables(url: str) -> None:
    """kpi_values and key_results as the previous release created them (before year_ago_value and
    days_covered), each with one row."""
    old = sa.MetaData()
    text, day, number = sa.String(255), sa.Date(), sa.Double()
    kpi_values = sa.Table(
        "kpi_values",
        old,
        *(sa.Column(name, text, primary_key=True) for name in ("kpi_id", "grain")),
        sa.Column("period_start", day, primary_key=True),
        sa.Column("period_end", day),
        *(sa.Column(name, number) for name in ("value", "numerator", "denominator", "previous_value")),
        sa.Column("unit", text),
        sa.Column("is_complete", sa.Boolean()),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", text),
    )
    key_results = sa.Table(
        "key_results",
        old,
        *(sa.Column(name, text) for name in ("objective_id", "kpi_id")),
        sa.Column("key_result_id", text, primary_key=True),
        sa.Column("as_of", day, primary_key=True),
        *(sa.Column(name, day) for name in ("period_start", "period_end")),
        *(
            sa.Column(name, number)
            for name in ("baseline", "target", "actual", "progress_raw", "progress", "expected_progress")
        ),
        sa.Column("status", text),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    )
    engine = sa.create_engine(url)
    try:
        old.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                kpi_values.insert(),
                {
                    "kpi_id": "revenue",
                    "grain": "year",
                    "period_start": date(2025, 1, 1),
                    "value": 1234.5,
                    "unit": "currency",
                    "is_complete": True,
                    "computed_at": datetime(2026, 1, 2, tzinfo=UTC),
                },
            )
            connection.execute(
                key_results.insert(),
                {
                    "key_result_id": "kr-old",
                    "as_of": date(2025, 12, 31),
                    "status": "achieved",
                    "computed_at": datetime(2026, 1, 2, tzinfo=UTC),
                },
            )
    finally:
        engine.dispose()


@pytest.fixture(params=["duckdb", *SERVERS])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "duckdb":
        yield f"duckdb:///{tmp_path / 'old.duckdb'}"
        return
    with new_database(request.param) as url:
        yield url


def test_a_warehouse_of_the_previous_release_gets_the_new_columns_and_keeps_its_rows(
    demo_config_path: Path, any_warehouse: str, instance
) -> None:
    previous_release_tables(any_warehouse)
    config = with_warehouse(demo_config_path, any_warehouse, "upgraded.yaml")
    outcomes = run_partitions(config, LAST, LAST, instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    kept = table(
        any_warehouse,
        "SELECT value, year_ago_value, days_covered FROM kpi_values WHERE period_start = '2025-01-01'",
    )
    assert kept.rows() == [(1234.5, None, None)]  # the old row, untouched: nothing recomputed 2025
    assert table(
        any_warehouse, "SELECT status, days_covered FROM key_results WHERE key_result_id = 'kr-old'"
    ).rows() == [("achieved", None)]
    # The run's own rows fill the new columns: the day it loaded is one covered day.
    day = table(
        any_warehouse,
        f"SELECT days_covered FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'day' AND period_start = '{LAST}'",
    )
    assert day.rows() == [(1,)]
    latest = table(any_warehouse, "SELECT * FROM kpi_latest")
    assert {"change", "change_pct", "year_ago_value", "days_covered"} <= set(latest.columns)
