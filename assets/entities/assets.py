"""Dagster wiring for `entity/<entity>`: the sources of an entity combined and loaded to its table."""

from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from assets.entities.transforms import combine_sources, derive_customers, duplicate_keys
from expectations.checks import blocking_check, check_result, failure_message, record_check
from kpi.config import PipelineConfig
from kpi.locks import WAREHOUSE_POOL, warehouse_lock
from kpi.periods import days_between
from kpi.schema import entity_table
from kpi.warehouse import entity_rows_where, record_loaded_days
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource
from pipelines.retries import TRANSIENT_RETRY

UNIQUE_CHECK = "unique_keys"


def _frames(loaded: pl.DataFrame | dict[str, pl.DataFrame]) -> list[pl.DataFrame]:
    """An input is one frame, or a frame per partition when a run covers a range of partitions."""
    return list(loaded.values()) if isinstance(loaded, dict) else [loaded]


def build_entity_asset(
    config: PipelineConfig, entity_name: str, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    entity = config.entity(entity_name)
    if entity.derivation is not None:
        return build_derived_entity_asset(config, entity_name)
    sources = config.sources_for(entity_name)

    key = dg.AssetKey(["entity", entity_name])
    partitions_def = partitions if entity.is_dated else None

    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=key,
        check_specs=[
            blocking_check(
                key,
                UNIQUE_CHECK,
                f"Each {entity.key} names one row of its source (keys are scoped by source: two sources may "
                "share one); a key one source delivers twice stops the day.",
                partitions_def,
            )
        ],
        ins={source.name: dg.AssetIn(key=["raw", source.name]) for source in sources},
        partitions_def=partitions_def,
        backfill_policy=SINGLE_RUN if entity.is_dated else None,
        group_name="entities",
        kinds={"polars", "sql"},
        description=f"Canonical {entity_name} from {', '.join(source.name for source in sources)}, "
        f"loaded to the warehouse table {entity_name}.",
    )
    def entity_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource, **raw: pl.DataFrame):
        rows = combine_sources(entity, {name: pl.concat(_frames(frame)) for name, frame in raw.items()})
        duplicates = duplicate_keys(entity, rows)
        partition = partition_label(context) if entity.is_dated else None
        store = warehouse.get(config)
        with warehouse_lock(store.engine, context.log.info):
            observed = f"{duplicates.height} {entity.key} value(s) delivered more than once by one source"
            record_check(store, UNIQUE_CHECK, key, partition, duplicates.is_empty(), observed, context.run_id)
            yield check_result(
                UNIQUE_CHECK, duplicates.is_empty(), {"duplicate_keys": duplicates.height}, observed
            )
            if not duplicates.is_empty():
                raise dg.Failure(
                    failure_message(
                        UNIQUE_CHECK,
                        key,
                        partition,
                        f"{observed}, e.g. "
                        + ", ".join(
                            f"{value} x{count} from {source}"
                            for source, value, count in duplicates.head(5).iter_rows()
                        ),
                    ),
                    allow_retries=False,
                )
            days = days_between(*partition_days(context)) if entity.is_dated else None
            table = entity_table(entity)
            source_names = [source.name for source in sources]
            now = datetime.now(UTC)
            # A snapshot that moves a start or end date changes the periods of that day: recorded as
            # loaded again, kpi_values recomputes them (days_to_recompute).
            changed = (
                store.changed_span_days(entity, source_names, rows)
                if days is None and entity.span is not None
                else []
            )
            with store.transaction() as connection:
                if changed:
                    record_loaded_days(
                        store, connection, entity_name, changed, {}, context.run_id, now, source_names
                    )
                moved_from: list[date] = []
                if days is not None:  # a row its source moved to another day must not stay on its old one
                    for source in source_names:
                        delivered = rows.filter(pl.col("source") == source)[entity.key]
                        moved_from += store.move_out(connection, entity, source, delivered, days)
                replaced = store.replace(
                    connection, table, rows, entity_rows_where(entity, source_names, days)
                )
                if days is not None:
                    per_day = dict(rows.group_by(entity.date_column).len().iter_rows())
                    record_loaded_days(
                        store, connection, entity_name, days, per_day, context.run_id, now, source_names
                    )
                if moved_from:  # the old days changed now: kpi_values recomputes their periods
                    old_days = sorted(set(moved_from))
                    counts = store.count_rows_on(connection, entity, old_days)
                    record_loaded_days(
                        store, connection, entity_name, old_days, counts, context.run_id, now, source_names
                    )
            if moved_from:
                context.log.info(
                    f"{entity_name}: rows moved away from {', '.join(map(str, sorted(set(moved_from))))} by their "
                    "source; the periods of those days are recomputed"
                )
            yield dg.MaterializeResult(
                metadata={
                    "rows": rows.height,
                    "rows_replaced": replaced,
                    "days_rows_moved_from": len(set(moved_from)),
                    "table": entity_name,
                    "warehouse": store.display_url,
                }
            )

    return entity_asset


def build_derived_entity_asset(config: PipelineConfig, entity_name: str) -> dg.AssetsDefinition:
    """`entity/customers` derived from the loaded revenue transactions (entities.customers.derived_from):
    a snapshot recomputed whole on every run, after the day's transactions are loaded."""
    entity = config.entity(entity_name)
    derivation = entity.derivation
    assert derivation is not None
    sources = config.sources_for(derivation.from_entity)
    key = dg.AssetKey(["entity", entity_name])

    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=key,
        deps=[dg.AssetKey(["entity", derivation.from_entity])],
        group_name="entities",
        kinds={"polars", "sql"},
        description=f"{entity_name} derived from the loaded {derivation.from_entity}: signed up on the first "
        f"purchase, churned {derivation.churn_after_days} days after the last one; loaded to the warehouse "
        f"table {entity_name}.",
    )
    def derived_entity_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        store = warehouse.get(config)
        source_names = [source.name for source in sources]
        with warehouse_lock(store.engine, context.log.info):
            latest = store.latest_loaded_day(derivation.from_entity)
            purchases = store.customer_purchase_days(source_names)
            rows = (
                derive_customers(purchases, entity, derivation.churn_after_days, latest)
                if latest is not None
                else entity.empty_frame().with_columns(source=pl.lit(None, dtype=pl.String()))
            )
            changed = store.changed_span_days(entity, source_names, rows)
            with store.transaction() as connection:
                replaced = store.replace(
                    connection, entity_table(entity), rows, entity_rows_where(entity, source_names, None)
                )
                if changed:  # kpi_values recomputes the periods of these days (days_to_recompute)
                    record_loaded_days(
                        store,
                        connection,
                        entity_name,
                        changed,
                        {},
                        context.run_id,
                        datetime.now(UTC),
                        source_names,
                    )
        churned = rows["churned_on"].is_not_null().sum()
        yield dg.MaterializeResult(
            metadata={
                "rows": rows.height,
                "churned": int(churned),
                "rows_replaced": replaced,
                "derived_through": str(latest) if latest else "nothing loaded yet",
                "days_changed": len(changed),
                "table": entity_name,
                "warehouse": store.display_url,
            }
        )

    return derived_entity_asset
