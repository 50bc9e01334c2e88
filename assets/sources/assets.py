"""Dagster wiring for `raw/<source>`: one asset per configured source, daily-partitioned when dated."""

import dataclasses
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl

from assets.sources.parts import PartsRecord
from assets.sources.transforms import PROTOCOL_COLUMNS, MappedRows, MappingError, map_to_entity, schema_drift
from assets.sources.values import ValueFormat
from connectors import Connector, ExtractWindow, SourceError, get_connector
from expectations.checks import blocking_check, check_result, failure_message, record_check
from expectations.quality import GateResult, days_below_minimum, gate_rows
from expectations.runner import validate
from expectations.suites import entity_suite
from kpi.config import PipelineConfig, SourceConfig
from kpi.locks import WAREHOUSE_POOL, warehouse_lock
from kpi.periods import days_between
from kpi.warehouse import quarantine, quarantine_scope
from pipelines.io_managers import DATE_COLUMN
from pipelines.partitions import SINGLE_RUN, partition_days, partition_label
from pipelines.resources import WarehouseResource
from pipelines.retries import TRANSIENT_RETRY


def value_format(config: PipelineConfig, source: SourceConfig) -> ValueFormat:
    """How the source writes its values: its date format, null markers and number separators."""
    return ValueFormat(
        date_format=source.date_format,
        null_values=tuple(source.null_values) if source.null_values is not None else ("",),
        null_values_declared=source.null_values is not None,
        decimal_separator=source.decimal_separator,
        thousands_separator=source.thousands_separator,
        timezone=config.timezone,
    )


def extract_source(
    config: PipelineConfig, source: SourceConfig, window: ExtractWindow | None, not_after: date | None = None
) -> MappedRows:
    """Extract one source through its connector and map it onto its entity (no Dagster needed).

    A dated source made of parts (a files source's files) is read part by part, and a part unchanged
    since it was read without a row of the window's days is skipped (`parts.py`).

    Raises SourceError (the connector could not read the source) or MappingError (the source lacks a
    mapped column, or its columns drifted from `source_columns`)."""
    entity = config.entity(source.entity)
    connector = make_connector(config, source)
    date_spec = source.columns.get(entity.date_column) if entity.date_column else None
    source_format = value_format(config, source)
    parts = connector.parts() if window is not None and entity.date_column is not None else None
    if parts is None:
        frames = list(connector.extract(window, date_spec))
        mapped = MappedRows.concat(
            entity, [_mapped(config, source, source_format, frame, window, not_after) for frame in frames]
        )
        return dataclasses.replace(
            mapped, note=connector.window_note, complete=not connector.window_pushed_down
        )
    assert window is not None
    record = PartsRecord.of(config, source)
    names = [part.name for part in parts]
    read = [part for part in parts if not record.skippable(part, window)]
    skipped = [part.name for part in parts if part not in read]
    pieces = []
    # the rows of no day found before in the parts read again, and in parts gone since: replaced
    replaced = [row for name in record.gone(names) for row in record.undated_of(name)]
    keys = {}
    for part in read:
        piece = _mapped(config, source, source_format, part.read(), window, not_after)
        replaced += record.undated_of(part.name)
        record.record(part, piece)
        keys[part.name] = piece.keys
        pieces.append(piece)
    mapped = MappedRows.concat(entity, pieces)
    if not skipped:
        return dataclasses.replace(mapped, record_parts=lambda: record.save(names, keys))
    return dataclasses.replace(
        mapped,
        # a key of the window's rows also in a part skipped is a duplicate, as in a whole read
        keys=pl.concat([mapped.keys, record.keys_among(skipped, mapped.rows[entity.key])]),
        extract_rows=mapped.extract_rows + record.rows_of(skipped),
        undated_elsewhere=record.undated_count_of(skipped),
        note=f"read {len(read)} of {len(parts)} parts: the others are unchanged since they were read and "
        f"hold no row of {window.start} .. {window.end}",
        complete=False,
        undated_replaced=pl.Series("raw_row", replaced, pl.String()),
        record_parts=lambda: record.save(names, keys),
    )


def _mapped(
    config: PipelineConfig,
    source: SourceConfig,
    source_format: ValueFormat,
    frame: pl.DataFrame | pl.LazyFrame,
    window: ExtractWindow | None,
    not_after: date | None,
) -> MappedRows:
    """One frame of the source mapped onto its entity with `source_format` (`value_format`), after a
    check of its columns against `source_columns` when the source declares them."""
    if source.source_columns is not None:
        schema = frame.lazy().collect_schema()
        for name in PROTOCOL_COLUMNS:
            schema.pop(name, None)
        untyped = (
            [name for name in frame.columns if frame[name].null_count() == frame.height]
            if isinstance(frame, pl.DataFrame)
            else []
        )
        drift = schema_drift(schema, source.source_columns, source.name, untyped)
        if drift:
            raise MappingError(drift)
    return map_to_entity(
        frame,
        config.entity(source.entity),
        source.columns,
        source_name=source.name,
        value_format=source_format,
        window=(window.start, window.end) if window else None,
        not_after=not_after,
    )


def make_connector(config: PipelineConfig, source: SourceConfig) -> Connector:
    """The source's connector, its options validated; relative paths resolve against the config's folder."""
    connector_class = get_connector(source.connector)
    return connector_class(
        source.name, connector_class.Options.model_validate(source.options), config.config_dir
    )


QUALITY_CHECK = "quality"
# More than this share of a whole extract without a usable date is a source read wrongly (a wrong
# date_format), not a few bad rows: the day fails, whatever its own rows say.
UNDATED_LIMIT = 0.5


def gate_source_rows(
    config: PipelineConfig, source: SourceConfig, mapped: MappedRows, window: ExtractWindow | None
) -> GateResult:
    """Validate one source's mapped rows with its entity's suite and split them (no Dagster needed)."""
    parameters: dict[str, object] = {}
    table_failures: list[str] = []
    entity = config.entity(source.entity)
    if window is not None and entity.date_column is not None:
        days = days_between(window.start, window.end)
        parameters = {"partition_days": days}
        minimums = {day: source.quality.min_rows_on(day) for day in days}
        table_failures = days_below_minimum(mapped.rows, entity.date_column, minimums)
        # (rows dated in the future are not a misread date: scheduled payments, say)
        undated = (
            mapped.undated.filter(~pl.col("rule").str.starts_with("future_date:")).height
            + mapped.undated_elsewhere
        )
        if mapped.extract_rows and undated / mapped.extract_rows > UNDATED_LIMIT:
            table_failures.append(
                f"{undated} of the extract's {mapped.extract_rows} rows have no usable {entity.date_column} "
                f"(more than {UNDATED_LIMIT:.0%}): check the source's date_format"
            )
    outcome = validate(
        mapped.rows,
        f"source_{source.name}",
        entity_suite(entity, source.quality.expectations),
        parameters,
    )
    # A key the extract holds twice fails the days holding it: which copy is right is not ours to guess.
    duplicates = mapped.duplicate_keys().filter(pl.col(entity.key).is_in(mapped.rows[entity.key].implode()))
    return gate_rows(
        mapped.rows,
        mapped.rejects,
        outcome,
        source.quality.quarantine_threshold,
        table_failures,
        entity.date_column,
        duplicate_keys=(entity.key, duplicates[entity.key]),
    )


def build_raw_asset(
    config: PipelineConfig, source: SourceConfig, partitions: dg.PartitionsDefinition
) -> dg.AssetsDefinition:
    entity = config.entity(source.entity)
    key = dg.AssetKey(["raw", source.name])
    partitions_def = partitions if entity.is_dated else None

    @dg.asset(
        pool=WAREHOUSE_POOL,
        retry_policy=TRANSIENT_RETRY,
        key=key,
        partitions_def=partitions_def,
        backfill_policy=SINGLE_RUN if entity.is_dated else None,
        group_name="raw",
        kinds={"polars", source.connector},
        description=f"Source {source.name!r} through the {source.connector!r} connector, mapped onto {source.entity}.",
        metadata={"connector": source.connector, "entity": source.entity, DATE_COLUMN: entity.date_column},
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
        except SourceError as error:  # retried with backoff when it may pass (TRANSIENT_RETRY)
            raise dg.Failure(str(error), allow_retries=error.transient) from None
        except MappingError as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        gate = gate_source_rows(config, source, mapped, window)
        store = warehouse.get(config)
        with warehouse_lock(store.engine, context.log.info):
            with store.transaction() as connection:
                store.replace(
                    connection,
                    quarantine,
                    gate.quarantined.with_columns(
                        source=pl.lit(source.name),
                        entity=pl.lit(source.entity),
                        # its own day (a day of a range run); null: a row of no day, quarantined once
                        partition=pl.col("day").dt.to_string("%Y-%m-%d"),
                        run_id=pl.lit(context.run_id),
                        quarantined_at=pl.lit(datetime.now(UTC), dtype=pl.Datetime("us", "UTC")),
                    ),
                    quarantine_scope(
                        source.name,
                        days_between(window.start, window.end) if window else [],
                        None
                        if mapped.complete
                        else pl.concat(
                            [
                                gate.quarantined.filter(pl.col("day").is_null())["raw_row"],
                                *([mapped.undated_replaced] if mapped.undated_replaced is not None else []),
                            ]
                        ),
                    ),
                )
            if mapped.record_parts is not None:  # its rows of no day are quarantined: it may be skipped
                mapped.record_parts()
            record_check(store, QUALITY_CHECK, key, partition, gate.passed, gate.observed(), context.run_id)
            metadata = {
                "rows": gate.rows_in,
                "rows_quarantined": gate.quarantined.height - gate.undated,
                "rows_without_day": gate.undated,
                "quarantined_share (%)": round(gate.share * 100, 1),  # rates to 0.1%, for people
                "threshold (%)": round(gate.threshold * 100, 1),
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
                gate.kept,
                metadata={
                    "rows": gate.kept.height,
                    "window": str(window) if window else "snapshot",
                    **({"extract": mapped.note} if mapped.note else {}),
                },
            )

    return raw_asset
