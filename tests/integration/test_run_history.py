"""The local run history costs what it is worth: a single-run backfill records one "materialization
planned" event per asset (not one per asset and day) yet every day's materialization, so the UI shows
each partition; the event log is one SQLite file in WAL mode, written through one connection pool."""

from __future__ import annotations

import os
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from kpi.runner import PLANNED_EVENTS_AS_RANGES, ensure_dagster_home, run_partitions
from tests.conftest import shop_config

FIRST, LAST = date(2026, 1, 1), date(2026, 1, 10)


def event_counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "history" / "event_log.db") as connection:
        return dict(
            connection.execute("SELECT dagster_event_type, count(*) FROM event_logs GROUP BY 1").fetchall()
        )


def test_a_single_run_backfill_plans_once_per_asset_and_materializes_every_day(
    tmp_path: Path, dagster_home: Path, monkeypatch
) -> None:
    monkeypatch.delenv(PLANNED_EVENTS_AS_RANGES, raising=False)
    days = (LAST - FIRST).days + 1
    rows = [f"t{index},{FIRST + timedelta(days=index % days)},c{index % 3},{index}" for index in range(30)]
    path = shop_config(tmp_path / "shop", rows, target=100.0)
    [outcome] = run_partitions(path, FIRST, LAST, single_run=True)
    assert outcome.success, outcome.error
    assert outcome.days == days and outcome.rows == 30
    counts = event_counts(dagster_home)
    # Partitioned assets: raw/shop, entity/revenue_transactions, kpi/kpi_values, okr/key_results.
    partitioned = ["raw/shop", "entity/revenue_transactions", "kpi/kpi_values", "okr/key_results"]
    with dg.DagsterInstance.get() as instance:
        for key in partitioned:
            materialized = instance.get_materialized_partitions(dg.AssetKey.from_user_string(key))
            assert materialized == {str(FIRST + timedelta(days=offset)) for offset in range(days)}, key
    # Unpartitioned: kpi/kpi_definitions, okr/objectives (one materialization each).
    assert counts["ASSET_MATERIALIZATION"] == len(partitioned) * days + 2
    assert counts["ASSET_MATERIALIZATION_PLANNED"] == len(partitioned) + 2  # not 4 x 10 + 2
    assert PLANNED_EVENTS_AS_RANGES not in os.environ  # set for the run only

    # A nightly run of one day plans that day, as Dagster does by default.
    [outcome] = run_partitions(path, LAST, LAST)
    assert outcome.success, outcome.error
    assert event_counts(dagster_home)["ASSET_MATERIALIZATION_PLANNED"] == 2 * (len(partitioned) + 2)

    with sqlite3.connect(dagster_home / "history" / "event_log.db") as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_run_history_an_earlier_release_wrote_moves_to_the_pooled_event_log(
    tmp_path: Path, monkeypatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    earlier = (
        "telemetry:\n  enabled: false\n"
        "event_log_storage:\n  module: dagster._core.storage.event_log\n"
        f"  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {home / 'history'}\n"
    )
    (home / "dagster.yaml").write_text(earlier)
    ensure_dagster_home()
    settings = (home / "dagster.yaml").read_text()
    assert "module: pipelines.event_log\n  class: LocalEventLogStorage" in settings
    assert f"base_dir: {home / 'history'}" in settings
    # A dagster.yaml of the user's own is theirs.
    own = "# mine\n" + earlier
    (home / "dagster.yaml").write_text(own)
    ensure_dagster_home()
    assert (home / "dagster.yaml").read_text() == own


def test_a_run_followed_live_sees_the_events_another_process_writes(dagster_home: Path) -> None:
    """The UI follows a run's logs while the run writes them from another process: the pooled WAL
    event log must not hide new events until a checkpoint."""
    import time
    import uuid

    seen: list[str] = []
    run_id = str(uuid.uuid4())
    with dg.DagsterInstance.get() as watching, dg.DagsterInstance.from_ref(watching.get_ref()) as writing:
        watching.event_log_storage.watch(
            run_id, None, lambda entry, _cursor: seen.append(entry.dagster_event.message)
        )
        for number in range(3):
            writing.report_engine_event(f"event {number}", run_id=run_id, job_name="kpi_pipeline")
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        followed = list(seen)  # while both are open, as the UI and a running run are
    assert followed == ["event 0", "event 1", "event 2"]
