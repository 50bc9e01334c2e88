"""One writer at a time per warehouse, across processes and Dagster instances.

Two runs that write one warehouse at once (the nightly run and a backfill, two overlapping backfills,
`kpi run` beside the UI) must end with one copy of each partition: each step that reads the warehouse
and writes it holds this lock from its first read to its commit, so the second waits for the first
and then replaces its rows, instead of both inserting the same keys. PostgreSQL uses an advisory lock,
MySQL/MariaDB a named lock (`GET_LOCK`, named after the database: named locks are the server's, and
two warehouses on one server must not wait for each other); a DuckDB file already admits one writing process, which
`open_warehouse` waits for with a message; SQLite serializes its writers itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa

WAREHOUSE_POOL = "warehouse"
"""The Dagster concurrency pool of every step that writes the warehouse: with the instance's
`concurrency.pools.default_limit: 1`, one such step at a time across the instance's runs (the
lock below also covers runs of other instances and processes)."""
LOCK_NAME = "kpi_pipeline_warehouse"
LOCK_KEY = 0x6B70695F77617265  # "kpi_ware": the PostgreSQL advisory lock's 64-bit key
ALERTS_LOCK = ("kpi_pipeline_alerts", 0x6B70695F616C7274)  # "kpi_alrt"
"""(name, key) of the lock alert deliveries take instead: posting never holds up a run."""
MYSQL_LOCK_NAME = "CONCAT(:name, ':', DATABASE())"
"""The MySQL/MariaDB lock's name, in SQL: the lock's name and the warehouse's database."""
POLL_SECONDS = 0.5
DEFAULT_TIMEOUT_SECONDS = 1800.0


class WarehouseBusy(Exception):
    """Another run held the warehouse lock for longer than this run would wait."""


@contextmanager
def warehouse_lock(
    engine: sa.Engine,
    log: Callable[[str], None] = lambda message: None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    lock: tuple[str, int] = (LOCK_NAME, LOCK_KEY),
) -> Iterator[None]:
    """Hold the warehouse's writer lock (or another `lock`: its MySQL name and PostgreSQL key) for the
    block, waiting for another holder up to `timeout_seconds` (saying so once through `log`). Raises
    WarehouseBusy after the wait.

    The lock lives on its own connection, apart from the block's transactions, and is released
    when the block ends, or when the process dies (the server drops a dead session's locks).
    """
    dialect = engine.dialect.name
    if dialect not in ("postgresql", "mysql", "mariadb"):
        yield
        return
    name, key = lock
    with engine.connect() as connection:
        _acquire(connection, dialect, log, timeout_seconds, name, key)
        try:
            yield
        finally:
            release = (
                "SELECT pg_advisory_unlock(:key)"
                if dialect == "postgresql"
                else f"SELECT RELEASE_LOCK({MYSQL_LOCK_NAME})"
            )
            connection.execute(sa.text(release), {"key": key, "name": name})
            connection.commit()


def _acquire(
    connection: sa.Connection,
    dialect: str,
    log: Callable[[str], None],
    timeout_seconds: float,
    name: str,
    key: int,
) -> None:
    attempt = (
        "SELECT pg_try_advisory_lock(:key)"
        if dialect == "postgresql"
        else f"SELECT GET_LOCK({MYSQL_LOCK_NAME}, 0)"
    )
    deadline = time.monotonic() + timeout_seconds
    waited = False
    while True:
        acquired = connection.execute(sa.text(attempt), {"key": key, "name": name}).scalar()
        connection.commit()  # (the lock is the session's, not the transaction's)
        if acquired:
            return
        if time.monotonic() >= deadline:
            raise WarehouseBusy(
                f"another run has held the warehouse's lock for more than {timeout_seconds:.0f} s; "
                "try again when it has finished"
            )
        if not waited:
            log("another run is writing the warehouse: waiting for it to finish")
            waited = True
        time.sleep(POLL_SECONDS)
