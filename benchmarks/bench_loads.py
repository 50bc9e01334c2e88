"""Loads and reads of revenue_transactions on the server warehouses, beside `psql \\copy`.

    make bench                       # or: .venv/bin/python benchmarks/bench_loads.py --rows 1000000

--rows revenue_transactions rows are generated (a tenth of customer_id null) and written as CSV,
then, each into a fresh table made from the warehouse's own table definition, timed with a monotonic
clock, best of --repeat:
PostgreSQL (--postgres)
  (a) `psql -c "\\copy table FROM 'rows.csv' WITH (FORMAT csv, HEADER)"`, the whole process;
  (b) kpi.bulk.copy_into inside one transaction, after a DELETE of the partition (the Warehouse's
      replace), commit included;
  (c) the old path, `connection.execute(table.insert(), frame.to_dicts())`, on --old-rows rows,
      reported as its rate;
  (d) reads of all the rows: kpi.bulk.read_columnar (connectorx), read_frame (COPY TO) and pl.read_database.
MariaDB (--mariadb): kpi.bulk.insert_batched beside the old path (both on --old-rows rows and on all
of them for insert_batched), and reads.
The target of issue 8: copy_into at no less than half the rate of psql \\copy (ratio >= 0.5).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa

from kpi.bulk import copy_into, insert_batched, read_columnar, read_frame
from kpi.entities import ENTITIES
from kpi.warehouse import ENTITY_TABLES

ENTITY = "revenue_transactions"
DAY = date(2026, 3, 2)
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/test"


def revenue_rows(rows: int) -> pl.DataFrame:
    """`rows` transactions over 28 days ending on DAY, in the table's column order."""
    generator = np.random.default_rng(8)
    customers = generator.integers(0, max(rows // 20, 1), rows)
    return pl.DataFrame(
        {
            "transaction_id": pl.int_range(rows, eager=True).cast(pl.String).str.zfill(10).str.head(10),
            "booked_on": pl.Series(generator.integers(-27, 1, rows)).cast(pl.Int32),
            "customer_id": pl.Series(customers).cast(pl.String),
            "amount": generator.lognormal(5, 0.7, rows) * generator.choice([1.0, -1.0], rows, p=[0.95, 0.05]),
            "null": generator.random(rows) < 0.1,
        }
    ).select(
        transaction_id=pl.lit("T") + pl.col("transaction_id"),
        booked_on=pl.lit(DAY) + pl.duration(days=pl.col("booked_on")),
        customer_id=pl.when(~pl.col("null")).then(pl.lit("C") + pl.col("customer_id")),
        amount="amount",
        source=pl.lit("bench"),
    )


@contextmanager
def fresh_table(engine: sa.Engine) -> Iterator[sa.Table]:
    """A new, empty copy of the revenue_transactions table (its definition), dropped afterwards."""
    table = ENTITY_TABLES[ENTITY].to_metadata(sa.MetaData(), name=f"bench_{ENTITY}_{uuid.uuid4().hex[:8]}")
    table.create(engine)
    try:
        yield table
    finally:
        table.drop(engine)


def best_of(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def replace_day(engine: sa.Engine, table: sa.Table, frame: pl.DataFrame, insert: Callable) -> float:
    """Seconds for DELETE of the frame's days and the insert, in one transaction, commit included."""
    start = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.booked_on.in_(frame["booked_on"].unique().to_list())))
        insert(connection, table, frame)
    return time.perf_counter() - start


def old_insert(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    connection.execute(table.insert(), frame.to_dicts())


def measure_loads(
    engine: sa.Engine, frame: pl.DataFrame, old_rows: int, repeat: int, bulk: Callable
) -> dict[str, float]:
    """Seconds of the bulk load of `frame` and of the old path on its first `old_rows` rows."""

    def bulk_run() -> float:
        with fresh_table(engine) as table:
            return replace_day(engine, table, frame, bulk)

    def old_run() -> float:
        with fresh_table(engine) as table:
            return replace_day(engine, table, frame.head(old_rows), old_insert)

    return {"bulk": best_of(repeat, bulk_run), "old": best_of(repeat, old_run) if old_rows else float("nan")}


def measure_reads(engine: sa.Engine, frame: pl.DataFrame, repeat: int, bulk: Callable) -> dict[str, float]:
    """Seconds to read all the rows of a table holding `frame`: read_frame, and pl.read_database."""
    schema = {**ENTITIES[ENTITY].schema, "source": pl.String()}
    with fresh_table(engine) as table:
        replace_day(engine, table, frame, bulk)
        statement = sa.select(table)

        def read_bulk() -> float:
            with engine.connect() as connection:
                start = time.perf_counter()
                read = read_frame(connection, statement, schema)
                elapsed = time.perf_counter() - start
            assert read.height == frame.height
            return elapsed

        def read_rows() -> float:
            with engine.connect() as connection:
                start = time.perf_counter()
                read = pl.read_database(statement, connection)
                elapsed = time.perf_counter() - start
            assert read.height == frame.height
            return elapsed

        def read_columns() -> float:
            start = time.perf_counter()
            read = read_columnar(engine.url, statement, schema)
            elapsed = time.perf_counter() - start
            assert read.height == frame.height
            return elapsed

        return {
            "read_columnar": best_of(repeat, read_columns),
            "read_frame": best_of(repeat, read_bulk),
            "read_database": best_of(repeat, read_rows),
        }


def psql_copy(engine: sa.Engine, csv_path: Path, repeat: int) -> float:
    url = engine.url

    def run() -> float:
        with fresh_table(engine) as table:
            command = [
                "psql",
                "-h",
                url.host or "127.0.0.1",
                "-p",
                str(url.port or 5432),
                "-U",
                url.username or "postgres",
                "-d",
                url.database or "test",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                f"\\copy {table.name} FROM '{csv_path}' WITH (FORMAT csv, HEADER)",
            ]
            environment = {"PGPASSWORD": url.password} if url.password else None
            return timed(lambda: subprocess.run(command, check=True, capture_output=True, env=environment))

    return best_of(repeat, run)


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:>12,.0f} rows/s  ({seconds:7.2f} s for {rows:,} rows)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--old-rows", type=int, default=100_000, help="rows for the old (executemany) path")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", default=POSTGRES, help="SQLAlchemy URL, or 'none' to skip")
    parser.add_argument("--mariadb", default=MARIADB, help="SQLAlchemy URL, or 'none' to skip")
    arguments = parser.parse_args()
    rows, old_rows, repeat = arguments.rows, min(arguments.old_rows, arguments.rows), arguments.repeat
    frame = revenue_rows(rows)
    print(f"{rows:,} revenue_transactions rows, best of {repeat}; the old path on {old_rows:,} rows")
    directory = Path(tempfile.mkdtemp(prefix="bench_loads_"))
    try:
        csv_path = directory / "revenue_transactions.csv"
        frame.write_csv(csv_path)
        if arguments.postgres != "none":
            engine = sa.create_engine(arguments.postgres)
            try:
                psql = psql_copy(engine, csv_path, repeat)
                loads = measure_loads(engine, frame, old_rows, repeat, copy_into)
                reads = measure_reads(engine, frame, repeat, copy_into)
            finally:
                engine.dispose()
            print("PostgreSQL")
            print(f"  (a) psql \\copy (CSV file)     {rate(rows, psql)}")
            print(f"  (b) copy_into (DELETE + COPY) {rate(rows, loads['bulk'])}")
            print(f"  (c) old path (executemany)    {rate(old_rows, loads['old'])}")
            print(
                f"  (d) read_columnar (connectorx, what Warehouse.read uses) {rate(rows, reads['read_columnar'])}"
            )
            print(f"      read_frame (COPY TO)      {rate(rows, reads['read_frame'])}")
            print(f"      pl.read_database          {rate(rows, reads['read_database'])}")
            ratio = psql / loads["bulk"]
            verdict = "meets" if ratio >= 0.5 else "MISSES"
            print(f"  copy_into / psql \\copy rate: {ratio:.2f} ({verdict} the target of 0.5)")
            print(f"  copy_into / old path rate: {(loads['old'] / old_rows) / (loads['bulk'] / rows):.0f}x")
        if arguments.mariadb != "none":
            engine = sa.create_engine(arguments.mariadb)
            try:
                small = measure_loads(engine, frame.head(old_rows), old_rows, repeat, insert_batched)
                full = measure_loads(engine, frame, 0, 1, insert_batched)["bulk"] if rows > old_rows else None
                reads = measure_reads(engine, frame, repeat, insert_batched)
            finally:
                engine.dispose()
            print("MariaDB")
            print(f"  insert_batched                {rate(old_rows, small['bulk'])}")
            if full is not None:
                print(f"  insert_batched (all rows)     {rate(rows, full)}")
            print(f"  old path (executemany)        {rate(old_rows, small['old'])}")
            print(
                f"  read_columnar (connectorx, what Warehouse.read uses) {rate(rows, reads['read_columnar'])}"
            )
            print(f"  read_frame (driver tuples)    {rate(rows, reads['read_frame'])}")
            print(f"  pl.read_database              {rate(rows, reads['read_database'])}")
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
