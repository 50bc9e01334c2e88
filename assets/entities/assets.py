"""Dagster wiring for `entity/<entity>`: the sources of an entity combined and loaded to its table."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl

from assets.entities.transforms import combine_sources, duplicate_keys
from kpi.config import PipelineConfig
from kpi.entities import ENTITIES
from kpi.warehouse import ENTITY_TABLES, entity_rows_where, loaded_partitions
from pipelines.partitions import partition_days
from pipelines.resources import WarehouseResource


def _frames(loaded: pl.DataFrame | dict[str, pl.DataFrame]) -> list[pl.DataFrame]:
    """An input is one frame, or a frame per partition when a run covers a range of partitions."""
    return list(loaded.values()) if isinstance(loaded, dict) else [loaded]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def build_entity_asset(
    config: PipelineConfig, entity_name: str, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    entity = ENTITIES[entity_name]
    sources = config.sources_for(entity_name)

    @dg.asset(
        key=["entity", entity_name],
        ins={source.name: dg.AssetIn(key=["raw", source.name]) for source in sources},
        partitions_def=partitions if entity.is_dated else None,
        group_name="entities",
        kinds={"polars", "sql"},
        description=f"Canonical {entity_name} from {', '.join(source.name for source in sources)}, "
        f"loaded to the warehouse table {entity_name}.",
    )
    def entity_asset(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, **raw: pl.DataFrame
    ) -> dg.MaterializeResult:
        rows = combine_sources(entity, {name: pl.concat(_frames(frame)) for name, frame in raw.items()})
        duplicates = duplicate_keys(entity, rows)
        if not duplicates.is_empty():
            raise dg.Failure(
                f"{entity_name}: {duplicates.height} {entity.key} value(s) occur more than once, e.g. "
                + ", ".join(
                    f"{key} x{count} from {'/'.join(src)}"
                    for key, count, src in duplicates.head(5).iter_rows()
                )
            )
        days = _days(*partition_days(context)) if entity.is_dated else None
        store = warehouse.get()
        with store.transaction() as connection:
            replaced = store.replace(
                connection, ENTITY_TABLES[entity_name], rows, entity_rows_where(entity_name, days)
            )
            if days is not None:
                counts = rows.group_by(entity.date_column).len()
                per_day = dict(counts.iter_rows())
                store.replace(
                    connection,
                    loaded_partitions,
                    pl.DataFrame(
                        {
                            "entity": [entity_name] * len(days),
                            "partition_date": days,
                            "row_count": [per_day.get(day, 0) for day in days],
                            "run_id": [context.run_id] * len(days),
                            "loaded_at": [datetime.now(UTC)] * len(days),
                        }
                    ),
                    (loaded_partitions.c.entity == entity_name)
                    & loaded_partitions.c.partition_date.in_(days),
                )
        return dg.MaterializeResult(
            metadata={
                "rows": rows.height,
                "rows_replaced": replaced,
                "table": entity_name,
                "warehouse": store.display_url,
            }
        )

    return entity_asset
