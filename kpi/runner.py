"""Runs daily partitions through Dagster on a persistent instance, so they show in the UI afterwards."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dagster as dg

from kpi.config import ConfigError, PipelineConfig, load_config

DEFAULT_DAGSTER_HOME = ".dagster_home"
HISTORY_FOLDER = ".dagster"
"""Beside a config, the folder holding each config's own Dagster instance (`.dagster/<config name>`)."""


class CannotStart(Exception):
    """Nothing could run: the warehouse cannot be reached, or refuses the credentials. One line."""


# The terminal shows one line per partition; the full event log is in the Dagster UI.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
CLASS_PREFIX = re.compile(r"^[\w.]+(?:Error|Exception|Failure): ")
"""`module.ErrorClass: ` before an error's message."""
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
    days: int = 1
    """The daily partitions the run covered."""
    rows: int = 0
    """Rows the run loaded into the dated entities' tables (loaded_partitions' row_count of its days)."""
    snapshot_rows: dict[str, int] = field(default_factory=dict)
    """Rows of each snapshot entity the run loaded whole from its sources (not a derived one)."""
    alerts_sent: int = 0
    """Alert messages posted after the run (key result status changes, `kpi.alerts`)."""
    alerts_failed: str | None = None
    """Why a webhook failed after the run (its messages stay unsent for the next delivery); the run
    itself is not failed by it."""

    @property
    def rows_loaded(self) -> int:
        """The run's dated rows and snapshot rows."""
        return self.rows + sum(self.snapshot_rows.values())


def rows_loaded(outcomes: Sequence[PartitionOutcome]) -> int:
    """The rows a range of runs loaded: every run's dated rows, and each snapshot once, as its last run
    loaded it (each day's run loads the same snapshot whole again)."""
    snapshots: dict[str, int] = {}
    for outcome in outcomes:
        snapshots.update(outcome.snapshot_rows)
    return sum(outcome.rows for outcome in outcomes) + sum(snapshots.values())


def run_row_counts(warehouse, run_id: str, dated_entities: list[str]) -> tuple[int, int, int]:
    """What the run `run_id` did to source rows, in one connection: (rows of its days quarantined,
    rows of no day quarantined, rows loaded into the dated entities' tables); zeros when the
    warehouse cannot be read (the run's own outcome says why). `dated_entities`: the config's."""
    import sqlalchemy as sa

    from kpi.warehouse import loaded_partitions, quarantine

    # (a snapshot's quarantined rows have no day either: they are rows of the snapshot, not undated)
    of_no_day = quarantine.c.partition.is_(None) & quarantine.c.entity.in_(dated_entities)
    try:
        with warehouse.engine.connect() as connection:
            of_days, undated = connection.execute(
                sa.select(
                    sa.func.sum(sa.case((of_no_day, 0), else_=1)),
                    sa.func.sum(sa.case((of_no_day, 1), else_=0)),
                ).where(quarantine.c.run_id == run_id)
            ).one()
            loaded = connection.execute(
                sa.select(sa.func.sum(loaded_partitions.c.row_count)).where(
                    loaded_partitions.c.run_id == run_id, loaded_partitions.c.entity.in_(dated_entities)
                )
            ).scalar()
    except sa.exc.DBAPIError:
        return 0, 0, 0
    return int(of_days or 0), int(undated or 0), int(loaded or 0)


def snapshot_rows(result: dg.ExecuteInProcessResult, snapshots: list[str]) -> dict[str, int]:
    """Rows the run loaded into the tables of the snapshot entities `snapshots`, by entity: the `rows`
    their entity assets reported (a step materializes once, after its commit)."""
    keys = {dg.AssetKey(["entity", name]): name for name in snapshots}
    loaded = {}
    for event in result.get_asset_materialization_events():
        rows = event.materialization.metadata.get("rows")
        if event.asset_key in keys and rows is not None:
            loaded[keys[event.asset_key]] = int(rows.value)  # type: ignore[arg-type]
    return loaded


def _run_error(result: dg.ExecuteInProcessResult) -> str:
    """What the failed steps of a run said, without Dagster's exception class prefix."""
    messages = []
    for event in result.all_events:
        if not (event.is_step_failure and event.step_failure_data and event.step_failure_data.error):
            continue
        error = event.step_failure_data.error
        while error.cause is not None and CLASS_PREFIX.sub("", error.message).startswith(
            ("Exceeded max_retries", "Error occurred")
        ):
            error = error.cause  # the retry's or the framework's wrapper: say what actually failed
        message = CLASS_PREFIX.sub("", error.message.strip())
        if error.cls_name != "Failure":  # an unexpected error: its first line, not SQL and links
            message = message.splitlines()[0] if message else error.cls_name or "error"
        messages.append(f"{event.step_key}: {message}")
    return "; ".join(messages) or "run failed"


WRITTEN_BY_US = "telemetry:\n  enabled: false\n"
OLD_EVENT_LOG = "  module: dagster._core.storage.event_log\n  class: ConsolidatedSqliteEventLogStorage\n"
EVENT_LOG = "  module: pipelines.event_log\n  class: LocalEventLogStorage\n"
# Dagster 1.13's offer for single-run backfills: one "materialization planned" event per asset and
# run, not one per asset and day (thousands of writes before a long backfill starts). Its cost: a
# failed single run does not mark each of its days failed in the UI (the run shows failed, and
# loaded_partitions holds exactly the days loaded). Set for `kpi run --single-run` only.
PLANNED_EVENTS_AS_RANGES = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"


def dagster_home_for(config_path: Path | None) -> Path:
    """Where a config's run history lives: DAGSTER_HOME when set, else `.dagster/<config name>` beside
    the config (each config its own instance: the UI never shows one config's runs on another's
    assets), else `.dagster_home` in the current folder."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]).resolve()
    if config_path is not None:
        config_path = Path(config_path).resolve()
        return config_path.parent / HISTORY_FOLDER / config_path.stem
    return Path(DEFAULT_DAGSTER_HOME).resolve()


def ensure_dagster_home(config_path: Path | None = None) -> Path:
    """The config's Dagster home (`dagster_home_for`), set as DAGSTER_HOME, with a dagster.yaml if it
    has none.

    The written dagster.yaml keeps every run's events in one SQLite file (Dagster's default, a new
    database per run, costs seconds of disk syncs per run) through `pipelines/event_log.py` (one
    connection pool, WAL), and lets one run at a time write the warehouse: the nightly run and a
    backfill launched from the UI queue behind each other. A dagster.yaml an earlier release wrote is
    moved to the faster storage (same file, same tables); one a user wrote is left alone.
    """
    home = dagster_home_for(config_path)
    os.environ["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if (
        settings.exists()
        and settings.read_text().startswith(WRITTEN_BY_US)
        and OLD_EVENT_LOG in settings.read_text()
    ):
        settings.write_text(settings.read_text().replace(OLD_EVENT_LOG, EVENT_LOG))
    if not settings.exists():
        settings.write_text(
            WRITTEN_BY_US +
            # One run at a time from the queue, and one warehouse step at a time across every run of
            # this instance, `kpi run`'s in-process runs included (the assets' pool `warehouse`).
            "concurrency:\n  runs:\n    max_concurrent_runs: 1\n  pools:\n    default_limit: 1\n"
            # A run worker that dies (killed, out of memory) is marked failed and frees its slots.
            "run_monitoring:\n  enabled: true\n  poll_interval_seconds: 30\n"
            "event_log_storage:\n"
            f"{EVENT_LOG}"
            f"  config:\n    base_dir: {home / 'history'}\n"
        )
    return home


def dagster_instance(config_path: Path | None = None) -> dg.DagsterInstance:
    """The config's instance, the one `make ui` opens on it. Opened under a file lock: two processes
    starting on a new instance at once would both create its SQLite storage and one would fail."""
    import fcntl

    home = ensure_dagster_home(config_path)
    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return dg.DagsterInstance.get()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def open_warehouse(config: PipelineConfig):
    """The config's warehouse, its tables created or migrated. Raises ConfigError when a variable the
    config names is not set, CannotStart (one line, no password) when the warehouse cannot be reached
    or refuses the credentials."""
    import sqlalchemy as sa

    from connectors.sql import scrub
    from kpi.warehouse import SchemaConflict, Warehouse

    config.check_environment()
    url = config.warehouse_url()
    try:
        warehouse = Warehouse(url)
        warehouse.create_tables(config.catalog.entities.values())
    except SchemaConflict as error:
        raise CannotStart(f"{config.config_file}: {error}") from None
    except sa.exc.DBAPIError as error:
        cause = (
            str(error.orig or error).strip().splitlines()[0]
            if str(error.orig or error).strip()
            else type(error).__name__
        )
        advice = (
            " (a DuckDB file admits one writing process: wait for the other run to finish, or run the "
            "range from the UI that holds it)"
            if "Could not set lock on file" in cause
            else ""
        )
        raise CannotStart(
            f"warehouse {url.render_as_string(hide_password=True)} cannot be used: {scrub(cause, url)}{advice}"
        ) from None
    return warehouse


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
    config: PipelineConfig | None = None,
    on_start: Callable[[], None] = lambda: None,
) -> list[PartitionOutcome]:
    """Run the job for every partition of [first, last]: one run per day, in order, a failing day not
    stopping the rest; or, with single_run, one run over the whole range (much faster for a backfill,
    but one bad day fails the range). `on_start` is called once everything is set up (the warehouse
    and the instance open, the job built), before the first run."""
    from pipelines.definitions import CONFIG_VARIABLE, build_definitions
    from pipelines.jobs import JOB_NAME

    config_path = config_path.resolve()
    config = config or load_config(config_path)  # (the caller's, when it has loaded the file already)
    keys = partition_keys(config, first, last)
    warehouse = open_warehouse(config)  # a missing variable or an unreachable warehouse: nothing starts
    os.environ[CONFIG_VARIABLE] = str(config_path)  # the same code location the UI loads
    job = build_definitions(config).resolve_job_def(JOB_NAME)
    instance = instance or dagster_instance(config_path)
    if single_run:  # the whole range in one run: one set of steps, each over every day
        runs: list[tuple[str, dict]] = [
            (f"{keys[0]}..{keys[-1]}", {"tags": {RANGE_START: keys[0], RANGE_END: keys[-1]}})
        ]
    else:
        runs = [(key, {"partition_key": key}) for key in keys]
    dated = [name for name, entity in config.catalog.entities.items() if entity.is_dated]
    snapshots = [
        name
        for name, entity in config.catalog.entities.items()
        if not entity.is_dated and entity.derivation is None  # (derived customers are computed)
    ]
    dead_webhooks: set[str] = set()  # failed once in this range: not tried (and waited for) every day
    on_start()
    outcomes = []
    for label, selection in runs:
        previous = os.environ.get(PLANNED_EVENTS_AS_RANGES)
        if single_run:
            os.environ[PLANNED_EVENTS_AS_RANGES] = "true"
        try:
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET_LOGS, **selection
            )
        finally:
            if previous is None:
                os.environ.pop(PLANNED_EVENTS_AS_RANGES, None)
            else:
                os.environ[PLANNED_EVENTS_AS_RANGES] = previous
        quarantined, undated, loaded = run_row_counts(warehouse, result.run_id, dated)
        delivery = _deliver_alerts(warehouse, config, dead_webhooks)
        dead_webhooks.update(delivery.failed)
        outcome = PartitionOutcome(
            label,
            result.success,
            result.run_id,
            None if result.success else _run_error(result),
            quarantined,
            undated,
            days=len(keys) if single_run else 1,
            rows=loaded,
            snapshot_rows=snapshot_rows(result, snapshots),
            alerts_sent=delivery.sent,
            alerts_failed="; ".join(f"{env}: {why}" for env, why in delivery.failed.items()) or None,
        )
        on_outcome(outcome)
        outcomes.append(outcome)
    return outcomes


def _deliver_alerts(warehouse, config: PipelineConfig, dead_webhooks: set[str]):
    """Post the alerts the run raised (and any left unsent before), as the okr_alerts sensor would:
    `kpi run` has no daemon to run it. A webhook failing never fails the run; one that failed earlier
    in the range (`dead_webhooks`) is left for the next `kpi run` or the sensor."""
    from kpi.alerts import Delivery, deliver_alerts

    if not config.alerts:
        return Delivery(0, {}, 0)
    try:
        return deliver_alerts(warehouse, config, skip=dead_webhooks)
    except Exception as error:  # the warehouse unreadable now: the run's own outcome says why
        return Delivery(0, {"alerts": f"not delivered ({type(error).__name__})"}, 0)


if __name__ == "__main__":  # the Dagster home of a config (the argument), made ready: `make ui` uses it
    import sys

    print(ensure_dagster_home(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
