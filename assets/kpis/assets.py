"""Dagster wiring for `kpi/kpi_values`: every computable KPI for every period holding the run's days."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import cast

import dagster as dg
import polars as pl

from assets.kpis.definitions import KpiDefinition, computable_kpis, kpi_definition_rows
from assets.kpis.transforms import (
    attach_previous_values,
    compared_periods,
    compute_kpi_rows,
    following_periods,
)
from expectations.checks import blocking_check, validate_output
from expectations.suites import kpi_values_suite
from kpi.config import PipelineConfig
from kpi.periods import days_between, periods_containing
from kpi.warehouse import (
    KPI_VALUES_DAYS,
    Warehouse,
    kpi_definitions,
    load_kpi_values,
    loaded_days_of,
    read_kpi_values,
)
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource

KEY = dg.AssetKey(["kpi", "kpi_values"])
SUITE_CHECK = "kpi_values_suite"


def kpi_rows_over(
    warehouse: Warehouse,
    entities: list[str],
    periods: pl.DataFrame,
    kpis: Sequence[KpiDefinition],
    run_days: Sequence[date],
) -> pl.DataFrame:
    """kpi_values rows of `kpis` over `periods` (calendar periods or an objective's windows) from the
    loaded rows of `entities`, each KPI over the days all its dated inputs were loaded for; a KPI over
    snapshots only covers the days kpi_values was computed for, `run_days` included."""
    first, last = cast(date, periods["period_start"].min()), cast(date, periods["period_end"].max())
    frames = {name: warehouse.read_entity(name, first, last).lazy() for name in entities}
    kpi_days = [*warehouse.loaded_days(KPI_VALUES_DAYS), *run_days]
    return compute_kpi_rows(frames, periods, kpis, loaded_days_of(warehouse, entities), kpi_days)


def compute_kpi_values(
    warehouse: Warehouse, entities: list[str], first_day: date, last_day: date, log, run_id: str
) -> tuple[pl.DataFrame, pl.DataFrame, date]:
    """Every period holding a day of [first_day, last_day], or a day whose rows the run moved away,
    computed over all its loaded days: the kpi_values rows with their previous and year-ago values,
    the periods they cover, and the latest loaded day."""
    latest = max(warehouse.latest_loaded_day() or last_day, last_day)
    moved_from = [day for day in warehouse.days_changed_by(run_id) if not first_day <= day <= last_day]
    if moved_from:
        log.info(f"recomputing the periods of {', '.join(map(str, moved_from))}: rows moved away from them")
    periods = periods_containing(first_day, last_day, latest, moved_from)
    kpis, skipped = computable_kpis(entities)
    for kpi_id, missing in skipped.items():
        log.info(f"kpi {kpi_id} skipped: no source provides {', '.join(missing)}")
    rows = kpi_rows_over(warehouse, entities, periods, kpis, days_between(first_day, last_day))
    rows = attach_previous_values(rows, read_kpi_values(warehouse, compared_periods(periods)))
    return rows, periods, latest


def build_kpi_definitions_asset() -> dg.AssetsDefinition:
    @dg.asset(
        key=["kpi", "kpi_definitions"],
        group_name="kpi",
        kinds={"sql"},
        description="The KPI catalog (assets/kpis/definitions.py), one row per KPI: table kpi_definitions.",
    )
    def kpi_definitions_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        rows = kpi_definition_rows()
        store = warehouse.get()
        with store.transaction() as connection:
            store.replace(connection, kpi_definitions, rows, None)
        return dg.MaterializeResult(metadata={"kpis": rows.height})

    return kpi_definitions_asset


def build_kpi_values_asset(
    config: PipelineConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        key=KEY,
        check_specs=[
            blocking_check(
                KEY,
                SUITE_CHECK,
                "The kpi_values suite (expectations/suites.py): keys present, bounded KPIs within bounds. "
                "A day that fails is not loaded.",
                partitions,
            )
        ],
        deps=[dg.AssetKey(["entity", name]) for name in config.entities],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name="kpi",
        kinds={"polars", "sql"},
        description="Every KPI whose inputs are configured, at day, month, quarter and year grain, for each "
        "period holding the partition's day; loaded to the warehouse table kpi_values.",
    )
    def kpi_values_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        first_day, last_day = partition_days(context)
        store = warehouse.get()
        rows, periods, latest = compute_kpi_values(
            store, config.entities, first_day, last_day, context.log, context.run_id
        )
        result, failure = validate_output(
            store, KEY, SUITE_CHECK, partition_label(context), context.run_id, rows, kpi_values_suite()
        )
        yield result
        if failure:  # not published: the previous good values stay
            raise dg.Failure(failure, allow_retries=False)
        load_kpi_values(
            store,
            rows,
            periods,
            # a period after the latest loaded day is not in the warehouse: nothing to refresh there
            following_periods(rows).filter(pl.col("period_start") <= latest),
            context.run_id,
            datetime.now(UTC),
            days_between(first_day, last_day),
        )
        day_rows = rows.filter(pl.col("grain") == "day", pl.col("period_start") == last_day)
        yield dg.MaterializeResult(
            metadata={
                "rows": rows.height,
                "kpis": rows["kpi_id"].n_unique(),
                **{
                    f"{kpi_id} (day)": dg.MetadataValue.float(value)
                    if value is not None
                    else dg.MetadataValue.null()
                    for kpi_id, value in day_rows.select("kpi_id", "value").iter_rows()
                },
            }
        )

    return kpi_values_asset
