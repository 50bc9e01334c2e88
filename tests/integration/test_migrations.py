"""Schema migrations on real warehouses (DuckDB files, the running PostgreSQL and MariaDB): a warehouse
of an earlier release, holding rows and a BI user's own view on ours, is brought to the latest shape in
place by `Warehouse.create_tables()` and by a pipeline run."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
import yaml

from kpi import migrations, schema
from kpi.docs import WAREHOUSE_DOC, WAREHOUSE_EXAMPLES, render_warehouse_reference
from kpi.runner import run_partitions
from kpi.warehouse import Warehouse, dispose_all
from tests.conftest import SERVERS, new_database

LAST = date(2026, 3, 2)
STAMP = datetime(2026, 1, 2, tzinfo=UTC)

# The views as the release before migrations created them (bf5e28a), and as issue 7's code did.
RELEASE_1_VIEWS = {
    "okr_scorecard": """
        SELECT o.title AS objective_title, o.owner, d.description, r.*
        FROM key_results r
        JOIN objectives o ON o.objective_id = r.objective_id
        JOIN key_result_definitions d ON d.key_result_id = r.key_result_id
        WHERE r.as_of = (SELECT max(l.as_of) FROM key_results l WHERE l.key_result_id = r.key_result_id)
    """,
    "kpi_latest": """
        SELECT d.name, d.direction, v.*
        FROM kpi_values v
        JOIN kpi_definitions d ON d.kpi_id = v.kpi_id
        WHERE v.period_start = (
            SELECT max(l.period_start) FROM kpi_values l WHERE l.kpi_id = v.kpi_id AND l.grain = v.grain
        )
    """,
}
ISSUE_7_KPI_LATEST = """
    SELECT d.name, d.direction, v.*,
        v.value - v.previous_value AS {change},
        CASE WHEN v.previous_value <> 0 THEN (v.value - v.previous_value) / abs(v.previous_value) END
            AS {change_pct}
    FROM kpi_values v
    JOIN kpi_definitions d ON d.kpi_id = v.kpi_id
    WHERE v.period_start = (
        SELECT max(l.period_start) FROM kpi_values l WHERE l.kpi_id = v.kpi_id AND l.grain = v.grain
    )
"""
# The views as release 2 (schema_version at 2) created them: their columns listed explicitly.
VERSION_2_VIEWS = {
    "okr_scorecard": """
        SELECT o.title AS objective_title, o.owner, d.description, r.objective_id, r.key_result_id,
            r.kpi_id, r.as_of, r.period_start, r.period_end, r.baseline, r.target, r.actual,
            r.days_covered, r.progress_raw, r.progress, r.expected_progress, r.status, r.computed_at
        FROM key_results r
        JOIN objectives o ON o.objective_id = r.objective_id
        JOIN key_result_definitions d ON d.key_result_id = r.key_result_id
        WHERE r.as_of = (SELECT max(l.as_of) FROM key_results l WHERE l.key_result_id = r.key_result_id)
    """,
    "kpi_latest": """
        SELECT d.name, d.direction, v.kpi_id, v.grain, v.period_start, v.period_end, v.value,
            v.numerator, v.denominator, v.previous_value, v.year_ago_value, v.unit, v.days_covered,
            v.is_complete, v.computed_at, v.run_id,
            v.value - v.previous_value AS {change},
            CASE WHEN v.previous_value <> 0 THEN (v.value - v.previous_value) / abs(v.previous_value) END
                AS change_pct
        FROM kpi_values v
        JOIN kpi_definitions d ON d.kpi_id = v.kpi_id
        WHERE v.period_start = (
            SELECT max(l.period_start) FROM kpi_values l WHERE l.kpi_id = v.kpi_id AND l.grain = v.grain
        )
    """,
}
USER_VIEW = "CREATE VIEW my_kpis AS SELECT kpi_id, value FROM kpi_latest"
ALL_VERSIONS = [(1,), (2,), (3,), (4,), (5,), (6,)]


@contextmanager
def empty_warehouse(kind: str, path: Path) -> Iterator[str]:
    """A new, empty warehouse of `kind`: the DuckDB file `path`, or a database on the local PostgreSQL
    or MariaDB."""
    if kind == "duckdb":
        yield f"duckdb:///{path}"
        dispose_all()
        return
    with new_database(kind) as url:
        yield url


@pytest.fixture(params=["duckdb", *SERVERS])
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty warehouse: a DuckDB file, or a database on the local PostgreSQL or MariaDB."""
    with empty_warehouse(request.param, tmp_path / "old.duckdb") as url:
        yield url


@pytest.fixture(params=list(SERVERS))
def server_warehouse(request: pytest.FixtureRequest) -> Iterator[str]:
    with new_database(request.param) as url:
        yield url


def execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def rows(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql)]
    finally:
        engine.dispose()


def columns_of(url: str) -> dict[str, list[str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                name: sorted(migrations.column_names(connection, name))
                for name in schema.metadata.tables
                if sa.inspect(connection).has_table(name)
            }
    finally:
        engine.dispose()


def previous_release_warehouse(url: str, issue_7: bool = False, version_2: bool = False) -> None:
    """A warehouse as the release before migrations left it (migration 1's tables and that release's
    views), holding rows and a BI user's view on kpi_latest; with `issue_7`, as issue 7's code left it
    (the columns it added with ALTER, its kpi_latest with change and change_pct), still without
    schema_version; with `version_2`, as release 2 left it (issue 7's columns, its views, schema_version
    at 2)."""
    issue_7 = issue_7 or version_2
    engine = sa.create_engine(url)
    quote = engine.dialect.identifier_preparer.quote
    tables = migrations.RELEASE_1.tables
    try:
        migrations.RELEASE_1.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                tables["kpi_values"].insert(),
                [
                    {
                        "kpi_id": "revenue",
                        "grain": "year",
                        "period_start": date(2025, 1, 1),
                        "period_end": date(2025, 12, 31),
                        "value": 1234.5,
                        "unit": "currency",
                        "is_complete": True,
                        "computed_at": STAMP,
                    }
                ],
            )
            connection.execute(
                tables["kpi_definitions"].insert(),
                {
                    "kpi_id": "revenue",
                    "name": "Revenue",
                    "formula": "sum(amount)",
                    "unit": "currency",
                    "direction": "higher_is_better",
                    "inputs": "revenue_transactions",
                    "is_ratio": False,
                },
            )
            connection.execute(
                tables["key_results"].insert(),
                {
                    "key_result_id": "kr-old",
                    "as_of": date(2025, 12, 31),
                    "status": "achieved",
                    "computed_at": STAMP,
                },
            )
            connection.execute(
                tables["loaded_partitions"].insert(),
                {
                    "entity": "a_retired_entity",
                    "partition_date": date(2025, 12, 31),
                    "row_count": 3,
                    "loaded_at": STAMP,
                },
            )
            if issue_7:
                for table, columns in migrations.COVERAGE_COLUMNS.items():
                    for column in columns:
                        migrations.add_column_if_missing(connection, table, column)
            views = dict(RELEASE_1_VIEWS)
            if issue_7:
                views["kpi_latest"] = ISSUE_7_KPI_LATEST.format(
                    change=quote("change"), change_pct="change_pct"
                )
            if version_2:
                views = {name: sql.format(change=quote("change")) for name, sql in VERSION_2_VIEWS.items()}
                schema.schema_version.create(connection)
                connection.execute(
                    schema.schema_version.insert(),
                    [{"version": version, "name": "release 2", "applied_at": STAMP} for version in (1, 2)],
                )
            for name, sql in views.items():
                connection.exec_driver_sql(f"CREATE VIEW {name} AS {sql}")
            connection.exec_driver_sql(USER_VIEW)
    finally:
        engine.dispose()


def latest_columns() -> dict[str, list[str]]:
    return {name: sorted(table.columns.keys()) for name, table in schema.metadata.tables.items()}


def test_a_new_warehouse_is_made_at_the_latest_version_and_then_left_alone(any_warehouse: str) -> None:
    Warehouse(any_warehouse).create_tables()
    assert columns_of(any_warehouse) == latest_columns()
    assert rows(any_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    engine = sa.create_engine(any_warehouse)
    try:
        assert not migrations.upgrade(engine).changed  # up to date: nothing but a check
        assert migrations.migrate(engine) == []
    finally:
        engine.dispose()


def test_a_previous_release_warehouse_is_migrated_in_place_with_its_rows_and_a_users_view(
    any_warehouse: str,
) -> None:
    previous_release_warehouse(any_warehouse)
    engine = sa.create_engine(any_warehouse)
    try:
        with engine.connect() as connection:
            assert migrations.detect_version(migrations.existing_columns(connection)) == 1
        done = migrations.upgrade(engine)
    finally:
        engine.dispose()
    assert (
        done.migrations == [2, 3, 4, 5, 6]
        and set(done.views) == {"okr_scorecard", "kpi_latest"}
        and done.comments
    )
    assert columns_of(any_warehouse) == latest_columns()
    assert rows(any_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    assert rows(
        any_warehouse,
        "SELECT value, year_ago_value, days_covered, dimension, dimension_value FROM kpi_values",
    ) == [(1234.5, None, None, "", "")]
    assert rows(any_warehouse, "SELECT status, days_covered FROM key_results") == [("achieved", None)]
    assert rows(any_warehouse, "SELECT row_count, sources FROM loaded_partitions") == [(3, None)]
    # The user's view on kpi_latest survived the new kpi_latest (on PostgreSQL: recreated around it).
    assert rows(any_warehouse, "SELECT kpi_id, value FROM my_kpis") == [("revenue", 1234.5)]
    latest = rows(any_warehouse, "SELECT name, year_ago_value, days_covered, change_pct FROM kpi_latest")
    assert latest == [("Revenue", None, None, None)]


def test_a_warehouse_of_issue_7_without_schema_version_is_recognized_as_version_2(any_warehouse: str) -> None:
    previous_release_warehouse(any_warehouse, issue_7=True)
    engine = sa.create_engine(any_warehouse)
    try:
        with engine.connect() as connection:
            assert migrations.detect_version(migrations.existing_columns(connection)) == 2
        done = migrations.upgrade(engine)
    finally:
        engine.dispose()
    assert done.migrations == [3, 4, 5, 6]  # versions 1 and 2 only recorded
    assert rows(any_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    assert columns_of(any_warehouse) == latest_columns()
    assert rows(any_warehouse, "SELECT kpi_id, value FROM my_kpis") == [("revenue", 1234.5)]


def test_a_warehouse_with_only_some_of_the_first_releases_tables_gets_the_rest(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    engine = sa.create_engine(url)
    try:
        migrations.RELEASE_1.tables["kpi_values"].create(engine)
        execute(
            url,
            "INSERT INTO kpi_values (kpi_id, grain, period_start, computed_at) VALUES ('nps', 'day', '2025-01-01', now())",
        )
        assert migrations.upgrade(engine).migrations == [1, 2, 3, 4, 5, 6]
    finally:
        engine.dispose()
    assert columns_of(url) == latest_columns()
    assert rows(url, "SELECT kpi_id, days_covered FROM kpi_values") == [("nps", None)]


def insert(url: str, table: str, *values: dict) -> None:
    """Insert rows into `table`, in one transaction."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            for row in values:
                connection.execute(sa.table(table, *map(sa.column, row)).insert(), row)
    finally:
        engine.dispose()


def kpi_value(period_start: date, value: float, **more: object) -> dict:
    """A revenue month row of kpi_values (with `more`: the dimension, other columns)."""
    return {
        "kpi_id": "revenue",
        "grain": "month",
        "period_start": period_start,
        "value": value,
        "unit": "currency",
        "is_complete": True,
        "computed_at": STAMP,
        **more,
    }


def column_comment(url: str, table: str, column: str) -> str | None:
    if url.startswith("postgresql"):
        sql = (
            f"SELECT col_description('{table}'::regclass, attnum) FROM pg_attribute "
            f"WHERE attrelid = '{table}'::regclass AND attname = '{column}'"
        )
    elif url.startswith("mysql"):
        sql = (
            "SELECT COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}'"
        )
    else:
        sql = (
            f"SELECT comment FROM duckdb_columns() WHERE table_name = '{table}' AND column_name = '{column}'"
        )
    ((comment,),) = rows(url, sql)
    return comment


def test_a_version_2_warehouse_gets_dimensions_in_kpi_values_key_with_its_rows_and_a_users_view(
    any_warehouse: str,
) -> None:
    previous_release_warehouse(any_warehouse, version_2=True)
    execute(any_warehouse, "CREATE VIEW my_values AS SELECT kpi_id, grain, value FROM kpi_values")
    insert(
        any_warehouse,
        "kpi_values",
        kpi_value(date(2025, 11, 1), 100.0, days_covered=30),
        kpi_value(date(2025, 12, 1), 110.0, previous_value=100.0, year_ago_value=90.0, days_covered=31),
    )
    engine = sa.create_engine(any_warehouse)
    try:
        with engine.connect() as connection:
            assert migrations.read_state(connection).version == 2
        done = migrations.upgrade(engine)
    finally:
        engine.dispose()
    assert done.migrations == [3, 4, 5, 6] and "kpi_latest" in done.views and done.comments
    assert rows(any_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    assert columns_of(any_warehouse) == latest_columns()
    # Every row kept, every column with it: the existing rows are the totals ('' and '').
    assert rows(
        any_warehouse,
        "SELECT kpi_id, grain, period_start, period_end, dimension, dimension_value, value, previous_value, "
        "year_ago_value, unit, days_covered, is_complete FROM kpi_values ORDER BY grain, period_start",
    ) == [
        ("revenue", "month", date(2025, 11, 1), None, "", "", 100.0, None, None, "currency", 30, True),
        ("revenue", "month", date(2025, 12, 1), None, "", "", 110.0, 100.0, 90.0, "currency", 31, True),
        (
            "revenue",
            "year",
            date(2025, 1, 1),
            date(2025, 12, 31),
            "",
            "",
            1234.5,
            None,
            None,
            "currency",
            None,
            True,
        ),
    ]
    assert rows(
        any_warehouse,
        "SELECT kpi_id, name, is_ratio, numerator, denominator, scale, dimensions, declared_in "
        "FROM kpi_definitions",
    ) == [("revenue", "Revenue", False, None, None, None, None, None)]
    # The new key: rows differing only in their dimension value are kept apart; a true duplicate is
    # refused, and so is a row that leaves the dimension out (its default: the total) beside a total.
    insert(
        any_warehouse,
        "kpi_values",
        kpi_value(date(2025, 12, 1), 60.0, dimension="region", dimension_value="EU"),
        kpi_value(date(2025, 12, 1), 50.0, dimension="region", dimension_value="US"),
        kpi_value(date(2026, 1, 1), 70.0, dimension="region", dimension_value="EU", previous_value=60.0),
    )
    with pytest.raises(sa.exc.IntegrityError):
        insert(
            any_warehouse,
            "kpi_values",
            kpi_value(date(2025, 12, 1), 1.0, dimension="region", dimension_value="EU"),
        )
    with pytest.raises(sa.exc.IntegrityError):
        insert(any_warehouse, "kpi_values", kpi_value(date(2025, 12, 1), 1.0))
    assert rows(any_warehouse, "SELECT count(*) FROM kpi_values") == [(6,)]
    # kpi_latest: the latest period of each dimension value, the total apart.
    assert rows(
        any_warehouse,
        "SELECT grain, dimension, dimension_value, period_start, value, change_pct FROM kpi_latest "
        "ORDER BY grain, dimension, dimension_value",
    ) == [
        ("month", "", "", date(2025, 12, 1), 110.0, pytest.approx(0.1)),
        ("month", "region", "EU", date(2026, 1, 1), 70.0, pytest.approx(1 / 6)),
        ("month", "region", "US", date(2025, 12, 1), 50.0, None),
        ("year", "", "", date(2025, 1, 1), 1234.5, None),
    ]
    # The BI user's view on kpi_latest survived (on PostgreSQL: set aside and recreated around it).
    assert rows(any_warehouse, "SELECT kpi_id, value FROM my_kpis ORDER BY value") == [
        ("revenue", 50.0),
        ("revenue", 70.0),
        ("revenue", 110.0),
        ("revenue", 1234.5),
    ]
    # And the one on kpi_values itself (PostgreSQL would refuse to change the key columns' types under it).
    assert rows(any_warehouse, "SELECT count(*), sum(value) FROM my_values") == [(6, 1624.5)]
    for table_name, column in [("kpi_values", "dimension_value"), ("kpi_definitions", "declared_in")]:
        assert (
            column_comment(any_warehouse, table_name, column)
            == schema.metadata.tables[table_name].c[column].comment
        )


def shape_of(url: str) -> dict[str, object]:
    """Each table and view of kpi/schema.py as the database's catalog describes it: its columns' types,
    lengths, nullability and defaults, and its primary key."""
    engine = sa.create_engine(url)
    here = {  # the tables of the warehouse's own schema (or database), {t}: a qualifier
        "postgresql": "{t}table_schema = current_schema()",
        "duckdb": "{t}table_schema = current_schema() AND {t}table_catalog = current_database()",
    }.get(engine.dialect.name, "{t}table_schema = DATABASE()")
    ours = set(schema.metadata.tables) | set(schema.VIEWS)
    try:
        with engine.connect() as connection:
            columns = connection.exec_driver_sql(
                "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
                f"column_default FROM information_schema.columns WHERE {here.format(t='')}"
            ).all()
            keys = connection.exec_driver_sql(
                "SELECT t.table_name, k.column_name FROM information_schema.table_constraints t "
                "JOIN information_schema.key_column_usage k ON k.constraint_schema = t.constraint_schema "
                "AND k.constraint_name = t.constraint_name AND k.table_name = t.table_name "
                f"WHERE t.constraint_type = 'PRIMARY KEY' AND {here.format(t='t.')} ORDER BY t.table_name, k.ordinal_position"
            ).all()
    finally:
        engine.dispose()
    shape: dict[str, object] = {
        f"{table}.{column}": tuple(rest) for table, column, *rest in columns if table in ours
    }
    for table in sorted({table for table, _ in keys}):
        shape[f"{table} primary key"] = [column for name, column in keys if name == table]
    return shape


@pytest.mark.parametrize("kind", ["duckdb", *SERVERS])
def test_an_upgraded_warehouse_has_the_shape_of_a_new_one(kind: str, tmp_path: Path) -> None:
    with (
        empty_warehouse(kind, tmp_path / "upgraded.duckdb") as upgraded,
        empty_warehouse(kind, tmp_path / "new.duckdb") as new,
    ):
        previous_release_warehouse(upgraded, version_2=True)
        Warehouse(upgraded).create_tables()
        Warehouse(new).create_tables()
        dispose_all()
        new_shape = shape_of(new)
        assert new_shape["kpi_values primary key"] == list(migrations.KPI_VALUES_KEY)
        assert shape_of(upgraded) == new_shape


def with_warehouse(config_path: Path, url: str) -> Path:
    data = yaml.safe_load(config_path.read_text())
    data["warehouse"] = url
    path = config_path.with_name("upgraded.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def table(url: str, sql: str) -> pl.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return pl.read_database(sql, connection)
    finally:
        engine.dispose()


def test_a_warehouse_of_the_previous_release_gets_the_new_columns_and_keeps_its_rows(
    demo_config_path: Path, any_warehouse: str, instance
) -> None:
    previous_release_warehouse(any_warehouse)
    config = with_warehouse(demo_config_path, any_warehouse)
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
    # The BI user's view on kpi_latest survived the run and reads the run's values.
    mine = table(
        any_warehouse, "SELECT kpi_id, value FROM my_kpis WHERE kpi_id = 'revenue' AND value IS NOT NULL"
    )
    assert mine.height >= 1
    assert rows(any_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS


def test_a_users_view_on_a_new_warehouse_survives_the_next_run(
    demo_config_path: Path, any_warehouse: str, instance
) -> None:
    config = with_warehouse(demo_config_path, any_warehouse)
    assert all(outcome.success for outcome in run_partitions(config, LAST, LAST, instance=instance))
    execute(any_warehouse, USER_VIEW)
    dispose_all()
    # The next release changes kpi_latest's definition (same columns): the view is replaced, ours kept.
    schema.VIEWS["kpi_latest"] = schema.View(
        name="kpi_latest",
        comment=schema.kpi_latest.comment,
        sql=schema.kpi_latest.sql.replace("FROM kpi_values v", "FROM kpi_values v /* next release */"),
        columns=schema.kpi_latest.columns,
    )
    try:
        assert all(outcome.success for outcome in run_partitions(config, LAST, LAST, instance=instance))
        engine = sa.create_engine(any_warehouse)
        try:
            with engine.connect() as connection:
                applied = migrations.read_state(connection).applied
        finally:
            engine.dispose()
        assert applied["view:kpi_latest"] == migrations._hash(
            schema.VIEWS["kpi_latest"].render(engine.dialect)
        )
    finally:
        schema.VIEWS["kpi_latest"] = schema.kpi_latest
    assert rows(any_warehouse, "SELECT count(*) FROM my_kpis WHERE value IS NOT NULL")[0][0] > 0
    # docs/warehouse.md's example queries run as they are printed; those that do not need a complete
    # previous month find rows after this one-day run.
    found = [bool(rows(any_warehouse, sql.rstrip(";"))) for _, sql in WAREHOUSE_EXAMPLES]
    assert found[:2] == [True, True] and found[3], found


def test_a_warehouse_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    Warehouse(url).create_tables()
    dispose_all()
    execute(url, "INSERT INTO schema_version VALUES (99, 'from the future', now())")
    engine = sa.create_engine(url)
    try:
        with pytest.raises(migrations.NewerWarehouseError, match="version 99"):
            migrations.upgrade(engine)
    finally:
        engine.dispose()


def test_postgresql_recreates_a_users_views_with_their_comments_and_grants() -> None:
    with new_database("postgresql") as url:
        previous_release_warehouse(url)
        execute(
            url,
            "CREATE VIEW my_kpis_on_mine AS SELECT kpi_id FROM my_kpis",
            "COMMENT ON VIEW my_kpis IS 'revenue for the board'",
            "GRANT SELECT ON my_kpis TO PUBLIC",
        )
        Warehouse(url).create_tables()
        assert rows(url, "SELECT kpi_id FROM my_kpis_on_mine") == [("revenue",)]
        assert rows(url, "SELECT obj_description('my_kpis'::regclass, 'pg_class')") == [
            ("revenue for the board",)
        ]
        assert rows(url, "SELECT has_table_privilege('public', 'my_kpis', 'SELECT')") == [(True,)]
        # kpi_latest's columns are now ours, listed explicitly.
        assert rows(
            url, "SELECT attname FROM pg_attribute WHERE attrelid = 'kpi_latest'::regclass AND attnum > 0"
        )[-4:] == [("change",), ("change_pct",), ("dimension",), ("dimension_value",)]


def test_comments_reach_postgresql_and_mariadb(server_warehouse: str) -> None:
    Warehouse(server_warehouse).create_tables()
    expected = schema.kpi_values.c.previous_value.comment
    if server_warehouse.startswith("postgresql"):
        assert rows(server_warehouse, "SELECT obj_description('kpi_values'::regclass, 'pg_class')") == [
            (schema.kpi_values.comment,)
        ]
        column = rows(
            server_warehouse,
            "SELECT col_description('kpi_values'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'kpi_values'::regclass AND attname = 'previous_value'",
        )
        assert column == [(expected,)]
        view_column = rows(
            server_warehouse,
            "SELECT col_description('kpi_latest'::regclass, attnum) FROM pg_attribute "
            "WHERE attrelid = 'kpi_latest'::regclass AND attname = 'change_pct'",
        )
        assert view_column == [(schema.kpi_latest.columns["change_pct"],)]
        return
    assert rows(
        server_warehouse,
        "SELECT COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'kpi_values' AND COLUMN_NAME = 'previous_value'",
    ) == [(expected,)]
    assert rows(
        server_warehouse,
        "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'kpi_values'",
    ) == [(schema.kpi_values.comment,)]
    # MODIFY kept the key and the NOT NULLs.
    assert rows(
        server_warehouse,
        "SELECT COLUMN_NAME, IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'kpi_values' AND COLUMN_KEY = 'PRI' ORDER BY ORDINAL_POSITION",
    ) == [
        ("kpi_id", "NO"),
        ("grain", "NO"),
        ("period_start", "NO"),
        ("dimension", "NO"),
        ("dimension_value", "NO"),
    ]


def test_comments_reach_duckdb(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    Warehouse(url).create_tables()
    dispose_all()
    assert rows(
        url,
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'kpi_values' AND column_name = 'previous_value'",
    ) == [(schema.kpi_values.c.previous_value.comment,)]
    assert rows(url, "SELECT comment FROM duckdb_views() WHERE view_name = 'kpi_latest'") == [
        (schema.kpi_latest.comment,)
    ]


UPGRADE_SCRIPT = """
import sys
import sqlalchemy as sa
from kpi.migrations import upgrade
engine = sa.create_engine(sys.argv[1])
print(upgrade(engine).migrations)
"""


def test_two_processes_migrating_at_once_both_succeed(server_warehouse: str) -> None:
    previous_release_warehouse(server_warehouse)
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_SCRIPT, server_warehouse],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], [err for _, err in results]
    assert sorted(out.strip() for out, _ in results) == [
        "[2, 3, 4, 5, 6]",
        "[]",
    ]  # one migrated, the other waited
    assert rows(server_warehouse, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    assert rows(server_warehouse, "SELECT kpi_id, value FROM my_kpis") == [("revenue", 1234.5)]


def test_docs_warehouse_md_is_up_to_date() -> None:
    assert WAREHOUSE_DOC.read_text() == render_warehouse_reference(), (
        "docs/warehouse.md is stale: run `make docs`"
    )


def test_an_upgrade_whose_quick_check_races_another_process_s_ddl_reads_again_under_the_lock(
    mariadb_database: str,
) -> None:
    """MariaDB refuses a read of a table whose definition another connection changed after the reading
    transaction's snapshot began (error 1412, "please retry transaction"): two `kpi run` starting at
    once on one warehouse met it when one's unlocked quick check read while the other set the comments.
    Here a second connection rebuilds schema_objects between the check's two reads, once each time."""
    engine = sa.create_engine(mariadb_database)
    other = sa.create_engine(mariadb_database)
    try:
        migrations.upgrade(engine)

        rebuilt: list[str] = []

        def change_the_table_under_the_read(connection, cursor, statement, parameters, context, many) -> None:
            if "definition_hash" in statement and "FROM schema_objects" in statement and not rebuilt:
                rebuilt.append(statement)
                with other.begin() as ddl:
                    ddl.exec_driver_sql("ALTER TABLE schema_objects FORCE")  # a rebuild: a new table

        sa.event.listen(engine, "before_cursor_execute", change_the_table_under_the_read)
        try:
            with engine.connect() as connection, pytest.raises(sa.exc.OperationalError, match="1412"):
                migrations.read_state(connection)  # the race is real
            rebuilt.clear()
            assert not migrations.upgrade(engine).changed  # read again under the lock: nothing to do
            assert len(rebuilt) == 1
        finally:
            sa.event.remove(engine, "before_cursor_execute", change_the_table_under_the_read)
    finally:
        engine.dispose()
        other.dispose()


def test_an_upgrade_whose_quick_check_describes_a_table_being_created_reads_again_under_the_lock(
    mariadb_database: str,
) -> None:
    """MariaDB refuses to describe a table that another connection's DDL holds, when the describing
    transaction holds other tables (error 1684, "skipped since its definition is being modified by
    concurrent DDL statement"): CI met it when two processes upgraded a release-2 warehouse at once and
    one's unlocked quick check described schema_objects while the other created it. Here a second
    connection creates a table of that name under the check, held half-made by a named lock the test
    holds (CREATE TABLE ... AS SELECT GET_LOCK), and drops it before the read under the lock."""
    previous_release_warehouse(mariadb_database, version_2=True)
    engine = sa.create_engine(mariadb_database)
    other = sa.create_engine(mariadb_database)
    creating: list[threading.Thread] = []
    dropped: list[bool] = []
    errors: list[int] = []
    gate = f"'kpi_test_gate:{sa.make_url(mariadb_database).database}'"  # a lock name of this test's own
    holder = other.connect()
    holder.exec_driver_sql(f"SELECT GET_LOCK({gate}, 0)")

    def create_slowly() -> None:
        with other.begin() as ddl:
            ddl.exec_driver_sql(f"CREATE TABLE schema_objects AS SELECT GET_LOCK({gate}, 60) AS pause")

    def describe_while_created(connection, cursor, statement, parameters, context, many) -> None:
        if not (statement.startswith("DESCRIBE") and "schema_objects" in statement):
            return
        if not creating:
            creating.append(threading.Thread(target=create_slowly))
            creating[0].start()
            deadline = time.monotonic() + 30
            while not rows(
                mariadb_database,
                "SELECT id FROM information_schema.processlist"
                " WHERE INSTR(info, 'CREATE TABLE schema_objects') = 1 AND state = 'User lock'",
            ):
                assert time.monotonic() < deadline, "the slow CREATE TABLE never started"
                time.sleep(0.05)
        elif not dropped:  # the read under the lock: the other connection's DDL ends first
            holder.exec_driver_sql(f"SELECT RELEASE_LOCK({gate})")
            creating[0].join()
            execute(mariadb_database, "DROP TABLE schema_objects")
            dropped.append(True)

    def remember(context: sa.engine.ExceptionContext) -> None:
        errors.append(getattr(context.original_exception, "args", (None,))[0])

    sa.event.listen(engine, "before_cursor_execute", describe_while_created)
    sa.event.listen(engine, "handle_error", remember)
    try:
        assert migrations.upgrade(engine).migrations == [3, 4, 5, 6]
        no_such_table = 1146  # has_table's DESCRIBE of a table not made yet
        assert [code for code in errors if code != no_such_table] == [1684]  # the race is real, met once
        assert len(creating) == 1
    finally:
        holder.exec_driver_sql(f"SELECT RELEASE_LOCK({gate})")
        holder.close()
        if creating:
            creating[0].join()
        engine.dispose()
        other.dispose()
    assert rows(mariadb_database, "SELECT version FROM schema_version ORDER BY version") == ALL_VERSIONS
    assert rows(mariadb_database, "SELECT kpi_id, value FROM my_kpis") == [("revenue", 1234.5)]


def test_a_day_loaded_in_the_second_its_kpis_were_computed_is_recomputed(any_warehouse: str) -> None:
    """Timestamps keep microseconds on every warehouse (migration 6: MariaDB's plain DATETIME keeps
    whole seconds): a load 0.5 s after the computation, in the same second, is after it."""
    from kpi.warehouse import KPI_VALUES_DAYS, record_loaded_days

    warehouse = Warehouse(any_warehouse)
    warehouse.create_tables()
    day = date(2026, 1, 5)
    computed_at = datetime(2026, 1, 6, 2, 0, 0, 200_000, tzinfo=UTC)
    with warehouse.transaction() as connection:
        record_loaded_days(warehouse, connection, "revenue_transactions", [day], {day: 3}, "r1", computed_at)
        record_loaded_days(warehouse, connection, KPI_VALUES_DAYS, [day], {}, "r1", computed_at)
    assert warehouse.days_to_recompute(KPI_VALUES_DAYS, ["revenue_transactions"]) == []
    with warehouse.transaction() as connection:  # a restatement, half a second later
        reloaded_at = computed_at.replace(microsecond=700_000)
        record_loaded_days(warehouse, connection, "revenue_transactions", [day], {day: 4}, "r2", reloaded_at)
    assert warehouse.days_to_recompute(KPI_VALUES_DAYS, ["revenue_transactions"]) == [day]
    [(loaded_at,)] = rows(
        any_warehouse, "SELECT loaded_at FROM loaded_partitions WHERE entity = 'revenue_transactions'"
    )
    assert loaded_at.microsecond == 700_000


def test_migration_6_gives_a_mariadb_warehouse_microseconds_and_raw_rows_of_any_size(
    mariadb_database: str,
) -> None:
    """The migrations alone (`migrate`; an upgrade's comments step rewrites every column too)."""
    previous_release_warehouse(mariadb_database, version_2=True)
    engine = sa.create_engine(mariadb_database)
    try:
        assert migrations.migrate(engine) == [3, 4, 5, 6]
    finally:
        engine.dispose()
    stamps = rows(
        mariadb_database,
        "SELECT c.table_name, c.column_name, c.datetime_precision FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE c.table_schema = DATABASE() AND c.data_type = 'datetime' AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.column_name",
    )
    declared = sorted(
        (table.name, column.name, 6)
        for table in schema.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, sa.DateTime)
    )
    assert stamps == declared
    assert rows(
        mariadb_database,
        "SELECT data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = 'quarantine' AND column_name = 'raw_row'",
    ) == [("longtext", "NO")]
    # The rows kept, their stamps too.
    assert rows(mariadb_database, "SELECT row_count, loaded_at FROM loaded_partitions") == [
        (3, STAMP.replace(tzinfo=None))
    ]
