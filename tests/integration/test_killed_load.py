"""A load killed with SIGKILL in the middle of its COPY leaves the previous partition intact, and the
rerun completes: the delete and the COPY of a partition are one transaction on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import new_database

DAY = date(2026, 1, 5)
LOAD = """
import sys
from datetime import date
import polars as pl
from kpi.warehouse import ENTITY_TABLES, Warehouse, entity_rows_where

url, rows = sys.argv[1], int(sys.argv[2])
warehouse = Warehouse(url)
warehouse.create_tables()
frame = pl.DataFrame(
    {
        "transaction_id": [f"T{i}" for i in range(rows)],
        "booked_on": [date(2026, 1, 5)] * rows,
        "customer_id": [f"C{i % 97}" for i in range(rows)],
        "amount": [float(i % 1000) for i in range(rows)],
        "source": ["shop"] * rows,
    }
)
print("loading", flush=True)
with warehouse.transaction() as connection:
    warehouse.replace(
        connection,
        ENTITY_TABLES["revenue_transactions"],
        frame,
        entity_rows_where("revenue_transactions", ["shop"], [date(2026, 1, 5)]),
    )
print("done", flush=True)
"""


def load(url: str, rows: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", LOAD, url, str(rows)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )


def copying(engine: sa.Engine) -> bool:
    """A COPY is running in the engine's database (not another test's or process's on the server)."""
    with engine.connect() as connection:
        return bool(
            connection.exec_driver_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'COPY %%' AND state = 'active'"
            ).scalar_one()
        )


def rows_of_the_day(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql(
            f"SELECT count(*) FROM revenue_transactions WHERE booked_on = '{DAY}'"
        ).scalar_one()


def test_a_load_killed_mid_copy_keeps_the_previous_partition_and_the_rerun_completes() -> None:
    with new_database("postgresql") as url:
        assert load(url, 10).wait(timeout=120) == 0  # the previous load of the day: 10 rows
        engine = sa.create_engine(url)
        try:
            assert rows_of_the_day(engine) == 10
            process = load(url, 3_000_000)
            assert process.stdout is not None and process.stdout.readline().strip() == "loading"
            deadline = time.monotonic() + 120
            while not copying(engine):
                assert process.poll() is None, "the load ended before its COPY was seen"
                assert time.monotonic() < deadline
                time.sleep(0.02)
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            assert process.returncode == -signal.SIGKILL
            # The server rolls the dead session's transaction back: the day's previous rows, not a mix.
            deadline = time.monotonic() + 30
            while copying(engine) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert rows_of_the_day(engine) == 10
            assert load(url, 50_000).wait(timeout=300) == 0  # the rerun
            assert rows_of_the_day(engine) == 50_000
        finally:
            engine.dispose()
