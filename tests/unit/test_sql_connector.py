"""The `sql` connector on real databases: SQLite files, and the running PostgreSQL and MariaDB servers
(a uniquely named schema or database per test, dropped afterwards; with CI=true a missing server fails
the test instead of skipping it).

Each source holds one row a day from 2026-01-01 to 2026-01-10; the window asks for the 4th to the 6th,
so a window pushed down returns the 3rd to the 7th (one day of slack each side), and a window not
pushed down returns all ten days (the mapping cuts them after parsing)."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from connectors import ExtractWindow, SourceError
from connectors.sql import SqlConnector, SqlOptions, scrub
from tests.conftest import POSTGRES, server_engine

ZERO_DATES_CASE = Path("/work/shared/cases/mysql-zero-dates/setup.sql")

DAYS = [date(2026, 1, 1) + timedelta(days=offset) for offset in range(10)]
WINDOW = ExtractWindow(date(2026, 1, 4), date(2026, 1, 6))
PUSHED_DAYS = [date(2026, 1, day) for day in range(3, 8)]
EMPTY_WINDOW = ExtractWindow(date(2030, 1, 1), date(2030, 1, 1))
NOT_PUSHED = "; all rows read and cut after parsing"


def connector(base_dir: Path, source_name: str = "erp", **options: object) -> SqlConnector:
    return SqlConnector(source_name, SqlOptions.model_validate(options), base_dir)


def read(source: SqlConnector, window: ExtractWindow | None, date_column: str | None) -> pl.DataFrame:
    frames = list(source.extract(window, date_column))
    assert all(isinstance(frame, pl.DataFrame) for frame in frames)
    return pl.concat(frames)


# --- SQLite --------------------------------------------------------------------------------------


def sqlite_database(path: Path, ddl: str, rows: Sequence[tuple[object, ...]]) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute(ddl)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            table = ddl.split()[2]
            connection.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
    connection.close()
    return path


@pytest.fixture
def iso_invoices(tmp_path: Path) -> Path:
    """invoices(invoice_no, invoice_date DATE, total): ISO text dates (SQLite stores a DATE as text)."""
    return sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE invoices (invoice_no TEXT, invoice_date DATE, total REAL)",
        [(f"inv-{day.day}", day.isoformat(), float(day.day)) for day in DAYS],
    )


def test_sqlite_us_text_dates_are_not_pushed_down_and_every_row_is_read(tmp_path: Path) -> None:
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE invoices (invoice_no TEXT, invoice_date TEXT, total REAL)",
        [(f"inv-{day.day}", day.strftime("%m/%d/%Y"), float(day.day)) for day in DAYS],
    )
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")

    frame = read(source, WINDOW, "invoice_date")

    # '01/03/2026' < '01/08/2026' as text would work here by luck; '12/31/2025' would not: not pushed.
    assert frame["invoice_date"].to_list() == [day.strftime("%m/%d/%Y") for day in DAYS]
    assert source.window_pushed_down is False
    assert source.window_note == (
        "window not pushed down: invoice_date is TEXT on SQLite and 10 value(s) are not ISO dates "
        f"(e.g. '01/01/2026'){NOT_PUSHED}"
    )


def test_sqlite_one_non_iso_value_keeps_the_window_from_being_pushed_down(tmp_path: Path) -> None:
    rows = [(f"inv-{day.day}", day.isoformat()) for day in DAYS] + [("inv-x", "5 Jan 2026"), ("inv-n", None)]
    sqlite_database(
        tmp_path / "erp.sqlite", "CREATE TABLE invoices (invoice_no TEXT, invoice_date TEXT)", rows
    )
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")

    frame = read(source, WINDOW, "invoice_date")

    assert frame.height == 12
    assert source.window_note == (
        "window not pushed down: invoice_date is TEXT on SQLite and 1 value(s) are not ISO dates "
        f"(e.g. '5 Jan 2026'){NOT_PUSHED}"
    )


def test_sqlite_iso_text_dates_are_pushed_down(tmp_path: Path, iso_invoices: Path) -> None:
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")

    frame = read(source, WINDOW, "invoice_date")

    # The driver's text, untouched (no SQLAlchemy date processing of the DATE declaration).
    assert frame.schema == pl.Schema(
        {"invoice_no": pl.String, "invoice_date": pl.String, "total": pl.Float64}
    )
    assert frame.rows() == [(f"inv-{day.day}", day.isoformat(), float(day.day)) for day in PUSHED_DAYS]
    assert source.window_pushed_down is True
    assert source.window_note == "window pushed down on invoice_date (ISO text)"


def test_sqlite_a_pushed_window_is_read_through_the_date_s_index(tmp_path: Path) -> None:
    # A nightly run reads one day of years of invoices: SQLite must search the date's index, not scan
    # the table (an OR of the window and IS NULL in one WHERE made it scan a NOT NULL column's table).
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE invoices (invoice_no TEXT PRIMARY KEY, invoice_date TEXT NOT NULL, total REAL)",
        [(f"inv-{day.day}", day.isoformat(), float(day.day)) for day in DAYS],
    )
    with sqlite3.connect(tmp_path / "erp.sqlite") as connection:
        connection.execute("CREATE INDEX invoices_date ON invoices (invoice_date)")
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")
    engine = source.engine()
    try:
        with engine.connect() as connection:
            plan = source.plan(connection, WINDOW, "invoice_date")
            compiled = plan.statement.compile(engine)
            parameters = tuple(compiled.params[name] for name in compiled.positiontup or [])
            steps = [
                row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters)
            ]
    finally:
        engine.dispose()
    assert plan.pushed_down
    assert any("USING INDEX invoices_date (invoice_date>? AND invoice_date<?)" in step for step in steps), (
        steps
    )
    assert not any(step == "SCAN invoices" for step in steps), steps


def test_sqlite_a_row_without_a_date_comes_with_every_pushed_window(tmp_path: Path) -> None:
    # The window is filtered in SQL, where NULL is in no range: the filter asks for it explicitly, so
    # the mapping sees the row and quarantines it (missing:invoice_date) instead of losing it.
    rows = [(f"inv-{day.day}", day.isoformat()) for day in DAYS] + [("inv-none", None)]
    sqlite_database(
        tmp_path / "erp.sqlite", "CREATE TABLE invoices (invoice_no TEXT, invoice_date DATE)", rows
    )
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")

    for window, days in [(WINDOW, PUSHED_DAYS), (EMPTY_WINDOW, [])]:
        frame = read(source, window, "invoice_date")
        assert frame.rows() == [(f"inv-{day.day}", day.isoformat()) for day in days] + [("inv-none", None)]
        assert source.window_pushed_down is True
        assert source.window_note == "window pushed down on invoice_date (ISO text)"

    # And a snapshot after a pushed extract says it pushed nothing down.
    assert read(source, None, "invoice_date").height == 11
    assert source.window_pushed_down is False
    assert source.window_note is None


def test_sqlite_iso_timestamps_late_on_the_last_slack_day_are_in_and_the_next_day_is_out(
    tmp_path: Path,
) -> None:
    sqlite_database(
        tmp_path / "events.sqlite",
        "CREATE TABLE events (event_id TEXT, happened_at TIMESTAMP)",
        [
            ("first-slack", "2026-01-03 00:00:00"),
            ("before", "2026-01-02T23:59:59"),
            ("last-slack", "2026-01-07T23:59:59"),
            ("beyond", "2026-01-08T00:00:00"),
        ],
    )
    source = connector(tmp_path, url="sqlite:///events.sqlite", table="events")

    assert read(source, WINDOW, "happened_at")["event_id"].to_list() == ["first-slack", "last-slack"]
    assert source.window_pushed_down is True


def test_sqlite_query_is_not_pushed_down_unless_filter_at_source(tmp_path: Path, iso_invoices: Path) -> None:
    query = "SELECT invoice_no, invoice_date AS booked, total * 2 AS doubled FROM invoices;"

    unfiltered = connector(tmp_path, url="sqlite:///erp.sqlite", query=query)
    frame = read(unfiltered, WINDOW, "booked")
    assert frame.columns == ["invoice_no", "booked", "doubled"]
    assert frame["booked"].to_list() == [day.isoformat() for day in DAYS]
    assert unfiltered.window_pushed_down is False
    assert unfiltered.window_note == (
        "window not pushed down: the type of booked is not known (a query, or an unreflected table; "
        f"set filter_at_source: true if it is a date, a timestamp or ISO text){NOT_PUSHED}"
    )

    # options.date_column wins over the mapping's column.
    filtered = connector(
        tmp_path, url="sqlite:///erp.sqlite", query=query, filter_at_source=True, date_column="booked"
    )
    frame = read(filtered, WINDOW, "not_a_column")
    assert frame.rows() == [(f"inv-{day.day}", day.isoformat(), 2.0 * day.day) for day in PUSHED_DAYS]
    assert filtered.window_note == "window pushed down on booked (filter_at_source is true)"


def test_a_query_is_sent_as_written(tmp_path: Path) -> None:
    # Colons, backslashes and percent signs are the query's own text, not parameters or escapes.
    query = r"SELECT ':x' AS colon, 'a\:b' AS escaped, 'a%' AS percent, 'a' LIKE 'a%' AS matches"
    frame = read(connector(tmp_path, url="sqlite://", query=query), None, None)
    assert frame.rows() == [(":x", r"a\:b", "a%", 1)]


def test_filter_at_source_false_reads_every_row(tmp_path: Path, iso_invoices: Path) -> None:
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices", filter_at_source=False)

    assert read(source, WINDOW, "invoice_date").height == 10
    assert source.window_pushed_down is False
    assert source.window_note == f"window not pushed down: filter_at_source is false{NOT_PUSHED}"


def test_a_date_expression_is_not_pushed_down_but_options_date_column_is(
    tmp_path: Path, iso_invoices: Path
) -> None:
    expression = "CASE WHEN total > 0 THEN invoice_date END"
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")
    assert read(source, WINDOW, expression).height == 10
    assert source.window_note == (
        f"window not pushed down: the date is the expression {expression!r}, not a column "
        f"(set options.date_column to filter on one){NOT_PUSHED}"
    )

    with_column = connector(
        tmp_path, url="sqlite:///erp.sqlite", table="invoices", date_column="invoice_date"
    )
    assert read(with_column, WINDOW, expression)["invoice_no"].to_list() == [
        f"inv-{d.day}" for d in PUSHED_DAYS
    ]


def test_no_date_column_reads_every_row(tmp_path: Path, iso_invoices: Path) -> None:
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")
    assert read(source, WINDOW, None).height == 10
    assert source.window_note == f"window not pushed down: no date column is mapped{NOT_PUSHED}"


def test_a_snapshot_reads_every_row_and_notes_nothing(tmp_path: Path, iso_invoices: Path) -> None:
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")
    assert read(source, None, None)["invoice_date"].to_list() == [day.isoformat() for day in DAYS]
    assert source.window_pushed_down is False
    assert source.window_note is None


def test_an_empty_window_yields_one_empty_frame_with_the_columns(tmp_path: Path, iso_invoices: Path) -> None:
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices")

    frames = list(source.extract(EMPTY_WINDOW, "invoice_date"))

    assert len(frames) == 1
    # SQLite's DATE holds text, its REAL floats.
    assert frames[0].schema == pl.Schema(
        {"invoice_no": pl.String, "invoice_date": pl.String, "total": pl.Float64}
    )
    assert frames[0].height == 0


def test_batches_keep_a_columns_type_when_a_later_batch_is_all_null(tmp_path: Path) -> None:
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE t (id TEXT, score INTEGER, note)",
        [("a", 1, "x"), ("b", 2, "y"), ("c", None, None)],
    )
    source = connector(tmp_path, url="sqlite:///erp.sqlite", table="t", batch_size=2)

    frames = list(source.extract(None, None))

    assert [frame.height for frame in frames] == [2, 1]
    assert [frame.schema for frame in frames] == [
        pl.Schema({"id": pl.String, "score": pl.Int64, "note": pl.String})
    ] * 2


def test_an_all_null_column_takes_its_declared_type(tmp_path: Path) -> None:
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE t (id TEXT, score INTEGER, ratio REAL, seen BOOLEAN)",
        [("a", None, None, None)],
    )
    frame = read(connector(tmp_path, url="sqlite:///erp.sqlite", table="t"), None, None)
    assert frame.schema == pl.Schema(
        {"id": pl.String, "score": pl.Int64, "ratio": pl.Float64, "seen": pl.Boolean}
    )
    assert frame.rows() == [("a", None, None, None)]


def test_integers_and_floats_in_one_column_are_floats(tmp_path: Path) -> None:
    # NUMERIC affinity stores 10 as an integer and 10.5 as a real.
    sqlite_database(tmp_path / "erp.sqlite", "CREATE TABLE t (total NUMERIC)", [(10,), (10.5,), (None,)])
    frame = read(connector(tmp_path, url="sqlite:///erp.sqlite", table="t"), None, None)
    assert frame.schema == pl.Schema({"total": pl.Float64})
    assert frame["total"].to_list() == [10.0, 10.5, None]


def test_an_integer_a_float_cannot_hold_beside_floats_makes_a_text_column(tmp_path: Path) -> None:
    # 2**53 + 1 = 9007199254740993 is 9007199254740992.0 as a float: both keep their exact text.
    sqlite_database(tmp_path / "erp.sqlite", "CREATE TABLE t (total NUMERIC)", [(0.5,), (2**53 + 1,)])
    frame = read(connector(tmp_path, url="sqlite:///erp.sqlite", table="t"), None, None)
    assert frame.schema == pl.Schema({"total": pl.String})
    assert frame["total"].to_list() == ["0.5", "9007199254740993"]


def test_text_among_numbers_makes_a_text_column(tmp_path: Path) -> None:
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE t (id TEXT, total NUMERIC)",
        [("a", 10), ("b", None), ("c", "n/a")],
    )
    frame = read(connector(tmp_path, "ledger", url="sqlite:///erp.sqlite", table="t"), None, None)
    assert frame.schema == pl.Schema({"id": pl.String, "total": pl.String})
    assert frame["total"].to_list() == ["10", None, "n/a"]


def test_a_real_column_with_text_is_delivered_as_the_exact_texts(tmp_path: Path) -> None:
    # REAL affinity keeps 'N/A' and '' as text beside 10.0: the mapping applies null_values to '' and
    # types each row ('N/A' quarantines its row with type:total); no value is lost on the way.
    sqlite_database(
        tmp_path / "erp.sqlite",
        "CREATE TABLE invoices (invoice_no TEXT, total REAL)",
        [("inv-1", 10.0), ("inv-2", "N/A"), ("inv-3", ""), ("inv-4", None), ("inv-5", 0.1)],
    )
    frame = read(connector(tmp_path, url="sqlite:///erp.sqlite", table="invoices"), None, None)
    assert frame.schema == pl.Schema({"invoice_no": pl.String, "total": pl.String})
    assert frame["total"].to_list() == ["10.0", "N/A", "", None, "0.1"]


def test_a_value_without_exact_text_among_others_names_the_column_and_cuts_the_value(
    tmp_path: Path,
) -> None:
    # A BLOB among numbers: no text holds it without loss, so the column cannot be read.
    sqlite_database(tmp_path / "erp.sqlite", "CREATE TABLE t (v)", [(1,), (b"x" * 100,)])
    with pytest.raises(SourceError) as raised:
        read(connector(tmp_path, url="sqlite:///erp.sqlite", table="t"), None, None)
    assert str(raised.value) == f"source 'erp': column 'v' has values of mixed types: 1 and b'{'x' * 55}..."


def test_text_that_is_not_utf8_names_the_column_and_the_bytes(tmp_path: Path) -> None:
    database = sqlite_database(tmp_path / "erp.sqlite", "CREATE TABLE t (id TEXT, city TEXT)", [])
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO t VALUES ('a', 'Paris'), ('b', CAST(X'436166E9' AS TEXT))")
    connection.close()
    with pytest.raises(SourceError) as raised:
        read(connector(tmp_path, url="sqlite:///erp.sqlite", table="t"), None, None)
    assert str(raised.value) == "source 'erp': column 'city' holds text that is not UTF-8: b'Caf\\xe9'"


def test_a_missing_table_names_the_source_the_database_and_the_table(
    tmp_path: Path, iso_invoices: Path
) -> None:
    with pytest.raises(SourceError) as raised:
        read(connector(tmp_path, url="sqlite:///erp.sqlite", table="no_such_table"), None, None)
    assert str(raised.value) == (
        f"source 'erp': query on 'sqlite:///{tmp_path / 'erp.sqlite'}' failed: "
        "OperationalError: no such table: no_such_table"
    )


def test_a_table_its_dialect_cannot_reflect_is_read_untyped_and_not_pushed_down(tmp_path: Path) -> None:
    # duckdb_engine's reflection fails on SQLAlchemy 2.1: the table is still read, with DuckDB's types.
    import duckdb

    with duckdb.connect(str(tmp_path / "erp.duckdb")) as connection:
        connection.execute("CREATE TABLE invoices (invoice_no VARCHAR, invoice_date DATE)")
        connection.executemany(
            "INSERT INTO invoices VALUES (?, ?)", [(f"inv-{day.day}", day) for day in DAYS]
        )

    unfiltered = connector(tmp_path, url="duckdb:///erp.duckdb", table="invoices")
    assert read(unfiltered, WINDOW, "invoice_date")["invoice_date"].to_list() == DAYS
    assert unfiltered.window_pushed_down is False

    filtered = connector(tmp_path, url="duckdb:///erp.duckdb", table="invoices", filter_at_source=True)
    assert read(filtered, WINDOW, "invoice_date")["invoice_date"].to_list() == PUSHED_DAYS
    assert filtered.window_note == "window pushed down on invoice_date (filter_at_source is true)"


def test_secrets_in_the_query_string_are_refused_in_options() -> None:
    for url in [
        "postgresql+psycopg://reader@db.internal/erp?sslmode=require&sslpassword=s3cret",
        "mysql+pymysql://reader@db.internal/erp?password=s3cret",
        "mssql+pyodbc://?odbc_connect=DRIVER%3Dx%3BUID%3Dreader%3BPWD%3Ds3cret%3B",
    ]:
        with pytest.raises(ValueError) as raised:
            SqlOptions(url=url, table="invoices")
        [problem] = raised.value.errors()  # type: ignore[attr-defined]
        assert "password_env" in problem["msg"]
        assert "s3cret" not in problem["msg"]
        assert "s3cret" not in str(raised.value)  # the input is not echoed either
    [problem] = pytest.raises(
        ValueError, SqlOptions, url="postgresql://r@h/db?sslpassword=s3cret&x_token=t", table="t"
    ).value.errors()  # type: ignore[attr-defined]
    assert problem["msg"] == (
        "Value error, url holds a secret in its query string (sslpassword, x_token): remove it, and "
        "name the variable holding the password in password_env"
    )
    # Other query parameters are fine.
    assert SqlOptions(url="postgresql://r@h/db?sslmode=require", table="t").table == "t"


def test_scrub_masks_secrets_of_the_query_string() -> None:
    url = sa.make_url(
        "postgresql+psycopg://reader:pw@db.internal/erp?sslpassword=s3%26cret&application_name=kpi"
    )
    text = f"cannot use {url.render_as_string(hide_password=False)}: sslpassword=s3&cret (s3%26cret) rejected"
    assert scrub(text, url) == (
        "cannot use postgresql+psycopg://reader:***@db.internal/erp?application_name=kpi&sslpassword=***: "
        "sslpassword=*** (***) rejected"
    )
    odbc = sa.make_url("mssql+pyodbc://?odbc_connect=DRIVER%3Dx%3BUID%3Dreader%3BPWD%3D%7Bs3cret%7D%3B")
    assert scrub(f"{odbc.render_as_string()} failed for PWD={{s3cret}}", odbc) == (
        "mssql+pyodbc://?odbc_connect=*** failed for PWD={***}"
    )


def test_a_query_string_secret_is_masked_in_a_failure(tmp_path: Path) -> None:
    # Options that bypass the check (as a URL could reach the connector some other way): the error
    # still names the database without the secret.
    url = "postgresql+psycopg://reader@127.0.0.1:1/erp?application_name=kpi&sslpassword=s3cret"
    source = SqlConnector(
        "erp", SqlOptions.model_construct(url=url, table="invoices", batch_size=10), tmp_path
    )
    with pytest.raises(SourceError) as raised:
        read(source, None, None)
    message = str(raised.value)
    assert message.startswith(
        "source 'erp': query on 'postgresql+psycopg://reader@127.0.0.1:1/erp?application_name=kpi&"
        "sslpassword=***' failed: OperationalError: "
    )
    assert "s3cret" not in message
    assert "s3cret" not in str(source.failure(sa.make_url(url), RuntimeError(f"bad {url}")))


def test_scrub_removes_the_password_wherever_a_driver_echoes_it() -> None:
    url = sa.make_url("postgresql+psycopg://reader:p%40ss%20word@db.internal/erp")
    text = f"cannot use {url.render_as_string(hide_password=False)}; password 'p@ss word' (p%40ss%20word) rejected"
    assert scrub(text, url) == (
        "cannot use postgresql+psycopg://reader:***@db.internal/erp; password '***' (***) rejected"
    )


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_url() -> str:
    """The local server's `test` database, once it is known to be reachable (the shared
    `postgres_schema` fixture makes a schema in it)."""
    server_engine("postgresql").dispose()
    return POSTGRES


def test_postgres_mixed_case_table_and_date_column_are_pushed_down(
    tmp_path: Path, postgres_url: str, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f'CREATE TABLE {schema}."Invoices" ("InvoiceNo" TEXT, "InvoiceDate" DATE, "Total" NUMERIC(12, 2))'
        )
        connection.execute(
            sa.text(f'INSERT INTO {schema}."Invoices" VALUES (:no, :day, :total)'),
            [{"no": f"inv-{day.day}", "day": day, "total": Decimal(f"{day.day}.25")} for day in DAYS],
        )
    source = connector(tmp_path, url=postgres_url, table=f"{schema}.Invoices")

    frame = read(source, WINDOW, "InvoiceDate").sort("InvoiceDate")

    assert frame.schema == pl.Schema(
        {"InvoiceNo": pl.String(), "InvoiceDate": pl.Date(), "Total": pl.Decimal(38, 2)}
    )
    assert frame.rows() == [(f"inv-{day.day}", day, Decimal(f"{day.day}.25")) for day in PUSHED_DAYS]
    assert source.window_note == "window pushed down on InvoiceDate (DATE)"

    # An empty window: the columns, with their reflected types.
    [empty] = list(source.extract(EMPTY_WINDOW, "InvoiceDate"))
    assert empty.height == 0
    assert empty.schema == frame.schema


def test_postgres_timestamp_with_time_zone_is_pushed_down(
    tmp_path: Path, postgres_url: str, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql("SET TIME ZONE 'Europe/Berlin'")
        connection.exec_driver_sql(f"CREATE TABLE {schema}.events (event_id TEXT, happened_at TIMESTAMPTZ)")
        connection.exec_driver_sql(
            f"INSERT INTO {schema}.events VALUES ('before', '2026-01-02 12:00+00'), "
            f"('in', '2026-01-05 12:00+00'), ('beyond', '2026-01-09 12:00+00'), ('never', NULL)"
        )
    source = connector(tmp_path, url=postgres_url, table=f"{schema}.events")

    frame = read(source, WINDOW, "happened_at")

    assert frame.schema == pl.Schema({"event_id": pl.String(), "happened_at": pl.Datetime("us", "UTC")})
    # 'never' has no date: it comes with every window (the mapping quarantines it, of no day).
    assert sorted(frame["event_id"].to_list()) == ["in", "never"]
    assert source.window_note == "window pushed down on happened_at (TIMESTAMP WITH TIME ZONE)"


def test_postgres_a_null_date_comes_with_a_pushed_window(
    tmp_path: Path, postgres_url: str, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {schema}.invoices (invoice_no TEXT, invoice_date DATE)")
        connection.execute(
            sa.text(f"INSERT INTO {schema}.invoices VALUES (:no, :day)"),
            [{"no": f"inv-{day.day}", "day": day} for day in DAYS] + [{"no": "inv-none", "day": None}],
        )
    source = connector(tmp_path, url=postgres_url, table=f"{schema}.invoices")

    frame = read(source, WINDOW, "invoice_date").sort("invoice_no")

    assert frame.schema == pl.Schema({"invoice_no": pl.String(), "invoice_date": pl.Date()})
    assert frame.rows() == sorted([(f"inv-{day.day}", day) for day in PUSHED_DAYS] + [("inv-none", None)])
    assert source.window_pushed_down is True
    assert source.window_note == "window pushed down on invoice_date (DATE)"


def test_postgres_text_dates_are_not_pushed_down(
    tmp_path: Path, postgres_url: str, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {schema}.invoices (invoice_no TEXT, invoice_date VARCHAR(10))"
        )
        connection.execute(
            sa.text(f"INSERT INTO {schema}.invoices VALUES (:no, :day)"),
            [{"no": f"inv-{day.day}", "day": day.strftime("%d.%m.%Y")} for day in DAYS],
        )
    source = connector(tmp_path, url=postgres_url, table=f"{schema}.invoices")

    frame = read(source, WINDOW, "invoice_date").sort("invoice_no")

    assert sorted(frame["invoice_date"].to_list()) == sorted(day.strftime("%d.%m.%Y") for day in DAYS)
    assert source.window_pushed_down is False
    assert source.window_note == f"window not pushed down: invoice_date is VARCHAR(10){NOT_PUSHED}"


def test_postgres_query_is_pushed_down_only_with_filter_at_source(
    tmp_path: Path, postgres_url: str, postgres_schema: tuple[sa.Engine, str]
) -> None:
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE TABLE {schema}.invoices (no TEXT, "Booked On" DATE)')
        connection.execute(
            sa.text(f"INSERT INTO {schema}.invoices VALUES (:no, :day)"),
            [{"no": f"inv-{day.day}", "day": day} for day in DAYS],
        )
    query = f'SELECT no, "Booked On" FROM {schema}.invoices'

    unfiltered = connector(tmp_path, url=postgres_url, query=query)
    assert read(unfiltered, WINDOW, "Booked On").height == 10
    assert unfiltered.window_pushed_down is False

    filtered = connector(tmp_path, url=postgres_url, query=query, filter_at_source=True)
    frame = read(filtered, WINDOW, "Booked On").sort("Booked On")
    assert frame.rows() == [(f"inv-{day.day}", day) for day in PUSHED_DAYS]
    assert filtered.window_note == "window pushed down on Booked On (filter_at_source is true)"

    # An empty result of a query: its columns, typed as the cursor describes them.
    [empty] = list(filtered.extract(EMPTY_WINDOW, "Booked On"))
    assert empty.height == 0
    assert empty.schema == pl.Schema({"no": pl.String(), "Booked On": pl.Date()})


def test_postgres_a_query_with_two_columns_of_one_name_is_an_error(tmp_path: Path, postgres_url: str) -> None:
    source = connector(tmp_path, url=postgres_url, query="SELECT 1 AS total, 2 AS total, 3 AS id")
    with pytest.raises(SourceError) as raised:
        read(source, None, None)
    assert str(raised.value) == (
        "source 'erp': the result has more than one column named 'total'; give them distinct names (AS ...)"
    )


def test_postgres_a_value_polars_cannot_hold_names_the_column_and_the_value(
    tmp_path: Path, postgres_url: str
) -> None:
    query = "SELECT * FROM (VALUES ('a', 1.5::numeric), ('b', 'NaN'::numeric)) AS t (id, total)"
    with pytest.raises(SourceError) as raised:
        read(connector(tmp_path, "ledger", url=postgres_url, query=query), None, None)
    assert str(raised.value) == (
        "source 'ledger': column 'total' has a value a decimal column cannot hold: Decimal('NaN')"
    )


@pytest.mark.parametrize(
    ("infinite", "driver_message"),
    [
        ("infinity", "DataError: date too large (after year 10K): 'infinity'"),
        ("-infinity", "DataError: date too small (before year 1): '-infinity'"),
    ],
)
def test_postgres_an_infinite_date_names_the_column_the_value_and_what_to_do(
    tmp_path: Path,
    postgres_url: str,
    postgres_schema: tuple[sa.Engine, str],
    infinite: str,
    driver_message: str,
) -> None:
    # psycopg fails while fetching the rows, without naming a column: the connector finds it.
    engine, schema = postgres_schema
    with engine.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE TABLE {schema}.contracts (contract_id TEXT, started_on DATE, ended_on DATE)"
        )
        connection.execute(
            sa.text(f"INSERT INTO {schema}.contracts VALUES (:id, :day, :day)"),
            [{"id": f"k-{day.day}", "day": day} for day in DAYS],
        )
        connection.execute(
            sa.text(f"INSERT INTO {schema}.contracts VALUES ('k-open', '2026-01-05', :end)"),
            {"end": infinite},
        )
    source = connector(tmp_path, "contracts", url=postgres_url, table=f"{schema}.contracts", batch_size=3)

    with pytest.raises(SourceError) as raised:
        read(source, WINDOW, "started_on")

    assert str(raised.value) == (
        f"source 'contracts': column 'ended_on' holds a value the driver cannot read: '{infinite}' "
        f"({driver_message}); PostgreSQL's 'infinity' and '-infinity' have no Python date or time, and "
        "what they mean in 'ended_on' (no end yet? unknown?) is for the source to say: read it through a "
        "`query` that maps them, e.g. `CASE WHEN isfinite(ended_on) THEN ended_on END AS ended_on` for "
        "null (a `columns` expression in the config runs too late: after the read)"
    )
    assert raised.value.__suppress_context__

    # Outside the window pushed down, the row is not read at all.
    assert read(source, ExtractWindow(date(2026, 1, 8), date(2026, 1, 8)), "started_on").height == 3

    # The advice works: the query maps it to null, and the row is read.
    query = (
        f"SELECT contract_id, started_on, CASE WHEN isfinite(ended_on) THEN ended_on END AS ended_on "
        f"FROM {schema}.contracts WHERE contract_id = 'k-open'"
    )
    assert read(connector(tmp_path, url=postgres_url, query=query), None, None).rows() == [
        ("k-open", date(2026, 1, 5), None)
    ]


def test_postgres_an_interval_python_cannot_hold_names_the_column_and_the_value(
    tmp_path: Path, postgres_url: str
) -> None:
    # A query (nothing reflected): timedelta stops at 999999999 days, and psycopg fails on the fetch.
    query = (
        "SELECT * FROM (VALUES ('t-1', interval '2 hours'), ('t-2', interval '1000000000 days'), "
        "('t-3', NULL)) AS t (ticket_id, \"Time To Reply\")"
    )
    with pytest.raises(SourceError) as raised:
        read(connector(tmp_path, "helpdesk", url=postgres_url, query=query), None, None)
    assert str(raised.value) == (
        "source 'helpdesk': column 'Time To Reply' holds a value the driver cannot read: '1000000000 days' "
        "(DataError: can't parse interval '1000000000 days': days=1000000000; must have magnitude <= 999999999)"
    )


def test_postgres_a_wrong_password_is_never_in_the_error(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server trusts local connections whatever the password: ask for a role it does not have, so
    # the connection fails with the password sent.
    secret = f"wrong-{uuid.uuid4().hex}"
    role = f"kpi_nobody_{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("KPI_TEST_DB_PASSWORD", secret)
    url = sa.make_url(postgres_url).set(username=role).render_as_string()
    source = connector(tmp_path, url=url, table="invoices", password_env="KPI_TEST_DB_PASSWORD")

    with pytest.raises(SourceError) as raised:
        read(source, None, None)

    message = str(raised.value)
    assert message.startswith(
        f"source 'erp': query on 'postgresql+psycopg://{role}:***@127.0.0.1:5432/test' failed: OperationalError: "
    )
    assert f'role "{role}" does not exist' in message
    assert secret not in message
    assert secret not in repr(raised.value)
    assert raised.value.__suppress_context__


# --- MariaDB -------------------------------------------------------------------------------------


def run_script(url: str, script: str) -> None:
    """The statements of `script`, in one session (so SET SESSION sql_mode holds for the inserts)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in script.split(";"):
                lines = [line for line in statement.splitlines() if not line.strip().startswith("--")]
                if "\n".join(lines).strip():
                    connection.exec_driver_sql("\n".join(lines))
    finally:
        engine.dispose()


@pytest.fixture
def legacy_crm(mariadb_database: str) -> str:
    """The mysql-zero-dates case loaded into the fresh database instead of legacy_crm; its URL."""
    database = mariadb_database.rsplit("/", 1)[1]
    run_script(mariadb_database, re.sub(r"\blegacy_crm\b", database, ZERO_DATES_CASE.read_text()))
    return mariadb_database


CRM_ROWS = [
    ("C-1", date(2025, 12, 1), None, "gold"),
    ("C-2", date(2025, 12, 10), date(2026, 1, 20), "silver"),
    ("C-3", date(2026, 1, 10), None, "silver"),
    ("C-4", date(2025, 11, 1), None, "gold"),
]


def test_mariadb_zero_dates_read_as_null(tmp_path: Path, legacy_crm: str) -> None:
    source = connector(tmp_path, "crm_customers", url=legacy_crm, table="crm_customers")

    frame = read(source, None, None).sort("customer_ref")

    assert frame.schema == pl.Schema(
        {"customer_ref": pl.String, "created_on": pl.Date, "closed_on": pl.Date, "tier": pl.String}
    )
    assert frame.rows() == CRM_ROWS


def test_mariadb_zero_dates_read_as_null_from_a_query_too(tmp_path: Path, legacy_crm: str) -> None:
    # No reflection here: the cursor's type codes say which columns are dates.
    query = "SELECT customer_ref, closed_on FROM crm_customers WHERE customer_ref <> 'C-2'"
    source = connector(tmp_path, "crm_customers", url=legacy_crm, query=query)

    frame = read(source, None, None).sort("customer_ref")

    assert frame.schema == pl.Schema({"customer_ref": pl.String, "closed_on": pl.Date})
    assert frame.rows() == [("C-1", None), ("C-3", None), ("C-4", None)]


def test_mariadb_date_window_is_pushed_down(tmp_path: Path, legacy_crm: str) -> None:
    source = connector(tmp_path, "crm_customers", url=legacy_crm, table="crm_customers")

    frame = read(source, ExtractWindow(date(2025, 12, 2), date(2025, 12, 9)), "created_on")

    # [2025-12-01, 2025-12-11): C-1 and C-2 by one day of slack each.
    assert frame.sort("customer_ref").rows() == CRM_ROWS[:2]
    assert source.window_note == "window pushed down on created_on (DATE)"


def test_mariadb_a_partial_date_beside_good_ones_makes_a_text_column(tmp_path: Path, legacy_crm: str) -> None:
    # PyMySQL hands over 2026-00-10 as text: the column comes as text (dates in ISO format, zero
    # dates still null), for the mapping to quarantine that one row as an unreadable date.
    run_script(
        legacy_crm,
        "SET SESSION sql_mode = ''; INSERT INTO crm_customers VALUES ('C-5', '2026-01-15', '2026-00-10', 'gold')",
    )
    source = connector(tmp_path, "crm_customers", url=legacy_crm, table="crm_customers")

    frame = read(source, None, None).sort("customer_ref")

    assert frame.schema == pl.Schema(
        {"customer_ref": pl.String, "created_on": pl.Date, "closed_on": pl.String, "tier": pl.String}
    )
    assert frame["closed_on"].to_list() == [None, "2026-01-20", None, None, "2026-00-10"]


def test_mariadb_a_partial_date_among_zero_dates_makes_a_text_column(tmp_path: Path, legacy_crm: str) -> None:
    run_script(
        legacy_crm,
        "SET SESSION sql_mode = ''; DELETE FROM crm_customers WHERE customer_ref = 'C-2'; "
        "INSERT INTO crm_customers VALUES ('C-5', '2026-01-15', '2026-01-00', 'gold')",
    )
    source = connector(tmp_path, "crm_customers", url=legacy_crm, table="crm_customers")

    frame = read(source, None, None).sort("customer_ref")

    assert frame.schema["closed_on"] == pl.String
    assert frame["closed_on"].to_list() == [None, None, None, "2026-01-00"]


def mariadb_events(url: str, *values: str) -> None:
    """events(event_id, happened_on DATE NULL): one row a day of DAYS, then one row per SQL value."""
    rows = [f"('e-{day.day}', '{day.isoformat()}')" for day in DAYS]
    rows += [f"('x-{index}', {value})" for index, value in enumerate(values)]
    run_script(
        url,
        "SET SESSION sql_mode = ''; CREATE TABLE events (event_id VARCHAR(20), happened_on DATE NULL); "
        f"INSERT INTO events VALUES {', '.join(rows)}",
    )


def test_mariadb_zero_and_null_dates_come_with_a_pushed_window(tmp_path: Path, mariadb_database: str) -> None:
    # Neither is in the window's range in SQL (a zero date is not NULL there): both are asked for.
    mariadb_events(mariadb_database, "'0000-00-00'", "NULL")
    source = connector(tmp_path, url=mariadb_database, table="events")

    frame = read(source, WINDOW, "happened_on").sort("event_id")

    assert frame.schema == pl.Schema({"event_id": pl.String, "happened_on": pl.Date})
    assert frame.rows() == sorted(
        [(f"e-{day.day}", day) for day in PUSHED_DAYS] + [("x-0", None), ("x-1", None)]
    )
    assert source.window_pushed_down is True
    assert source.window_note == "window pushed down on happened_on (DATE)"


def test_mariadb_partial_dates_come_with_a_pushed_window_as_text(
    tmp_path: Path, mariadb_database: str
) -> None:
    # 2026-00-10 and 2026-01-00 sort before 2026-01-03 as dates: the filter asks for a zero month or
    # day explicitly. They come as text, and so does the rest of the column.
    mariadb_events(mariadb_database, "'2026-00-10'", "'2026-01-00'", "'0000-00-00'")
    source = connector(tmp_path, url=mariadb_database, table="events")

    frame = read(source, WINDOW, "happened_on").sort("event_id")

    assert frame.schema == pl.Schema({"event_id": pl.String, "happened_on": pl.String})
    assert frame.rows() == sorted(
        [(f"e-{day.day}", day.isoformat()) for day in PUSHED_DAYS]
        + [("x-0", "2026-00-10"), ("x-1", "2026-01-00"), ("x-2", None)]
    )
    assert source.window_pushed_down is True
