"""Dagster wiring for the OKR tables: `okr/objectives` (the config's objectives and key results) and
`okr/key_results` (each key result and objective as of each day of the partition, and the alerts their
changes raise)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from assets.kpis.compute import kpi_rows_over
from assets.okr.transforms import (
    as_of_windows,
    key_result_frame,
    key_results,
    measured_windows,
    objective_progress,
    status_changes,
)
from expectations.checks import blocking_check, validate_output
from expectations.suites import key_results_suite, objective_progress_suite
from kpi.config import PipelineConfig
from kpi.locks import WAREHOUSE_POOL, warehouse_lock
from kpi.periods import days_between
from kpi.schema import KPI_VALUE_SCHEMA
from kpi.schema import objective_progress as objective_progress_table
from kpi.warehouse import (
    KEY_RESULTS_DAYS,
    KPI_VALUES_DAYS,
    Warehouse,
    key_result_definitions,
    objectives,
    record_loaded_days,
)
from kpi.warehouse import key_results as key_results_table
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource
from pipelines.retries import TRANSIENT_RETRY

KEY_RESULTS = dg.AssetKey(["okr", "key_results"])
SUITE_CHECK = "key_results_suite"
OBJECTIVES_CHECK = "objective_progress_suite"


@dataclass(frozen=True)
class ComputedKeyResults:
    key_results: pl.DataFrame
    """key_results rows (KEY_RESULT_SCHEMA) of every as-of day computed."""
    objectives: pl.DataFrame
    """objective_progress rows (OBJECTIVE_PROGRESS_SCHEMA) of the same days."""
    as_of_days: list[date]
    """The as-of days computed: their rows are replaced."""


def window_values(
    warehouse: Warehouse,
    config: PipelineConfig,
    windows: pl.DataFrame,
    run_days: list[date],
    log: Callable[[str], None],
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA) over the key results' measure windows: each KPI's total row,
    and its dimension rows where a key result reads one dimension value."""
    parts = []
    for with_dimensions in (False, True):
        used = windows.filter((pl.col("dimension") != "") == with_dimensions)
        periods = measured_windows(used)
        kpis = [
            config.catalog.kpis[kpi_id]
            for kpi_id in used["kpi_id"].unique().sort()
            if set(config.catalog.kpis[kpi_id].inputs) <= set(config.provided_entities)
        ]
        if kpis and not periods.is_empty():
            rows = kpi_rows_over(warehouse, config, periods, kpis, run_days, with_dimensions, log)
            # the dimension pass: only the dimension values' rows (its totals are the first pass's)
            parts.append(rows.filter(pl.col("dimension") != "") if with_dimensions else rows)
    return pl.concat(parts) if parts else pl.DataFrame(schema=KPI_VALUE_SCHEMA)


def compute_key_results(
    warehouse: Warehouse,
    config: PipelineConfig,
    first_day: date,
    last_day: date,
    log: Callable[[str], None] = lambda _: None,
) -> ComputedKeyResults:
    """Each key result and objective as of each day from first_day to the latest loaded day.

    A key result as of T reads loaded days up to T, so loading an earlier day (late data, a backfill)
    changes it for every later T: they are recomputed too, and so are they from the earliest day whose
    kpi_values changed since its key results were computed (a row moved away from it). A nightly run
    recomputes one day.
    """
    through = max(last_day, warehouse.latest_loaded_day() or last_day)
    stale = warehouse.days_to_recompute(KEY_RESULTS_DAYS, [KPI_VALUES_DAYS])
    as_of_days = days_between(min([first_day, *stale]), through)
    definitions = key_result_frame(config.objectives)
    windows = as_of_windows(definitions, as_of_days, config.reporting_calendar)
    values = window_values(warehouse, config, windows, days_between(first_day, last_day), log)
    rows = key_results(windows, values, config.status_rules)
    return ComputedKeyResults(rows, objective_progress(rows, definitions, config.status_rules), as_of_days)


def load_key_results(
    warehouse: Warehouse,
    config: PipelineConfig,
    computed: ComputedKeyResults,
    computed_at: datetime,
    run_id: str,
) -> int:
    """Replace the key results and objective progress of the computed as-of days, record them computed
    (loaded_partitions, as key_results) and add the alerts their status changes raise (`kpi.alerts`),
    in one transaction. Returns the alerts added."""
    from kpi.alerts import previous_statuses, publish_alerts

    stamp = pl.lit(computed_at, dtype=pl.Datetime("us", "UTC"))
    days = computed.as_of_days
    changes = None
    if config.alerts and days:
        changes = status_changes(computed.key_results, previous_statuses(warehouse, min(days)))
    raised = 0
    with warehouse.transaction() as connection:
        warehouse.replace(
            connection,
            key_results_table,
            computed.key_results.with_columns(computed_at=stamp),
            key_results_table.c.as_of.in_(days),
        )
        warehouse.replace(
            connection,
            objective_progress_table,
            computed.objectives.with_columns(computed_at=stamp),
            objective_progress_table.c.as_of.in_(days),
        )
        if changes is not None:
            raised = publish_alerts(warehouse, connection, config, computed.key_results, changes, computed_at)
        record_loaded_days(warehouse, connection, KEY_RESULTS_DAYS, days, {}, run_id, computed_at)
    return raised


def scorecard_metadata(
    warehouse: Warehouse, config: PipelineConfig, as_of: date, warn: Callable[[str], None]
) -> dict[str, dg.MetadataValue]:
    """The scorecard as of `as_of` as a Markdown table, and a link to the HTML report written beside
    the raw extracts (`storage_dir/report/okr-report.html`) for the Dagster UI. A report that cannot be
    written is said in the log; the key results stay published."""
    from kpi.report import write_report
    from kpi.scorecard import scorecard_markdown, scorecard_rows

    rows = scorecard_rows(warehouse, as_of)
    if rows.is_empty():
        return {}
    metadata: dict[str, dg.MetadataValue] = {"scorecard": dg.MetadataValue.md(scorecard_markdown(rows))}
    try:
        path = write_report(warehouse, config.storage_path() / "report", config.loaded_dated_entities, as_of)
    except OSError as error:
        warn(f"the OKR report could not be written: {error}")
    else:
        metadata["report"] = dg.MetadataValue.url(path.resolve().as_uri())
    return metadata


def build_okr_assets(
    config: PipelineConfig, partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=["okr", "objectives"],
        group_name="okr",
        kinds={"sql"},
        description="The config's objectives and their key results' labels: tables objectives and "
        "key_result_definitions.",
    )
    def objectives_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        objective_rows = pl.DataFrame(
            [(o.id, o.title, o.owner, o.start, o.end, o.parent) for o in config.objectives],
            schema={
                "objective_id": pl.String(),
                "title": pl.String(),
                "owner": pl.String(),
                "period_start": pl.Date(),
                "period_end": pl.Date(),
                "parent_objective_id": pl.String(),
            },
            orient="row",
        )
        definition_rows = pl.DataFrame(
            [
                (kr.id, o.id, kr.description, kr.kpi_id, kr.baseline, kr.target, kr.kind)
                + (kr.measure.spec, kr.weight, *kr.dimension_key)
                for o in config.objectives
                for kr in o.key_results
            ],
            schema={
                "key_result_id": pl.String(),
                "objective_id": pl.String(),
                "description": pl.String(),
                "kpi_id": pl.String(),
                "baseline": pl.Float64(),
                "target": pl.Float64(),
                "type": pl.String(),
                "measure": pl.String(),
                "weight": pl.Float64(),
                "dimension": pl.String(),
                "dimension_value": pl.String(),
            },
            orient="row",
        )
        store = warehouse.get(config)
        with warehouse_lock(store.engine), store.transaction() as connection:
            store.replace(connection, objectives, objective_rows, None)
            store.replace(connection, key_result_definitions, definition_rows, None)
        return dg.MaterializeResult(
            metadata={"objectives": objective_rows.height, "key_results": definition_rows.height}
        )

    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=KEY_RESULTS,
        check_specs=[
            blocking_check(
                KEY_RESULTS,
                SUITE_CHECK,
                "The key_results suite (expectations/suites.py): progress in [0, 1], a known status.",
                partitions,
            ),
            blocking_check(
                KEY_RESULTS,
                OBJECTIVES_CHECK,
                "The objective_progress suite (expectations/suites.py): progress in [0, 1], a known status.",
                partitions,
            ),
        ],
        deps=[dg.AssetKey(["kpi", "kpi_values"]), objectives_asset],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name="okr",
        kinds={"polars", "sql"},
        description="Every key result and objective as of the partition's day (and later days already "
        "loaded): actual, progress, expected progress and status; loaded to the warehouse tables "
        "key_results and objective_progress, with the alerts their status changes raise (table alerts, "
        "posted by the okr_alerts sensor).",
    )
    def key_results_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        first_day, last_day = partition_days(context)
        store = warehouse.get(config)
        with warehouse_lock(store.engine, context.log.info):
            computed = compute_key_results(store, config, first_day, last_day, context.log.info)
            failures = []
            for check, rows, suite in (
                (SUITE_CHECK, computed.key_results, key_results_suite()),
                (OBJECTIVES_CHECK, computed.objectives, objective_progress_suite()),
            ):
                result, failure = validate_output(
                    store, KEY_RESULTS, check, partition_label(context), context.run_id, rows, suite
                )
                yield result
                if failure:
                    failures.append(failure)
            if failures:  # a value that failed a blocking check is never published
                raise dg.Failure("; ".join(failures), allow_retries=False)
            raised = load_key_results(store, config, computed, datetime.now(UTC), context.run_id)
        yield dg.MaterializeResult(
            metadata={
                "rows": computed.key_results.height,
                "alerts_raised": raised,
                **scorecard_metadata(store, config, last_day, context.log.warning),
            }
        )

    return [objectives_asset, key_results_asset]
