"""The built-in connectors on real files and real databases (SQLite, PostgreSQL, MariaDB), and one
source extracted end to end from a config file."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pydantic
import pytest
import sqlalchemy as sa

from connectors import ExtractWindow, SourceError, available_connectors, get_connector
from connectors.files import FilesConnector, FilesOptions
from connectors.sql import SqlConnector, SqlOptions

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"

# Ten days of rows, one a day; the window asks for the 4th to the 6th.
FIRST_DAY = date(2026, 1, 1)
DAYS = [FIRST_DAY + timedelta(days=offset) for offset in range(10)]
WINDOW = ExtractWindow(date(2026, 1, 4), date(2026, 1, 6))
# One day of slack on each side: the 3rd to the 7th, nothing further.
WINDOW_WITH_SLACK = [date(2026, 1, day) for day in range(3, 8)]


def files(tmp_path: Path, path: str, **options: str) -> FilesConnector:
    return FilesConnector("exports", FilesOptions.model_validate({"path": path, **options}), tmp_path)


def sql(base_dir: Path, **options: object) -> SqlConnector:
    return SqlConnector("erp", SqlOptions.model_validate(options), base_dir)


def collect(frames: Iterator[pl.DataFrame | pl.LazyFrame]) -> list[pl.DataFrame]:
    return [frame.lazy().collect() for frame in frames]


# --- files ---------------------------------------------------------------------------------------


def test_csv_is_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text("id,day,total\n007,2026-01-02,12.50\n008,2026-01-03,-3\n")

    [frame] = collect(files(tmp_path, "revenue.csv").extract(None, None))

    assert frame.schema == pl.Schema({"id": pl.String, "day": pl.String, "total": pl.String})
    assert frame.rows() == [("007", "2026-01-02", "12.50"), ("008", "2026-01-03", "-3")]


def test_csv_with_another_separator(tmp_path: Path) -> None:
    (tmp_path / "revenue.csv").write_text("id;total\na;1,5\n")
    [frame] = collect(files(tmp_path, "revenue.csv", separator=";").extract(None, None))
    assert frame.rows() == [("a", "1,5")]


def test_parquet_keeps_its_types(tmp_path: Path) -> None:
    source = pl.DataFrame(
        {"id": ["a", "b"], "day": [date(2026, 1, 2), date(2026, 1, 3)], "total": [1.5, 2.0]}
    )
    source.write_parquet(tmp_path / "revenue.parquet")

    [frame] = collect(files(tmp_path, "revenue.parquet").extract(None, None))

    assert frame.schema == pl.Schema({"id": pl.String, "day": pl.Date, "total": pl.Float64})
    assert frame.rows() == [("a", date(2026, 1, 2), 1.5), ("b", date(2026, 1, 3), 2.0)]


@pytest.mark.parametrize("suffix", [".ndjson", ".jsonl"])
def test_ndjson(tmp_path: Path, suffix: str) -> None:
    lines = [{"id": "r1", "score": 9, "survey": "nps"}, {"id": "r2", "score": 4, "survey": "csat"}]
    (tmp_path / f"responses{suffix}").write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    [frame] = collect(files(tmp_path, f"responses{suffix}").extract(None, None))

    assert frame.to_dicts() == lines
    assert frame.schema["score"] == pl.Int64


def test_a_glob_reads_every_matching_file_in_sorted_order(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    (exports / "2026" / "02").mkdir(parents=True)
    (exports / "2026" / "01").mkdir(parents=True)
    # Written out of order; "other.txt" does not match.
    (exports / "2026" / "02" / "revenue.csv").write_text("id\nfeb\n")
    (exports / "2026" / "01" / "revenue.csv").write_text("id\njan\n")
    (exports / "2026" / "01" / "other.txt").write_text("id\nno\n")
    (exports / "2025.csv").write_text("id\ndec\n")

    connector = files(tmp_path, "exports/**/*.csv")

    assert connector.matched_files() == [
        exports / "2025.csv",
        exports / "2026" / "01" / "revenue.csv",
        exports / "2026" / "02" / "revenue.csv",
    ]
    frames = collect(connector.extract(WINDOW, "day"))
    assert [frame["id"].to_list() for frame in frames] == [["dec"], ["jan"], ["feb"]]


def test_an_absolute_path_is_used_as_is(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id\nx\n")
    connector = FilesConnector("exports", FilesOptions(path=str(tmp_path / "a.csv")), Path("/nonexistent"))
    assert [frame["id"].to_list() for frame in collect(connector.extract(None, None))] == [["x"]]


def test_no_matching_file_names_the_source_and_the_pattern(tmp_path: Path) -> None:
    connector = files(tmp_path, "exports/*.csv")
    with pytest.raises(SourceError) as raised:
        list(connector.extract(None, None))
    message = str(raised.value)
    assert "source 'exports'" in message
    assert f"no file matches path {str(tmp_path / 'exports/*.csv')!r}" in message


def test_an_unknown_extension_names_the_source_the_file_and_the_formats(tmp_path: Path) -> None:
    (tmp_path / "revenue.txt").write_text("id\nx\n")
    with pytest.raises(SourceError) as raised:
        list(files(tmp_path, "revenue.txt").extract(None, None))
    message = str(raised.value)
    assert "source 'exports'" in message
    assert str(tmp_path / "revenue.txt") in message
    assert "set options.format to one of csv, parquet, ndjson" in message


def test_an_explicit_format_overrides_the_extension(tmp_path: Path) -> None:
    (tmp_path / "revenue.txt").write_text("id,total\nx,1\n")
    [frame] = collect(files(tmp_path, "revenue.txt", format="csv").extract(None, None))
    assert frame.rows() == [("x", "1")]


def test_files_options_reject_unknown_keys_and_formats() -> None:
    with pytest.raises(pydantic.ValidationError, match="sep"):
        FilesOptions.model_validate({"path": "a.csv", "sep": ";"})
    with pytest.raises(pydantic.ValidationError, match="format"):
        FilesOptions.model_validate({"path": "a.csv", "format": "xlsx"})


# --- sql: options --------------------------------------------------------------------------------


def test_sql_options_need_exactly_one_of_table_or_query() -> None:
    with pytest.raises(pydantic.ValidationError, match="give exactly one of `table` or `query`"):
        SqlOptions(url="sqlite:///erp.sqlite")
    with pytest.raises(pydantic.ValidationError, match="give exactly one of `table` or `query`"):
        SqlOptions(url="sqlite:///erp.sqlite", table="invoices", query="SELECT * FROM invoices")
    assert SqlOptions(url="sqlite:///erp.sqlite", table="erp.invoices").table == "erp.invoices"
    assert SqlOptions(url="sqlite:///erp.sqlite", query="SELECT 1").query == "SELECT 1"


def test_sql_options_reject_a_table_or_date_column_that_is_not_a_plain_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a plain"):
        SqlOptions(url="sqlite:///erp.sqlite", table="invoices; DROP TABLE invoices")
    with pytest.raises(pydantic.ValidationError, match="date_column 'day or 1=1' is not a plain column name"):
        SqlOptions(url="sqlite:///erp.sqlite", table="invoices", date_column="day or 1=1")


# --- sql: SQLite ---------------------------------------------------------------------------------


@pytest.fixture
def sqlite_erp(tmp_path: Path) -> Path:
    """tmp_path/data/erp.sqlite: `invoices` with one row a day (text dates, as SQLite stores them), and
    two timestamps either side of the window's upper bound."""
    (tmp_path / "data").mkdir()
    database = tmp_path / "data" / "erp.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE invoices (invoice_no TEXT, invoice_date TEXT, total REAL)")
        connection.executemany(
            "INSERT INTO invoices VALUES (?, ?, ?)",
            [(f"inv-{day.day}", day.isoformat(), float(day.day)) for day in DAYS],
        )
        connection.execute("CREATE TABLE events (event_id TEXT, happened_at TEXT)")
        connection.executemany(
            "INSERT INTO events VALUES (?, ?)",
            [("last-slack", "2026-01-07T23:59:59"), ("beyond", "2026-01-08T00:00:00")],
        )
    connection.close()
    return database


def test_sqlite_table_without_a_window_returns_every_row(tmp_path: Path, sqlite_erp: Path) -> None:
    frames = collect(sql(tmp_path, url="sqlite:///data/erp.sqlite", table="invoices").extract(None, None))
    frame = pl.concat(frames)
    assert frame.columns == ["invoice_no", "invoice_date", "total"]
    assert frame["invoice_date"].to_list() == [day.isoformat() for day in DAYS]


def test_sqlite_relative_path_is_resolved_against_base_dir(tmp_path: Path, sqlite_erp: Path) -> None:
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="invoices")
    assert connector.engine().url.database == str(tmp_path / "data" / "erp.sqlite")
    # And not against the working directory: the connector reads the file under base_dir.
    assert pl.concat(collect(connector.extract(None, None))).height == len(DAYS)


def test_sqlite_table_with_a_window_returns_one_day_of_slack_each_side(
    tmp_path: Path, sqlite_erp: Path
) -> None:
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="invoices")
    frame = pl.concat(collect(connector.extract(WINDOW, "invoice_date")))
    assert frame["invoice_date"].to_list() == [day.isoformat() for day in WINDOW_WITH_SLACK]


def test_sqlite_query_with_a_window_and_date_column_option(tmp_path: Path, sqlite_erp: Path) -> None:
    connector = sql(
        tmp_path,
        url="sqlite:///data/erp.sqlite",
        query="SELECT invoice_no, invoice_date AS booked, total * 2 AS doubled FROM invoices",
        date_column="booked",
        filter_at_source=True,
    )
    # options.date_column wins over the column the mapping names.
    frame = pl.concat(collect(connector.extract(WINDOW, "not_a_column")))
    assert frame.columns == ["invoice_no", "booked", "doubled"]
    assert frame["booked"].to_list() == [day.isoformat() for day in WINDOW_WITH_SLACK]
    assert frame["doubled"].to_list() == [2.0 * day.day for day in WINDOW_WITH_SLACK]


def test_sqlite_text_timestamps_late_on_the_slack_day_are_in_and_the_next_day_is_out(
    tmp_path: Path, sqlite_erp: Path
) -> None:
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="events")
    frame = pl.concat(collect(connector.extract(WINDOW, "happened_at")))
    assert frame["event_id"].to_list() == ["last-slack"]


def test_an_empty_result_yields_one_empty_frame(tmp_path: Path, sqlite_erp: Path) -> None:
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="invoices")
    far_window = ExtractWindow(date(2030, 1, 1), date(2030, 1, 1))
    frames = collect(connector.extract(far_window, "invoice_date"))
    assert len(frames) == 1
    assert frames[0].height == 0


def test_a_dated_extract_without_a_date_column_returns_every_row(tmp_path: Path, sqlite_erp: Path) -> None:
    # Nothing to filter on at the source: all ten rows are read, and the mapping cuts the window.
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="invoices")
    frame = pl.concat(collect(connector.extract(WINDOW, None)))
    assert frame.rows() == [
        ("inv-1", "2026-01-01", 1.0),
        ("inv-2", "2026-01-02", 2.0),
        ("inv-3", "2026-01-03", 3.0),
        ("inv-4", "2026-01-04", 4.0),
        ("inv-5", "2026-01-05", 5.0),
        ("inv-6", "2026-01-06", 6.0),
        ("inv-7", "2026-01-07", 7.0),
        ("inv-8", "2026-01-08", 8.0),
        ("inv-9", "2026-01-09", 9.0),
        ("inv-10", "2026-01-10", 10.0),
    ]
    assert connector.window_pushed_down is False
    assert connector.window_note == (
        "window not pushed down: no date column is mapped; all rows read and cut after parsing"
    )


def test_a_failing_query_names_the_source_and_the_database(tmp_path: Path, sqlite_erp: Path) -> None:
    connector = sql(tmp_path, url="sqlite:///data/erp.sqlite", table="no_such_table")
    with pytest.raises(SourceError) as raised:
        list(connector.extract(None, None))
    message = str(raised.value)
    assert "source 'erp'" in message
    assert str(tmp_path / "data" / "erp.sqlite") in message
    assert "no such table: no_such_table" in message


# --- sql: PostgreSQL and MariaDB -----------------------------------------------------------------


@pytest.fixture(params=[POSTGRES_URL, MARIADB_URL], ids=["postgresql", "mariadb"])
def server_table(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(url, table): a fresh table with a DATE column, one row a day, dropped afterwards."""
    url = request.param
    table = f"kpi_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    f"CREATE TABLE {table} (invoice_no VARCHAR(20), invoice_date DATE, total NUMERIC(12, 2))"
                )
            )
            connection.execute(
                sa.text(f"INSERT INTO {table} VALUES (:no, :day, :total)"),
                [{"no": f"inv-{day.day}", "day": day, "total": day.day} for day in DAYS],
            )
        yield url, table
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_server_date_column_table_with_a_window(tmp_path: Path, server_table: tuple[str, str]) -> None:
    url, table = server_table
    frame = pl.concat(collect(sql(tmp_path, url=url, table=table).extract(WINDOW, "invoice_date")))
    assert frame.schema["invoice_date"] == pl.Date
    assert frame.sort("invoice_date")["invoice_date"].to_list() == WINDOW_WITH_SLACK


def test_server_date_column_query_with_a_window(tmp_path: Path, server_table: tuple[str, str]) -> None:
    url, table = server_table
    connector = sql(
        tmp_path, url=url, query=f"SELECT invoice_no, invoice_date FROM {table}", filter_at_source=True
    )
    frame = pl.concat(collect(connector.extract(WINDOW, "invoice_date"))).sort("invoice_date")
    assert frame.rows() == [(f"inv-{day.day}", day) for day in WINDOW_WITH_SLACK]


def test_server_without_a_window_returns_every_row(tmp_path: Path, server_table: tuple[str, str]) -> None:
    url, table = server_table
    frame = pl.concat(collect(sql(tmp_path, url=url, table=table).extract(None, None)))
    assert frame.sort("invoice_date")["invoice_date"].to_list() == DAYS


# --- sql: secrets --------------------------------------------------------------------------------


def test_an_unset_password_env_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPI_TEST_UNSET_PASSWORD", raising=False)
    connector = sql(tmp_path, url=MARIADB_URL, table="invoices", password_env="KPI_TEST_UNSET_PASSWORD")
    with pytest.raises(SourceError) as raised:
        list(connector.extract(None, None))
    message = str(raised.value)
    assert "source 'erp'" in message
    assert "'KPI_TEST_UNSET_PASSWORD' (options.password_env) is not set" in message


def test_a_failed_connect_names_the_source_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"wrong-{uuid.uuid4().hex}"
    monkeypatch.setenv("KPI_TEST_DB_PASSWORD", secret)
    connector = sql(tmp_path, url=MARIADB_URL, table="invoices", password_env="KPI_TEST_DB_PASSWORD")

    with pytest.raises(SourceError) as raised:
        list(connector.extract(None, None))

    message = str(raised.value)
    assert "source 'erp'" in message
    assert "Access denied for user 'root'" in message
    assert "root:***@127.0.0.1:3306/test" in message
    assert secret not in message
    assert secret not in repr(raised.value)
    # A traceback does not print the driver's original error either.
    assert raised.value.__suppress_context__


def test_a_failing_query_with_a_password_names_the_source_and_hides_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL here trusts local connections: the password is sent and the query itself fails.
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("KPI_TEST_DB_PASSWORD", secret)
    missing = f"kpi_test_missing_{uuid.uuid4().hex[:12]}"
    connector = sql(tmp_path, url=POSTGRES_URL, table=missing, password_env="KPI_TEST_DB_PASSWORD")

    with pytest.raises(SourceError) as raised:
        list(connector.extract(None, None))

    message = str(raised.value)
    assert "source 'erp'" in message
    assert f'relation "{missing}" does not exist' in message
    assert "postgres:***@127.0.0.1:5432/test" in message
    assert secret not in message


# --- registry ------------------------------------------------------------------------------------


def test_available_connectors_lists_files_and_sql() -> None:
    connectors = available_connectors()
    assert connectors["files"] is FilesConnector
    assert connectors["sql"] is SqlConnector
    assert get_connector("sql") is SqlConnector


def test_an_unknown_connector_names_it_and_the_known_ones() -> None:
    with pytest.raises(KeyError) as raised:
        get_connector("ftp")
    message = str(raised.value)
    assert "unknown connector 'ftp'" in message
    assert "files" in message
    assert "sql" in message


# --- end to end ----------------------------------------------------------------------------------


def test_extract_source_from_a_loaded_config(tmp_path: Path) -> None:
    from assets.sources.assets import extract_source
    from kpi.config import load_config

    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "revenue.csv").write_text(
        "id,date,total,customer\n"
        "i1,2026-01-03,10.00,c1\n"
        "i2,2026-01-04T23:30:00Z,20.50,c2\n"  # the 5th in Berlin
        "i3,2026-01-05,-5, \n"
        "i4,2026-01-05,oops,c4\n"  # bad amount: rejected, not dropped
        "i5,2026-01-06,7,c5\n"
    )
    (tmp_path / "kpi.yaml").write_text(
        "timezone: Europe/Berlin\n"
        "start_date: 2026-01-01\n"
        "sources:\n"
        "  - name: finance_export\n"
        "    connector: files\n"
        "    options: {path: exports/revenue.csv}\n"
        "    entity: revenue_transactions\n"
        "    columns: {transaction_id: id, booked_on: date, amount: total, customer_id: customer}\n"
    )
    config = load_config(tmp_path / "kpi.yaml")

    mapped = extract_source(config, config.sources[0], ExtractWindow(date(2026, 1, 4), date(2026, 1, 5)))

    assert mapped.rows.to_dicts() == [
        {"transaction_id": "i2", "booked_on": date(2026, 1, 5), "customer_id": "c2", "amount": 20.5},
        {"transaction_id": "i3", "booked_on": date(2026, 1, 5), "customer_id": None, "amount": -5.0},
    ]
    assert mapped.rejects["rule"].to_list() == ["type:amount"]
    assert json.loads(mapped.rejects["raw_row"][0]) == {
        "transaction_id": "i4",
        "booked_on": "2026-01-05",
        "customer_id": "c4",
        "amount": "oops",
    }

    everything = extract_source(config, config.sources[0], None)
    assert everything.rows["transaction_id"].to_list() == ["i1", "i2", "i3", "i5"]
