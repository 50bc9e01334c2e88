"""Runs through Dagster, as a user starts them: a long single-run backfill against one nightly day, and
a nightly day with a short against a long history (issue 10's run targets).

    make bench                                   # runs the first part
    .venv/bin/python benchmarks/bench_runs.py [--invoices-per-day 2000] [--days 365]
    .venv/bin/python benchmarks/bench_runs.py --history 30,730 --invoices-per-day 20000

The demo company (`kpi/demo_sources.py`, deterministic) is generated at the size given into a
temporary folder with its config (DuckDB warehouse, local run history beside it); then `kpi run` runs
as its own process, timed by wall clock, its peak memory its own (`wait4`):
- backfill: the whole range in one run (`--single-run`), then the last day alone, as the nightly run;
- history: for each history length, the range as one run, then the nightly run of the last day,
  timed (the nightly run's cost should not grow with the history).
It prints a table and writes JSON (`--json`, default benchmarks/results/runs.json).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kpi.demo import write_demo_config
from kpi.demo_sources import generate_demo_sources

END = date(2026, 11, 29)
KPI = Path(sys.executable).parent / "kpi"


def make_company(directory: Path, days: int, invoices_per_day: int) -> Path:
    """The demo company's sources and config for `days` days ending on END; the config's path.

    Generated in a child process of its own: `kpi run` is forked from this process, and a fork of a
    process that holds the generator's gigabytes counts them in its peak RSS before it execs."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_make_company, directory, days, invoices_per_day).result()


def _make_company(directory: Path, days: int, invoices_per_day: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config = write_demo_config(directory, END, days, invoices_per_day)
    generate_demo_sources(directory / "sources", end_date=END, days=days, invoices_per_day=invoices_per_day)
    return config


def timed_run(config: Path, first: date, last: date, single_run: bool) -> dict:
    """`kpi run` over [first, last] in its own process: wall seconds, peak RSS (MB), exit status."""
    command = [str(KPI), "run", "--config", str(config), "--from", str(first), "--to", str(last)]
    if single_run:
        command.append("--single-run")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    return {
        "first": str(first),
        "last": str(last),
        "single_run": single_run,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024),
        "exit_status": os.waitstatus_to_exitcode(status),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--invoices-per-day", type=int, default=2000)
    parser.add_argument("--days", type=int, default=365, help="the backfill's length")
    parser.add_argument("--history", help="history lengths for the nightly comparison, e.g. 30,730")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "runs.json")
    arguments = parser.parse_args()
    results: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "invoices_per_day": arguments.invoices_per_day,
    }
    table = Table(title=f"kpi run on the demo company, {arguments.invoices_per_day:,} invoices a day")
    for column in ("run", "days", "seconds", "peak RSS MB"):
        table.add_column(column, justify="right" if column != "run" else "left")
    with tempfile.TemporaryDirectory(prefix="kpi-bench-runs-") as folder:
        if not arguments.history:
            config = make_company(Path(folder) / "backfill", arguments.days, arguments.invoices_per_day)
            first = END - timedelta(days=arguments.days - 1)
            backfill = timed_run(config, first, END - timedelta(days=1), single_run=True)
            nightly = timed_run(config, END, END, single_run=False)
            results["backfill"], results["nightly"] = backfill, nightly
            results["backfill_over_nightly"] = round(backfill["seconds"] / nightly["seconds"], 1)
            table.add_row(
                "backfill, one run",
                f"{arguments.days - 1}",
                f"{backfill['seconds']:.1f}",
                f"{backfill['peak_rss_mb']:,}",
            )
            table.add_row("nightly, one day", "1", f"{nightly['seconds']:.1f}", f"{nightly['peak_rss_mb']:,}")
        else:
            results["history"] = {}
            for days in (int(value) for value in arguments.history.split(",")):
                config = make_company(Path(folder) / f"history-{days}", days, arguments.invoices_per_day)
                first = END - timedelta(days=days - 1)
                loaded = timed_run(config, first, END - timedelta(days=1), single_run=True)
                nightly = timed_run(config, END, END, single_run=False)
                results["history"][days] = {"history": loaded, "nightly": nightly}
                table.add_row(
                    f"{days - 1} days in one run",
                    f"{days - 1}",
                    f"{loaded['seconds']:.1f}",
                    f"{loaded['peak_rss_mb']:,}",
                )
                table.add_row(
                    f"nightly after {days - 1} days",
                    "1",
                    f"{nightly['seconds']:.1f}",
                    f"{nightly['peak_rss_mb']:,}",
                )
            nightly_seconds = [entry["nightly"]["seconds"] for entry in results["history"].values()]
            results["longest_over_shortest_history"] = round(max(nightly_seconds) / min(nightly_seconds), 2)
    Console().print(table)
    if "longest_over_shortest_history" in results:
        print(
            f"nightly day, longest history over shortest: {results['longest_over_shortest_history']} (target <= 1.2)"
        )
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(json.dumps(results, indent=2))
    print(f"written: {arguments.json}")


if __name__ == "__main__":
    main()
