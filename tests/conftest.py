"""Shared fixtures: demo source systems made once per session, a config pointing at them, a temporary
DuckDB warehouse and a temporary Dagster instance per test, and throwaway databases and schemas on the
local PostgreSQL and MariaDB servers."""

from __future__ import annotations

import atexit
import os
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import NoReturn

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from kpi.demo import demo_config
from kpi.demo_sources import DemoSummary, generate_demo_sources

DEMO_END = date(2026, 3, 10)
DEMO_DAYS = 45
DEMO_INVOICES_PER_DAY = 12

# The local servers (without a database), and the database each has for tests and administration.
POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
MARIADB_SERVER = "mysql+pymysql://root@127.0.0.1:3306"
SERVERS = {"postgresql": POSTGRES_SERVER, "mariadb": MARIADB_SERVER}
ADMIN_DATABASE = "test"
POSTGRES = f"{POSTGRES_SERVER}/{ADMIN_DATABASE}"


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return generate_demo_sources(
        tmp_path_factory.mktemp("demo") / "sources",
        end_date=DEMO_END,
        days=DEMO_DAYS,
        seed=7,
        invoices_per_day=DEMO_INVOICES_PER_DAY,
    )


def unavailable(reason: str) -> NoReturn:
    """A server or data set a test needs is missing: skip the test, or with CI=true fail it (CI must
    not pass by skipping)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def server_engine(kind: str, **options: object) -> sa.Engine:
    """An engine on the `test` database of the local server `kind` ("postgresql" or "mariadb"), once a
    connection has worked; if none does, the test is skipped (failed with CI=true)."""
    url = f"{SERVERS[kind]}/{ADMIN_DATABASE}"
    engine = sa.create_engine(url, **options)
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        engine.dispose()
        unavailable(f"{kind} is not reachable at {SERVERS[kind]}: {error.orig}")
    return engine


@contextmanager
def new_database(kind: str) -> Iterator[str]:
    """A new, empty database on the local server `kind`, dropped afterwards; its URL."""
    name = f"kpi_{uuid.uuid4().hex[:12]}"
    admin = server_engine(kind, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        try:
            yield f"{SERVERS[kind]}/{name}"
        finally:
            from kpi.warehouse import dispose_all

            dispose_all()  # the warehouse's pooled connections would keep PostgreSQL from dropping it
            with admin.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    finally:
        admin.dispose()


@pytest.fixture
def postgres_schema() -> Iterator[tuple[sa.Engine, str]]:
    """A new schema in the local PostgreSQL's `test` database (URL `POSTGRES`), dropped afterwards with
    its tables; an engine on that database, and the schema's name."""
    engine = server_engine("postgresql")
    schema = f"kpi_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            yield engine, schema
        finally:
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        engine.dispose()


@pytest.fixture
def mariadb_database() -> Iterator[str]:
    """A new database on the local MariaDB, dropped afterwards; its URL."""
    with new_database("mariadb") as url:
        yield url


def query(directory: Path, sql: str, *parameters: object, database: str = "warehouse.duckdb") -> list[tuple]:
    """Rows of `sql` on the DuckDB warehouse in `directory` (a config's folder), read directly through
    the driver the pipeline uses."""
    import sqlalchemy as sa

    engine = sa.create_engine(f"duckdb:///{directory / database}")
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.exec_driver_sql(sql, tuple(parameters)).fetchall()]
    finally:
        engine.dispose()


def shop_config(
    directory: Path,
    rows: list[str],
    warehouse: str = "duckdb:///warehouse.duckdb",
    target: float | None = None,
    **settings,
) -> Path:
    """A config with one CSV source of revenue (`sales.csv`: id, day, customer, total; `rows` its
    lines) and, when `target` is given, one objective for January with a revenue key result."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sales.csv").write_text("id,day,customer,total\n" + "".join(row + "\n" for row in rows))
    data: dict = {
        "start_date": "2026-01-01",
        "warehouse": warehouse,
        **settings,
        "sources": [
            {
                "name": "shop",
                "connector": "files",
                "options": {"path": "sales.csv"},
                "entity": "revenue_transactions",
                "columns": {
                    "transaction_id": "id",
                    "booked_on": "day",
                    "customer_id": "customer",
                    "amount": "total",
                },
            }
        ],
    }
    if target is not None:
        data["objectives"] = [
            {
                "id": "o",
                "title": "O",
                "owner": "me",
                "start": "2026-01-01",
                "end": "2026-01-31",
                "key_results": [
                    {"id": "kr", "description": "d", "kpi_id": "revenue", "baseline": 0, "target": target}
                ],
            }
        ]
    return write_config(directory, data)


def write_config(directory: Path, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kpi.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def demo_config_in(directory: Path, demo_sources: DemoSummary) -> Path:
    """The demo config in `directory`, its sources the session's demo files, its warehouse a fresh
    DuckDB file beside it."""
    data = demo_config(DEMO_END, DEMO_DAYS, DEMO_INVOICES_PER_DAY)
    data["warehouse"] = f"duckdb:///{directory / 'warehouse.duckdb'}"
    config_dir = demo_sources.out_dir.parent
    for source in data["sources"]:
        options = source["options"]
        if "path" in options:
            options["path"] = str(config_dir / options["path"])
        if "url" in options:
            options["url"] = options["url"].replace("sqlite:///", f"sqlite:///{config_dir}/")
    return write_config(directory, data)


@pytest.fixture
def demo_config_path(tmp_path: Path, demo_sources: DemoSummary) -> Path:
    """The demo config, its sources the session's demo files, its warehouse a fresh DuckDB file."""
    return demo_config_in(tmp_path, demo_sources)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A persistent Dagster instance's home, as `kpi run` and the UI use it."""
    from kpi.runner import ensure_dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return ensure_dagster_home()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """An in-memory Dagster instance: the pipeline runs the same, without the run history on disk."""
    with dg.DagsterInstance.ephemeral(tempdir=str(tmp_path / "dagster_storage")) as instance:
        yield instance


def erp_rows(demo: DemoSummary, query: str, *parameters: object) -> list[tuple]:
    """Read the demo ERP straight from SQLite: an independent check on what the pipeline loaded."""
    with sqlite3.connect(demo.out_dir / "erp.sqlite") as connection:
        return connection.execute(query, parameters).fetchall()


os.environ.setdefault("TQDM_DISABLE", "1")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """End the process right after pytest's summary, with pytest's exit status.

    DuckDB's bindings print pages of reference-leak warnings at interpreter shutdown once Great
    Expectations has been imported beside them (harmless: everything is committed by then). They
    would bury the summary line that CI reads, so the interpreter's teardown is skipped, as `kpi` does.
    """

    def exit_now() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(exitstatus))

    atexit.register(exit_now)
