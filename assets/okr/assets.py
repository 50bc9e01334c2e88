"""Dagster wiring for the OKR tables: `okr/objectives` (the config's objectives and key results) and
`okr/key_results` (each key result as of each day of the partition)."""

from collections.abc import Callable
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from assets.kpis.compute import kpi_rows_over
from assets.okr.transforms import (
    KEY_RESULT_SCHEMA,
    as_of_windows,
    key_result_frame,
    key_results,
    measured_windows,
)
from expectations.checks import blocking_check, validate_output
from expectations.suites import key_results_suite
from kpi.config import PipelineConfig
from kpi.locks import WAREHOUSE_POOL, warehouse_lock
from kpi.periods import days_between
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


def compute_key_results(
    warehouse: Warehouse,
    config: PipelineConfig,
    first_day: date,
    last_day: date,
    log: Callable[[str], None] = lambda _: None,
) -> tuple[pl.DataFrame, list[date]]:
    """Each key result as of each day from first_day to the latest loaded day; replaces those days' rows.

    A key result as of T sums every loaded day up to T, so loading an earlier day (late data, a
    backfill) changes it for every later T: they are recomputed too, and so are they from the earliest
    day whose kpi_values changed since its key results were computed (a row moved away from it). A
    nightly run recomputes one day.
    """
    through = max(last_day, warehouse.latest_loaded_day() or last_day)
    stale = warehouse.days_to_recompute(KEY_RESULTS_DAYS, [KPI_VALUES_DAYS])
    as_of_days = days_between(min([first_day, *stale]), through)
    windows = as_of_windows(key_result_frame(config.objectives), as_of_days)
    if windows.is_empty():
        rows = pl.DataFrame(schema=KEY_RESULT_SCHEMA)
    else:
        periods = measured_windows(windows)
        wanted = [config.catalog.kpis[kpi_id] for kpi_id in windows["kpi_id"].unique().sort()]
        computable = [kpi for kpi in wanted if set(kpi.inputs) <= set(config.provided_entities)]
        rows = key_results(
            windows,
            # key results read a KPI's total row
            kpi_rows_over(
                warehouse,
                config,
                periods,
                computable,
                days_between(first_day, last_day),
                with_dimensions=False,
                log=log,
            ),
        )
    return rows, as_of_days


def load_key_results(
    warehouse: Warehouse, rows: pl.DataFrame, as_of_days: list[date], computed_at: datetime, run_id: str
) -> None:
    """Replace the key results of `as_of_days` and record them computed (loaded_partitions, as
    key_results), in one transaction."""
    with warehouse.transaction() as connection:
        warehouse.replace(
            connection,
            key_results_table,
            rows.with_columns(computed_at=pl.lit(computed_at, dtype=pl.Datetime("us", "UTC"))),
            key_results_table.c.as_of.in_(as_of_days),
        )
        record_loaded_days(warehouse, connection, KEY_RESULTS_DAYS, as_of_days, {}, run_id, computed_at)


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
            [(o.id, o.title, o.owner, o.start, o.end) for o in config.objectives],
            schema=["objective_id", "title", "owner", "period_start", "period_end"],
            orient="row",
        )
        definition_rows = pl.DataFrame(
            [
                (kr.id, o.id, kr.description, kr.kpi_id, kr.baseline, kr.target)
                for o in config.objectives
                for kr in o.key_results
            ],
            schema=["key_result_id", "objective_id", "description", "kpi_id", "baseline", "target"],
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
            )
        ],
        deps=[dg.AssetKey(["kpi", "kpi_values"]), objectives_asset],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name="okr",
        kinds={"polars", "sql"},
        description="Every key result as of the partition's day: actual, progress, expected progress and "
        "status; loaded to the warehouse table key_results.",
    )
    def key_results_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        first_day, last_day = partition_days(context)
        store = warehouse.get(config)
        with warehouse_lock(store.engine, context.log.info):
            rows, as_of_days = compute_key_results(store, config, first_day, last_day, context.log.info)
            result, failure = validate_output(
                store,
                KEY_RESULTS,
                SUITE_CHECK,
                partition_label(context),
                context.run_id,
                rows,
                key_results_suite(),
            )
            yield result
            if failure:  # a value that failed a blocking check is never published
                raise dg.Failure(failure, allow_retries=False)
            load_key_results(store, rows, as_of_days, datetime.now(UTC), context.run_id)
            latest = rows.filter(pl.col("as_of") == last_day)
            yield dg.MaterializeResult(
                metadata={
                    "rows": rows.height,
                    **{
                        f"{kr_id}": f"{status} (progress {progress:.0%})" if progress is not None else status
                        for kr_id, status, progress in latest.select(
                            "key_result_id", "status", "progress"
                        ).iter_rows()
                    },
                }
            )

    return [objectives_asset, key_results_asset]
