"""Dagster wiring for `raw/<source>`: one asset per configured source, daily-partitioned when dated."""

import dagster as dg
import polars as pl

from assets.sources.transforms import MappedRows, MappingError, map_to_entity
from connectors import ExtractWindow, SourceError, get_connector
from kpi.config import PipelineConfig, SourceConfig
from kpi.entities import ENTITIES
from pipelines.partitions import partition_days

EXAMPLE_ROWS = 5


def extract_source(config: PipelineConfig, source: SourceConfig, window: ExtractWindow | None) -> MappedRows:
    """Extract one source through its connector and map it onto its entity (no Dagster needed)."""
    entity = ENTITIES[source.entity]
    connector_class = get_connector(source.connector)
    connector = connector_class(
        source.name, connector_class.Options.model_validate(source.options), config.config_dir
    )
    date_spec = source.columns.get(entity.date_column) if entity.date_column else None
    parts = [
        map_to_entity(
            frame,
            entity,
            source.columns,
            source_name=source.name,
            timezone=config.timezone,
            date_format=source.date_format,
            window=(window.start, window.end) if window else None,
        )
        for frame in connector.extract(window, date_spec)
    ]
    if not parts:
        return MappedRows(
            entity.empty_frame(),
            pl.DataFrame(schema={"rule": pl.String(), "column": pl.String(), "raw_row": pl.String()}),
        )
    return MappedRows(pl.concat([part.rows for part in parts]), pl.concat([part.rejects for part in parts]))


def rejected_rows_message(source: SourceConfig, rejects: pl.DataFrame) -> str:
    entity = ENTITIES[source.entity]
    lines = [f"source {source.name!r}: {rejects.height} row(s) have values that do not fit {source.entity}:"]
    for column, examples in (
        rejects.group_by("column", maintain_order=True).agg(pl.col("raw_row").head(EXAMPLE_ROWS)).iter_rows()
    ):
        expected = entity.schema[column]
        lines.append(
            f"  column {column} (source {source.columns.get(column)!r}) expected {expected}, e.g. rows: "
            + "; ".join(examples)
        )
    return "\n".join(lines)


def build_raw_asset(
    config: PipelineConfig, source: SourceConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    entity = ENTITIES[source.entity]

    @dg.asset(
        key=["raw", source.name],
        partitions_def=partitions if entity.is_dated else None,
        group_name="raw",
        kinds={"polars", source.connector},
        description=f"Source {source.name!r} through the {source.connector!r} connector, mapped onto {source.entity}.",
        metadata={"connector": source.connector, "entity": source.entity},
        retry_policy=dg.RetryPolicy(max_retries=1, delay=5),
    )
    def raw_asset(context: dg.AssetExecutionContext) -> pl.DataFrame:
        window = ExtractWindow(*partition_days(context)) if entity.is_dated else None
        try:
            mapped = extract_source(config, source, window)
        except (SourceError, MappingError) as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        if not mapped.rejects.is_empty():
            raise dg.Failure(rejected_rows_message(source, mapped.rejects), allow_retries=False)
        context.add_output_metadata(
            {"rows": mapped.rows.height, "window": str(window) if window else "snapshot"}
        )
        return mapped.rows

    return raw_asset
