"""Two `kpi run` processes writing one warehouse at once end with one copy of each partition and no
error: the second waits for the warehouse lock, then replaces the first's rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from tests.conftest import SERVERS, new_database, shop_config

KPI = Path(sys.executable).parent / "kpi"
DAYS = [f"2026-01-{day:02d}" for day in range(1, 4)]


def config(directory: Path, warehouse: str) -> Path:
    rows = [f"T{day}{index},{day},C{index},{index + 1}.25" for day in DAYS for index in range(40)]
    return shop_config(directory, rows, warehouse, target=5000)


@pytest.mark.parametrize("kind", list(SERVERS))
def test_two_overlapping_runs_leave_one_copy_of_each_partition(tmp_path: Path, kind: str) -> None:
    with new_database(kind) as url:
        path = config(tmp_path, url)
        started = time.monotonic()
        # The same days twice at once: a backfill as one run, and one run per day as nightly runs.
        processes = [
            subprocess.Popen(
                [KPI, "run", "--config", path, "--from", DAYS[0], "--to", DAYS[-1], *single_run],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                # both on the config's own instance (beside it): its pool `warehouse` lets one
                # warehouse step run at a time, and the warehouse lock covers every other writer
                env={key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"},
            )
            for single_run in (["--single-run"], [])
        ]
        outputs = [process.communicate(timeout=600)[0] for process in processes]
        elapsed = time.monotonic() - started
        for process, output in zip(processes, outputs, strict=True):
            assert process.returncode == 0, output
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:

                def rows(sql: str) -> pl.DataFrame:
                    return pl.read_database(sql, connection)

                assert rows(
                    "SELECT count(*) AS n, count(DISTINCT transaction_id) AS d FROM revenue_transactions"
                ).rows() == [(120, 120)]  # 3 days x 40 rows, once each
                duplicated = rows(
                    "SELECT kpi_id, grain, period_start FROM kpi_values GROUP BY kpi_id, grain, period_start HAVING count(*) > 1"
                )
                assert duplicated.is_empty()
                # Revenue per day: 40 rows of 1.25 .. 40.25 = 40 * 1.25 + (0 + ... + 39) = 50 + 780 = 830.
                day_values = rows("SELECT value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'day'")
                assert day_values["value"].to_list() == [830.0] * 3
                month = rows(
                    "SELECT value, days_covered FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month'"
                )
                assert month.rows() == [(2490.0, 3)]
                assert rows("SELECT count(*) AS n FROM key_results").item() == 3
        finally:
            engine.dispose()
        print(f"{kind}: two overlapping runs of {len(DAYS)} days each in {elapsed:.1f} s")


def test_a_duckdb_file_in_use_by_another_process_is_refused_with_one_line(tmp_path: Path) -> None:
    path = config(tmp_path, "duckdb:///warehouse.duckdb")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(600)",
            str(tmp_path / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = subprocess.run(
            [KPI, "run", "--config", path, "--from", DAYS[0], "--to", DAYS[0]],
            capture_output=True,
            text=True,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster")},
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("error:")]
    assert f"(PID {holder.pid})" in line
    assert "a DuckDB file admits one writing process: wait for the other run to finish" in line


@pytest.mark.parametrize("kind", list(SERVERS))
def test_the_warehouse_lock_is_one_warehouse_s_not_the_server_s(kind: str) -> None:
    """A run holding its warehouse's lock holds up a second writer of that warehouse, never a run of
    another warehouse (another database) on the same server."""
    from kpi.locks import WarehouseBusy, warehouse_lock

    with new_database(kind) as first_url, new_database(kind) as second_url:
        first, same, second = (sa.create_engine(url) for url in (first_url, first_url, second_url))
        try:
            with warehouse_lock(first):
                with pytest.raises(WarehouseBusy), warehouse_lock(same, timeout_seconds=0.5):
                    pass
                with warehouse_lock(second, timeout_seconds=0.5):
                    pass  # taken at once
        finally:
            for engine in (first, same, second):
                engine.dispose()
