"""Runs daily partitions through Dagster on a persistent instance, so they show in the UI afterwards."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from kpi.config import ConfigError, PipelineConfig, load_config

DEFAULT_DAGSTER_HOME = ".dagster_home"
# The terminal shows one line per partition; the full event log is in the Dagster UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
FAILURE_PREFIX = "dagster._core.definitions.events.Failure: "
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class PartitionOutcome:
    partition: str
    success: bool
    run_id: str
    error: str | None
    quarantined: int = 0
    """Source rows of the run's days that its checks quarantined (table quarantine)."""
    undated: int = 0
    """Source rows of no day (unreadable or future dates) the run found, quarantined with a null partition."""


def quarantined_rows(config: PipelineConfig, run_id: str) -> tuple[int, int]:
    """(rows of the run's days, rows of no day) that the run `run_id` quarantined."""
    import sqlalchemy as sa

    from kpi.warehouse import Warehouse, quarantine

    warehouse = Warehouse(config.warehouse_url())
    warehouse.create_tables()
    from kpi.entities import ENTITIES

    dated = [name for name, entity in ENTITIES.items() if entity.is_dated]
    # (a snapshot's quarantined rows have no day either: they are rows of the snapshot, not undated)
    of_no_day = quarantine.c.partition.is_(None) & quarantine.c.entity.in_(dated)
    with warehouse.engine.connect() as connection:
        dated, undated = connection.execute(
            sa.select(
                sa.func.sum(sa.case((of_no_day, 0), else_=1)), sa.func.sum(sa.case((of_no_day, 1), else_=0))
            ).where(quarantine.c.run_id == run_id)
        ).one()
    return int(dated or 0), int(undated or 0)


def _run_error(result: dg.ExecuteInProcessResult) -> str:
    """What the failed steps of a run said, without Dagster's exception class prefix."""
    messages = []
    for event in result.all_events:
        if not (event.is_step_failure and event.step_failure_data and event.step_failure_data.error):
            continue
        error = event.step_failure_data.error
        while error.cause is not None and error.message.startswith(
            ("Exceeded max_retries", "Error occurred")
        ):
            error = error.cause  # the retry's or the framework's wrapper: say what actually failed
        messages.append(f"{event.step_key}: {error.message.strip().removeprefix(FAILURE_PREFIX)}")
    return "; ".join(messages) or "run failed"


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default `.dagster_home` in the current folder), with a dagster.yaml if it has none.

    The written dagster.yaml keeps every run's events in one SQLite file (Dagster's default, a new
    database per run, costs seconds of disk syncs per run), and lets one run at a time write the
    warehouse: the nightly run and a backfill launched from the UI queue behind each other.
    """
    home = Path(os.environ.get("DAGSTER_HOME") or DEFAULT_DAGSTER_HOME).resolve()
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(
            "telemetry:\n  enabled: false\n"
            "run_queue:\n  max_concurrent_runs: 1\n"
            "event_log_storage:\n"
            "  module: dagster._core.storage.event_log\n"
            "  class: ConsolidatedSqliteEventLogStorage\n"
            f"  config:\n    base_dir: {home / 'history'}\n"
        )
    return home


def dagster_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME's instance, the one `make ui` opens."""
    ensure_dagster_home()
    return dg.DagsterInstance.get()


def partition_keys(config: PipelineConfig, first: date, last: date) -> list[str]:
    """The daily partitions from first to last, checked against the config's partitions."""
    from kpi.periods import days_between
    from pipelines.partitions import daily_partitions

    if last < first:
        raise ConfigError(f"--to {last} is before --from {first}")
    if first < config.start_date:
        raise ConfigError(f"--from {first} is before the config's start_date {config.start_date}")
    valid = set(daily_partitions(config).get_partition_keys())
    keys = [day.isoformat() for day in days_between(first, last)]
    beyond = [key for key in keys if key not in valid]
    if beyond:
        raise ConfigError(
            f"partition {beyond[0]} has not ended yet in time zone {config.timezone}: "
            f"the last complete day is {max(valid) if valid else 'none'}"
        )
    return keys


def run_partitions(
    config_path: Path,
    first: date,
    last: date,
    on_outcome: Callable[[PartitionOutcome], None] = lambda outcome: None,
    instance: dg.DagsterInstance | None = None,
    single_run: bool = False,
) -> list[PartitionOutcome]:
    """Run the job for every partition of [first, last]: one run per day, in order, a failing day not
    stopping the rest; or, with single_run, one run over the whole range (much faster for a backfill,
    but one bad day fails the range)."""
    from pipelines.definitions import CONFIG_VARIABLE, build_definitions
    from pipelines.jobs import JOB_NAME

    config_path = config_path.resolve()
    config = load_config(config_path)
    keys = partition_keys(config, first, last)
    os.environ[CONFIG_VARIABLE] = str(config_path)  # the same code location the UI loads
    job = build_definitions(config).resolve_job_def(JOB_NAME)
    instance = instance or dagster_instance()
    if single_run:  # the whole range in one run: one set of steps, each over every day
        runs: list[tuple[str, dict]] = [
            (f"{keys[0]}..{keys[-1]}", {"tags": {RANGE_START: keys[0], RANGE_END: keys[-1]}})
        ]
    else:
        runs = [(key, {"partition_key": key}) for key in keys]
    outcomes = []
    for label, selection in runs:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False, run_config=QUIET_LOGS, **selection
        )
        outcome = PartitionOutcome(
            label,
            result.success,
            result.run_id,
            None if result.success else _run_error(result),
            *quarantined_rows(config, result.run_id),
        )
        on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


if __name__ == "__main__":
    print(ensure_dagster_home())
