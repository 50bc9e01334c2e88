"""Dagster wiring for `kpi/kpi_values`: every computable KPI for every period holding the run's days."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from assets.kpis.compute import compute_kpi_values
from assets.kpis.transforms import following_periods
from expectations.checks import blocking_check, validate_output
from expectations.suites import kpi_values_suite
from kpi.catalog import CatalogError
from kpi.config import PipelineConfig
from kpi.formats import rounded, unit_suffix
from kpi.locks import WAREHOUSE_POOL, warehouse_lock
from kpi.warehouse import kpi_definitions, load_kpi_values
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource
from pipelines.retries import TRANSIENT_RETRY

KEY = dg.AssetKey(["kpi", "kpi_values"])
SUITE_CHECK = "kpi_values_suite"


def build_kpi_definitions_asset(config: PipelineConfig) -> dg.AssetsDefinition:
    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=["kpi", "kpi_definitions"],
        group_name="kpi",
        kinds={"sql"},
        description="The KPI catalog (kpi/catalog.yaml with the config's own KPIs), one row per KPI: table "
        "kpi_definitions.",
    )
    def kpi_definitions_asset(warehouse: WarehouseResource) -> dg.MaterializeResult:
        rows = config.catalog.definition_rows()
        store = warehouse.get(config)
        with warehouse_lock(store.engine), store.transaction() as connection:
            store.replace(connection, kpi_definitions, rows, None)
        return dg.MaterializeResult(metadata={"kpis": rows.height})

    return kpi_definitions_asset


def build_kpi_values_asset(
    config: PipelineConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
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
        deps=[dg.AssetKey(["entity", name]) for name in config.provided_entities],
        partitions_def=partitions,
        backfill_policy=SINGLE_RUN,
        group_name="kpi",
        kinds={"polars", "sql"},
        description=f"Every KPI whose inputs are configured, at {', '.join(config.reporting_calendar.grains)} "
        "grain (with a row per dimension value for KPIs with dimensions), for each period holding the "
        "partition's day; loaded to the warehouse table kpi_values.",
    )
    def kpi_values_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        first_day, last_day = partition_days(context)
        store = warehouse.get(config)
        with warehouse_lock(store.engine, context.log.info):
            try:
                computed = compute_kpi_values(store, config, first_day, last_day, context.log.info)
            except CatalogError as error:  # a dimension with too many values: the config must change
                raise dg.Failure(f"{config.config_file}: {error}", allow_retries=False) from None
            rows = computed.rows
            result, failure = validate_output(
                store,
                KEY,
                SUITE_CHECK,
                partition_label(context),
                context.run_id,
                rows,
                kpi_values_suite(config.catalog),
            )
            yield result
            if failure:  # not published: the previous good values stay
                raise dg.Failure(failure, allow_retries=False)
            load_kpi_values(
                store,
                rows,
                computed.periods,
                # a period after the latest loaded day is not in the warehouse: nothing to refresh there
                pl.concat(
                    [
                        following_periods(rows, config.reporting_calendar),
                        # a value gone from a period: the periods after it have nothing to compare with
                        following_periods(
                            computed.vanished.with_columns(is_complete=pl.lit(False)),
                            config.reporting_calendar,
                        ),
                    ]
                ).filter(pl.col("period_start") <= computed.latest),
                context.run_id,
                datetime.now(UTC),
                computed.days,
            )
            day_rows = rows.filter(
                pl.col("grain") == "day", pl.col("period_start") == last_day, pl.col("dimension") == ""
            )
            yield dg.MaterializeResult(
                metadata={
                    "rows": rows.height,
                    "kpis": rows["kpi_id"].n_unique(),
                    # rounded for people: money to cents, a ratio as a percentage to 0.1
                    **{
                        f"{kpi_id} (day){unit_suffix(unit)}": dg.MetadataValue.null()
                        if value is None
                        else dg.MetadataValue.float(float(rounded(value, unit)))  # type: ignore[arg-type]
                        for kpi_id, value, unit in day_rows.select("kpi_id", "value", "unit").iter_rows()
                    },
                }
            )

    return kpi_values_asset
