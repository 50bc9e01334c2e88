"""What a nightly `kpi run` loads and does before its runs start (issue 10, start-up): no library the
run does not use, the set-up done once before the first run. Timing is the benchmarks' business
(benchmarks/bench_runs.py); these tests guard what the time was cut by."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import dagster as dg

from kpi.runner import run_partitions
from tests.conftest import DEMO_END, query, shop_config

NOT_ON_THE_NIGHTLY_PATH = ["great_expectations", "pandas", "dagster_webserver", "dagster_graphql"]

NIGHTLY_RUN = """
import json, sys
from kpi.cli import main

try:
    main(["run", "--config", sys.argv[1], "--from", sys.argv[2], "--to", sys.argv[2]], standalone_mode=False)
finally:
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_a_nightly_run_imports_neither_great_expectations_nor_pandas_nor_the_webserver(
    demo_config_path: Path, dagster_home: Path
) -> None:
    # The demo day through the command's own code, in a process of its own: every step imports what
    # it uses (the built-in suites are evaluated in Polars, not by Great Expectations on pandas).
    done = subprocess.run(
        [sys.executable, "-c", NIGHTLY_RUN, str(demo_config_path), str(DEMO_END)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 succeeded, 0 failed" in done.stdout
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert {"dagster", "polars", "duckdb"} <= loaded  # (the run did run)
    assert sorted(loaded & set(NOT_ON_THE_NIGHTLY_PATH)) == []


def test_the_kpi_command_loads_neither_dagster_nor_polars_before_a_command_needs_them() -> None:
    # The console script imports kpi.cli before it sets the process up (run_cli: the GC off for
    # start-up), so kpi.cli itself stays light; `kpi --help` and `kpi connectors list` start at once.
    done = subprocess.run(
        [sys.executable, "-c", "import json, sys, kpi.cli; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    modules = set(json.loads(done.stdout))
    loaded = {name.split(".")[0] for name in modules} | modules
    assert sorted(loaded & {"dagster", "polars", "sqlalchemy", "pyarrow", "duckdb", "kpi.config"}) == []


def test_everything_is_set_up_once_before_the_first_run_starts(tmp_path: Path, dagster_home: Path) -> None:
    path = shop_config(tmp_path / "shop", ["t1,2026-01-01,c1,10", "t2,2026-01-02,c2,20"])
    seen: list[tuple[int, list[tuple]]] = []

    def on_start() -> None:  # what exists when run_partitions says the runs start
        with dg.DagsterInstance.get() as instance:
            runs = len(instance.get_runs())
        seen.append((runs, query(path.parent, "SELECT count(*) FROM loaded_partitions")))

    outcomes = run_partitions(path, date(2026, 1, 1), date(2026, 1, 2), on_start=on_start)
    assert [outcome.success for outcome in outcomes] == [True, True]
    # Called once, for both days: the warehouse made (its tables, nothing loaded yet), no run yet.
    assert seen == [(0, [(0,)])]
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == 2
