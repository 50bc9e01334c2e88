"""The connector contract kit (`connectors.testing`): every built-in connector passes it, on real files,
a SQLite file, PostgreSQL, MariaDB and an HTTP server; and it catches each way of breaking the contract."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import polars as pl
import pytest
import sqlalchemy as sa

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError
from connectors.files import FilesConnector, FilesOptions
from connectors.http import HttpConnector, HttpOptions
from connectors.sql import SqlConnector, SqlOptions
from connectors.testing import ContractViolation, check_contract
from tests.conftest import SERVERS
from tests.fake_api import Reply, Request, fake_api

WINDOW = ExtractWindow(date(2026, 3, 10), date(2026, 3, 11))
EMPTY = ExtractWindow(date(2025, 1, 1), date(2025, 1, 1))
ROWS = [
    ("INV-1", date(2026, 3, 1), 10.0),
    ("INV-2", date(2026, 3, 10), 20.5),
    ("INV-3", date(2026, 3, 11), 30.0),
    ("INV-4", date(2026, 3, 20), 40.0),
    ("INV-5", None, 50.0),
]
PASSWORD = "not-the-root-password-4711"


def invoices() -> pl.DataFrame:
    return pl.DataFrame(
        ROWS, schema={"id": pl.String, "booked_on": pl.Date, "amount": pl.Float64}, orient="row"
    )


def test_files_connector_keeps_the_contract(tmp_path: Path) -> None:
    invoices().write_csv(tmp_path / "invoices.csv")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    files = FilesConnector("exports", FilesOptions(path="*.csv"), tmp_path)
    report = check_contract(
        files,
        window=WINDOW,
        empty_window=EMPTY,
        date_column="booked_on",
        broken=FilesConnector("exports", FilesOptions(path="broken.parquet"), tmp_path),
    )
    # files cannot filter: every row, every column as text
    assert not report.pushed_down and report.rows == len(ROWS)
    assert report.schema == {"id": pl.String(), "booked_on": pl.String(), "amount": pl.String()}
    assert "broken.parquet" in (report.error or "")


def test_sql_connector_keeps_the_contract_on_a_sqlite_file(tmp_path: Path) -> None:
    # (duckdb_engine's reflection fails on SQLAlchemy 2.1, so a DuckDB table is read whole unless the
    # config sets filter_at_source: SQLite shows the window pushed down by reflection)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE invoices (id VARCHAR, booked_on DATE, amount DOUBLE)")
        connection.execute(
            sa.text("INSERT INTO invoices VALUES (:id, :day, :amount)"),
            [{"id": i, "day": d, "amount": a} for i, d, a in ROWS],
        )
    engine.dispose()
    report = check_contract(
        SqlConnector("erp", SqlOptions(url="sqlite:///erp.sqlite", table="invoices"), tmp_path),
        window=WINDOW,
        empty_window=EMPTY,
        date_column="booked_on",
        broken=SqlConnector("erp", SqlOptions(url="sqlite:///erp.sqlite", table="no_such_table"), tmp_path),
    )
    # pushed down: the window's two days (with a day of slack each side) and the row of no date
    assert report.pushed_down and report.rows == 3
    assert report.empty_window_rows == 1  # the undated row is read by every window, to be quarantined once


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_sql_connector_keeps_the_contract_on_a_server_and_names_no_password(
    server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if server == "postgresql":
        engine, schema = request.getfixturevalue("postgres_schema")
        url, table = str(engine.url.render_as_string(hide_password=False)), f"{schema}.invoices"
    else:
        url, table = request.getfixturevalue("mariadb_database"), "invoices"
        engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"CREATE TABLE {table} (id VARCHAR(20), booked_on DATE, amount FLOAT)")
        connection.execute(
            sa.text(f"INSERT INTO {table} VALUES (:id, :day, :amount)"),
            [{"id": i, "day": d, "amount": a} for i, d, a in ROWS],
        )
    monkeypatch.setenv("ERP_PASSWORD", PASSWORD)
    # PostgreSQL here trusts local connections whatever the password: an unknown database fails instead
    broken_url = f"{SERVERS['postgresql']}/no_such_database" if server == "postgresql" else url
    report = check_contract(
        SqlConnector("erp", SqlOptions(url=url, table=table), Path(".")),
        window=WINDOW,
        empty_window=EMPTY,
        date_column="booked_on",
        broken=SqlConnector(
            "erp", SqlOptions(url=broken_url, table=table, password_env="ERP_PASSWORD"), Path(".")
        ),
        secrets=[PASSWORD],
    )
    assert report.pushed_down and report.rows == 3


def test_http_connector_keeps_the_contract_and_names_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TOKEN", PASSWORD)

    def answer(request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {PASSWORD}":
            return Reply({"error": "unauthorized"}, status=401)
        since, until = date.fromisoformat(request.query["from"]), date.fromisoformat(request.query["to"])
        rows = [r for r in ROWS if r[1] is not None and since <= r[1] < until]
        return Reply({"data": [{"id": i, "booked_on": d.isoformat(), "amount": a} for i, d, a in rows]})

    def http(token_env: str) -> HttpConnector:
        options = {
            "url": api.url("/invoices"),
            "records_path": "data",
            "auth": {"type": "bearer", "token_env": token_env},
            "incremental": {"start_param": "from", "end_param": "to"},
            "fields": {"id": "string", "booked_on": "string", "amount": "number"},
        }
        return HttpConnector("billing", HttpOptions.model_validate(options), Path("."))

    monkeypatch.setenv("WRONG_TOKEN", "nope")
    with fake_api(answer) as api:
        report = check_contract(
            http("BILLING_TOKEN"),
            window=WINDOW,
            empty_window=EMPTY,
            date_column="booked_on",
            broken=http("WRONG_TOKEN"),
            secrets=[PASSWORD, "nope"],
        )
    assert report.pushed_down and report.rows == 2
    assert "HTTP 401" in (report.error or "")


# --- the kit catches each broken rule ---------------------------------------------------------------


class FixtureOptions(ConnectorOptions):
    flaw: str = "none"
    password_env: str = "FIXTURE_PASSWORD"


class FixtureConnector(Connector):
    """Serves ROWS, with one deliberate flaw, to show the kit catching it."""

    name = "fixture"
    description = "rows from memory"
    Options = FixtureOptions
    options: FixtureOptions
    schema: ClassVar = {"id": pl.String(), "booked_on": pl.Date(), "amount": pl.Float64()}
    runs = 0

    def declared_schema(self) -> dict[str, pl.DataType] | None:
        return dict(self.schema)

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        flaw = self.options.flaw
        FixtureConnector.runs += 1
        if flaw == "leaks":
            raise SourceError(f"source {self.source_name!r}: login failed with password {PASSWORD}")
        if flaw == "raw_error":
            raise KeyError("amount")
        if flaw == "logs":
            logging.getLogger("fixture").debug("GET https://api.example.com/x?key=%s", PASSWORD)
        rows = invoices()
        self.window_pushed_down = flaw != "no_pushdown"
        if window is not None and flaw != "ignores_window":
            first, after_last = window.source_bounds()
            rows = rows.filter(pl.col("booked_on").is_between(first, after_last, closed="left"))
        if flaw == "nondeterministic" and FixtureConnector.runs % 2 == 0:
            rows = rows.with_columns(pl.col("amount") + 1)
        if flaw == "wrong_types":
            rows = rows.with_columns(pl.col("amount").cast(pl.String))
        if flaw == "epoch_dates":
            rows = rows.with_columns(pl.col("booked_on").cast(pl.Int64))
        if flaw == "no_empty_frame" and rows.is_empty():
            return
        yield rows


def fixture(flaw: str = "none") -> FixtureConnector:
    return FixtureConnector("memory", FixtureOptions(flaw=flaw), Path("."))


@pytest.mark.parametrize(
    ("flaw", "broken_flaw", "rule"),
    [
        ("ignores_window", "leaks", "returned 2 row(s) dated outside 2026-03-09 .. 2026-03-12"),
        ("nondeterministic", "raw_error", "extracting the same window twice gave different rows"),
        ("wrong_types", "raw_error", "not the declared {id: String, booked_on: Date, amount: Float64}"),
        ("no_empty_frame", "raw_error", "the empty window yielded no frame"),
        ("none", "leaks", "the broken source's error holds a secret"),
        ("none", "raw_error", "the broken source raised KeyError, not SourceError"),
        ("none", "none", "the broken source raised no error"),
        (
            "no_pushdown",
            "raw_error",
            "two windows gave different rows, but the connector says it did not filter",
        ),
        ("logs", "raw_error", "a log record holds a secret"),
        ("epoch_dates", "raw_error", "cannot check the window: 'booked_on' is Int64"),
    ],
)
def test_the_kit_names_each_broken_rule(flaw: str, broken_flaw: str, rule: str) -> None:
    with pytest.raises(ContractViolation) as violation:
        check_contract(
            fixture(flaw),
            window=WINDOW,
            empty_window=EMPTY,
            date_column="booked_on",
            broken=fixture(broken_flaw),
            secrets=[PASSWORD],
        )
    assert rule in str(violation.value)
    assert PASSWORD not in str(violation.value)


def test_the_kit_passes_a_connector_without_flaws_and_refuses_options_that_take_anything() -> None:
    report = check_contract(
        fixture(), window=WINDOW, empty_window=EMPTY, date_column="booked_on", broken=fixture("leaks")
    )
    assert report.rows == 2 and report.empty_window_rows == 0  # (the undated row is dropped by this filter)

    class Loose(FixtureConnector):
        Options = type("LooseOptions", (ConnectorOptions,), {"model_config": {"extra": "allow"}})

    with pytest.raises(ContractViolation, match="Options accepts an unknown key"):
        check_contract(Loose("memory", FixtureOptions(), Path(".")), window=WINDOW, date_column="booked_on")


def test_the_kit_says_the_bad_record_columns_stay_out_of_the_declared_schema() -> None:
    class Declares(FixtureConnector):
        def declared_schema(self) -> dict[str, pl.DataType] | None:
            return {**self.schema, "_kpi_record_problem": pl.String(), "_kpi_raw_record": pl.String()}

    with pytest.raises(ContractViolation) as violation:
        check_contract(
            Declares("memory", FixtureOptions(), Path(".")), window=WINDOW, date_column="booked_on"
        )
    assert str(violation.value).splitlines()[1:] == [
        "- declared_schema() holds _kpi_record_problem, _kpi_raw_record: leave the bad-record columns out of it "
        "(a frame carries them only when it has a bad record)"
    ]


def test_the_kit_reads_a_timestamp_s_day_as_written_and_allows_a_declared_lookback() -> None:
    class Stamped(FixtureConnector):
        """Filters by an updated-since parameter with two days of lookback; dates as local timestamps."""

        def declared_schema(self) -> dict[str, pl.DataType] | None:
            return None

        def extract(
            self, window: ExtractWindow | None, source_date_column: str | None
        ) -> Iterator[pl.DataFrame]:
            self.window_pushed_down = True
            rows = invoices().drop_nulls("booked_on")
            if window is not None:
                first, after_last = window.source_bounds()
                rows = rows.filter(
                    pl.col("booked_on").is_between(first - timedelta(days=2), after_last, closed="left")
                )
            yield rows.with_columns(pl.col("booked_on").dt.strftime("%Y-%m-%dT23:30:00-05:00"))

    stamped = Stamped("memory", FixtureOptions(), Path("."))
    window = ExtractWindow(date(2026, 3, 3), date(2026, 3, 9))  # bounds 03-02 .. 03-10, INV-1 is 03-01
    with pytest.raises(
        ContractViolation, match=r"returned 1 row\(s\) dated outside 2026-03-02 .. 2026-03-10: 2026-03-01"
    ):
        check_contract(stamped, window=window, date_column="booked_on")
    report = check_contract(stamped, window=window, date_column="booked_on", lookback_days=2)
    assert report.rows == 2  # INV-1 (03-01, in the lookback) and INV-2 (03-10 at 23:30 local, not 03-11 UTC)
