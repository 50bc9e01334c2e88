"""Shared fixtures: demo source systems made once per session, a config pointing at them, a temporary
DuckDB warehouse and a temporary Dagster instance per test."""

from __future__ import annotations

import atexit
import os
import sqlite3
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import NoReturn

import dagster as dg
import pytest
import yaml

from kpi.demo import demo_config
from kpi.demo_sources import DemoSummary, generate_demo_sources

DEMO_END = date(2026, 3, 10)
DEMO_DAYS = 45
DEMO_INVOICES_PER_DAY = 12


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


def write_config(directory: Path, data: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "kpi.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def demo_config_path(tmp_path: Path, demo_sources: DemoSummary) -> Path:
    """The demo config, its sources the session's demo files, its warehouse a fresh DuckDB file."""
    data = demo_config(DEMO_END, DEMO_DAYS, DEMO_INVOICES_PER_DAY)
    data["warehouse"] = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    config_dir = demo_sources.out_dir.parent
    for source in data["sources"]:
        options = source["options"]
        if "path" in options:
            options["path"] = str(config_dir / options["path"])
        if "url" in options:
            options["url"] = options["url"].replace("sqlite:///", f"sqlite:///{config_dir}/")
    return write_config(tmp_path, data)


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
