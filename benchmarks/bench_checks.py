"""What the data-quality gate costs on a 1,000,000-row day, and its share of the day's run.

    make bench                       # or: .venv/bin/python benchmarks/bench_checks.py --rows 1000000

One day of revenue transactions is written as Parquet, read by the `files` connector, then:
1. extract and map (the connector and the canonical mapping),
2. the checks: the revenue_transactions suite through Great Expectations (to_pandas, validation,
   failing-row indices), and the split into kept and quarantined rows,
3. the whole partition through Dagster (extract, checks, entity load, KPI values and their checks),
each timed with a monotonic clock; the best of --repeat runs is reported.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import yaml
from rich.console import Console
from rich.table import Table

from assets.sources.assets import extract_source, gate_source_rows
from connectors import ExtractWindow
from kpi.config import load_config
from kpi.runner import run_partitions

DAY = date(2026, 3, 2)


def write_day(directory: Path, rows: int, bad_rows: int) -> Path:
    generator = np.random.default_rng(7)
    frame = pl.DataFrame(
        {
            "id": [f"T{index:09d}" for index in range(rows)],
            "day": [DAY] * rows,
            "customer": [f"C{value}" for value in generator.integers(0, rows // 20 + 1, rows)],
            "total": np.round(generator.lognormal(5, 0.7, rows), 2),
        }
    )
    # A few rows with a null key, so the checks do the quarantine work too.
    for index in range(bad_rows):
        frame[index * (rows // max(bad_rows, 1)), "id"] = None
    path = directory / "exports" / "revenue.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    return path


def write_config(directory: Path) -> Path:
    path = directory / "kpi.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "start_date": "2026-03-01",
                "warehouse": "duckdb:///warehouse.duckdb",
                "sources": [
                    {
                        "name": "shop",
                        "connector": "files",
                        "options": {"path": "exports/revenue.parquet"},
                        "entity": "revenue_transactions",
                        "columns": {
                            "transaction_id": "id",
                            "booked_on": "day",
                            "customer_id": "customer",
                            "amount": "total",
                        },
                        "quality": {"min_rows_per_day": 1},
                    }
                ],
            }
        )
    )
    return path


def best_of(repeat: int, action) -> tuple[float, object]:
    timings, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        timings.append(time.perf_counter() - started)
    return min(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--bad-rows", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    arguments = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_day(directory, arguments.rows, arguments.bad_rows)
        config = load_config(write_config(directory))
        source = config.sources[0]
        window = ExtractWindow(DAY, DAY)
        # Warm-up: imports (Great Expectations takes seconds to import) are not the checks' cost.
        gate_source_rows(config, source, extract_source(config, source, window), window)

        extract_seconds, mapped = best_of(arguments.repeat, lambda: extract_source(config, source, window))
        check_seconds, gate = best_of(
            arguments.repeat, lambda: gate_source_rows(config, source, mapped, window)
        )
        with dg.DagsterInstance.ephemeral() as instance:
            run_partitions(directory / "kpi.yaml", DAY, DAY, instance=instance)  # warm-up
            run_seconds, outcomes = best_of(
                arguments.repeat, lambda: run_partitions(directory / "kpi.yaml", DAY, DAY, instance=instance)
            )
        assert all(outcome.success for outcome in outcomes), outcomes
        table = Table(
            title=f"data-quality checks on one day of {arguments.rows:,} rows (best of {arguments.repeat})"
        )
        table.add_column("step")
        table.add_column("seconds", justify="right")
        table.add_column("rows/s", justify="right")
        table.add_row(
            "extract + map (files, Parquet)",
            f"{extract_seconds:.2f}",
            f"{arguments.rows / extract_seconds:,.0f}",
        )
        table.add_row(
            "checks (GX suite + quarantine split)",
            f"{check_seconds:.2f}",
            f"{arguments.rows / check_seconds:,.0f}",
        )
        table.add_row(
            "whole partition through Dagster", f"{run_seconds:.2f}", f"{arguments.rows / run_seconds:,.0f}"
        )
        console.print(table)
        console.print(
            f"rows quarantined: {gate.quarantined.height}; the raw source's checks are "
            f"{check_seconds / run_seconds:.0%} of the partition's run time"
        )


if __name__ == "__main__":
    main()
