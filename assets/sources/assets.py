"""Dagster wiring for `raw/<source>`: one asset per configured source, daily-partitioned when dated."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from assets.sources.transforms import MappedRows, MappingError, map_to_entity, schema_drift
from connectors import ExtractWindow, SourceError, get_connector
from expectations.checks import blocking_check, check_result, failure_message, record_check
from expectations.quality import GateResult, days_below_minimum, gate_rows
from expectations.runner import validate
from expectations.suites import entity_suite
from kpi.config import PipelineConfig, SourceConfig
from kpi.entities import ENTITIES
from kpi.periods import days_between
from kpi.warehouse import quarantine
from pipelines.io_managers import DATE_COLUMN
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource


def extract_source(
    config: PipelineConfig, source: SourceConfig, window: ExtractWindow | None, not_after: date | None = None
) -> MappedRows:
    """Extract one source through its connector and map it onto its entity (no Dagster needed)."""
    entity = ENTITIES[source.entity]
    connector_class = get_connector(source.connector)
    connector = connector_class(
        source.name, connector_class.Options.model_validate(source.options), config.config_dir
    )
    date_spec = source.columns.get(entity.date_column) if entity.date_column else None
    frames = list(connector.extract(window, date_spec))
    if source.source_columns is not None:
        for frame in frames:
            schema = frame.lazy().collect_schema()
            drift = schema_drift(schema, source.source_columns, source.name) if schema.names() else None
            if drift:  # (an empty SQL result has no columns to compare)
                raise MappingError(drift)
    parts = [
        map_to_entity(
            frame,
            entity,
            source.columns,
            source_name=source.name,
            timezone=config.timezone,
            date_format=source.date_format,
            window=(window.start, window.end) if window else None,
            not_after=not_after,
        )
        for frame in frames
    ]
    if not parts:
        return MappedRows(
            entity.empty_frame(),
            pl.DataFrame(schema={"rule": pl.String(), "column": pl.String(), "raw_row": pl.String()}),
        )
    return MappedRows(pl.concat([part.rows for part in parts]), pl.concat([part.rejects for part in parts]))


QUALITY_CHECK = "quality"


def gate_source_rows(source: SourceConfig, mapped: MappedRows, window: ExtractWindow | None) -> GateResult:
    """Validate one source's mapped rows with its entity's suite and split them (no Dagster needed)."""
    parameters: dict[str, object] = {}
    too_few_rows: list[str] = []
    entity = ENTITIES[source.entity]
    if window is not None and entity.date_column is not None:
        days = days_between(window.start, window.end)
        parameters = {"partition_days": days}
        minimums = {day: source.quality.min_rows_on(day) for day in days}
        too_few_rows = days_below_minimum(mapped.rows, entity.date_column, minimums)
    outcome = validate(
        mapped.rows,
        f"source_{source.name}",
        entity_suite(source.entity, source.quality.expectations),
        parameters,
    )
    return gate_rows(
        mapped.rows,
        mapped.rejects,
        outcome,
        source.quality.quarantine_threshold,
        too_few_rows,
        entity.date_column,
    )


def build_raw_asset(
    config: PipelineConfig, source: SourceConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    entity = ENTITIES[source.entity]
    key = dg.AssetKey(["raw", source.name])
    partitions_def = partitions if entity.is_dated else None

    @dg.asset(
        key=key,
        partitions_def=partitions_def,
        backfill_policy=SINGLE_RUN if entity.is_dated else None,
        group_name="raw",
        kinds={"polars", source.connector},
        description=f"Source {source.name!r} through the {source.connector!r} connector, mapped onto {source.entity}.",
        metadata={"connector": source.connector, "entity": source.entity, DATE_COLUMN: entity.date_column},
        retry_policy=dg.RetryPolicy(max_retries=1, delay=5),
        check_specs=[
            blocking_check(
                key,
                QUALITY_CHECK,
                f"The {source.entity} suite (expectations/suites.py) and the source's own expectations; rows "
                f"breaking a row rule are quarantined, the day fails above "
                f"{source.quality.quarantine_threshold:.1%} of its rows.",
                partitions_def,
            )
        ],
    )
    def raw_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        window = ExtractWindow(*partition_days(context)) if entity.is_dated else None
        partition = partition_label(context) if entity.is_dated else None
        try:
            mapped = extract_source(
                config, source, window, not_after=datetime.now(ZoneInfo(config.timezone)).date()
            )
        except (SourceError, MappingError) as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        gate = gate_source_rows(source, mapped, window)
        store = warehouse.get()
        with store.transaction() as connection:
            store.replace(
                connection,
                quarantine,
                gate.quarantined.with_columns(
                    source=pl.lit(source.name),
                    entity=pl.lit(source.entity),
                    # its own day where it could be read (a day of a range run), else the run's
                    partition=pl.coalesce(
                        pl.col("day").dt.to_string("%Y-%m-%d"), pl.lit(partition, dtype=pl.String())
                    ),
                    run_id=pl.lit(context.run_id),
                    quarantined_at=pl.lit(datetime.now(UTC), dtype=pl.Datetime("us", "UTC")),
                ),
                (quarantine.c.source == source.name)
                & (
                    quarantine.c.partition.in_(
                        [partition, *(day.isoformat() for day in days_between(window.start, window.end))]
                    )
                    if partition and window
                    else quarantine.c.partition.is_(None)
                ),
            )
        record_check(store, QUALITY_CHECK, key, partition, gate.passed, gate.observed(), context.run_id)
        metadata = {
            "rows": gate.rows_in,
            "rows_quarantined": gate.quarantined.height,
            "quarantined_share": gate.share,
            "threshold": gate.threshold,
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- {failed.expectation}: {failed.observed}" for failed in gate.outcome.failed)
                or "none"
            ),
        }
        yield check_result(QUALITY_CHECK, gate.passed, metadata, gate.observed())
        if not gate.passed:
            raise dg.Failure(
                failure_message(
                    QUALITY_CHECK,
                    key,
                    partition,
                    gate.failure_details(),
                ),
                allow_retries=False,
            )
        yield dg.Output(
            gate.kept, metadata={"rows": gate.kept.height, "window": str(window) if window else "snapshot"}
        )

    return raw_asset
