"""Pure Polars: a connector's frames mapped onto a canonical entity, typed, and cut to the window.

No Dagster here. Values that cannot take the entity's type are not dropped: they come back as
rejected rows, each with the rule it broke and its raw values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from kpi.entities import Entity

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")
TIME_DIRECTIVES = ("%H", "%M", "%S", "%z", "%T", "%I", "%p")
UTC_OFFSET_DIRECTIVE = re.compile(r"%[:#]?z")
ISO_UTC_OFFSET = r"\d(?:Z|[+-]\d{2}(?::?\d{2})?)$"
REJECT_SCHEMA = {"rule": pl.String(), "column": pl.String(), "raw_row": pl.String()}


class MappingError(Exception):
    """The source does not have what its `columns` mapping asks for (schema drift, a typo)."""


@dataclass(frozen=True)
class MappedRows:
    rows: pl.DataFrame
    """The entity's columns with the entity's types, only the window's days."""
    rejects: pl.DataFrame
    """One row per rejected source row: rule, column, raw_row (JSON of the mapped source values)."""


def column_expressions(
    entity: Entity, columns: dict[str, str], source_columns: list[str], source_name: str
) -> dict[str, pl.Expr]:
    """The source expression for each canonical column: a source column's name, or a SQL expression
    (`total - discount`, `CASE WHEN ... END`); canonical columns the source lacks and may lack are null."""
    expressions: dict[str, pl.Expr] = {}
    for canonical in entity.schema:
        spec = columns.get(canonical)
        if spec is None:
            expressions[canonical] = pl.lit(None, dtype=pl.String())
            continue
        if spec in source_columns:
            expressions[canonical] = pl.col(spec)
            continue
        if IDENTIFIER.match(spec):
            raise MappingError(
                f"source {source_name!r}: column {spec!r} (mapped to {entity.name}.{canonical}) "
                f"is not in the source; it has: {', '.join(source_columns) or 'no columns'}"
            )
        try:
            expression = pl.sql_expr(spec)
        except pl.exceptions.PolarsError as error:
            raise MappingError(
                f"source {source_name!r}: the expression for {entity.name}.{canonical} ({spec!r}) "
                f"does not parse: {error}"
            ) from error
        missing = [name for name in expression.meta.root_names() if name not in source_columns]
        if missing:
            raise MappingError(
                f"source {source_name!r}: the expression for {entity.name}.{canonical} ({spec!r}) uses "
                f"{', '.join(map(repr, missing))}, not in the source; it has: {', '.join(source_columns)}"
            )
        expressions[canonical] = expression
    return expressions


def to_date(column: str, source_type: pl.DataType, date_format: str | None, timezone: str) -> pl.Expr:
    """A date in the reporting time zone from a date, a timestamp, or text (ISO by default)."""
    value = pl.col(column)
    if isinstance(source_type, pl.Date):
        return value
    if isinstance(source_type, pl.Datetime):
        return _datetime_to_date(value, source_type.time_zone, timezone)
    text = value.cast(pl.String())
    if date_format and not any(directive in date_format for directive in TIME_DIRECTIVES):
        return text.str.to_date(date_format, strict=False)
    if date_format:
        # Local times are not localized: only their date is wanted, and an hour the clocks repeat or
        # skip (daylight saving) must not fail the row.
        if not UTC_OFFSET_DIRECTIVE.search(date_format):
            return text.str.to_datetime(date_format, strict=False).dt.date()
        return text.str.to_datetime(date_format, strict=False, time_zone=timezone).dt.date()
    # ISO dates, or ISO timestamps: with an offset they are converted to the reporting time zone,
    # without one they are taken as its local time. Polars infers a format from the first value, so
    # dates, timestamps with an offset and local timestamps are parsed apart.
    timestamp_text = pl.when(text.str.len_chars() > 10)
    with_offset = text.str.contains(ISO_UTC_OFFSET)
    as_timestamp = timestamp_text.then(pl.when(with_offset).then(text)).str.to_datetime(
        strict=False, time_zone=timezone
    )
    as_local_timestamp = timestamp_text.then(pl.when(~with_offset).then(text)).str.to_datetime(strict=False)
    return pl.coalesce(
        text.str.to_date("%Y-%m-%d", strict=False), as_timestamp.dt.date(), as_local_timestamp.dt.date()
    )


def _datetime_to_date(value: pl.Expr, source_zone: str | None, timezone: str) -> pl.Expr:
    if source_zone is None:  # a naive timestamp is taken as reporting-time-zone local time
        return value.dt.date()
    return value.dt.convert_time_zone(timezone).dt.date()


def to_type(
    column: str, source_type: pl.DataType, target: pl.DataType, date_format: str | None, timezone: str
) -> pl.Expr:
    if isinstance(target, pl.Date):
        return to_date(column, source_type, date_format, timezone)
    return pl.col(column).cast(target, strict=False)


def blank_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    """Text trimmed of padding (`"M "`), and empty text as null: how exports write a missing value."""
    text_columns = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.String)]
    trimmed = [pl.col(name).str.strip_chars() for name in text_columns]
    return frame.with_columns(
        pl.when(value == "").then(None).otherwise(value).alias(name)
        for name, value in zip(text_columns, trimmed, strict=True)
    )


def map_to_entity(
    frame: pl.DataFrame | pl.LazyFrame,
    entity: Entity,
    columns: dict[str, str],
    *,
    source_name: str,
    timezone: str,
    date_format: str | None = None,
    window: tuple[date, date] | None = None,
    not_after: date | None = None,
) -> MappedRows:
    """Map, type and cut one extract. `window` is [first day, last day] on the entity's date column;
    a row dated after `not_after` (today) is rejected as a future date, whichever window is asked for:
    no partition would ever load it."""
    lazy = frame.lazy()
    source_columns = lazy.collect_schema().names()
    if not source_columns:  # a source that returned no rows and no header: nothing to map
        return MappedRows(entity.empty_frame(), pl.DataFrame(schema=REJECT_SCHEMA))
    expressions = column_expressions(entity, columns, source_columns, source_name)
    try:
        raw = blank_to_null(lazy.select(**expressions).collect())
    except pl.exceptions.PolarsError as error:
        raise MappingError(
            f"source {source_name!r}: cannot map it onto {entity.name}: {str(error).splitlines()[0]} "
            f"(CSV columns are text: cast them in an expression, e.g. CAST(total AS DOUBLE) * 2)"
        ) from error
    typed = raw.select(
        to_type(name, raw.schema[name], dtype, date_format, timezone).alias(name)
        for name, dtype in entity.schema.items()
    )
    # A value the source had but that did not take the entity's type: the row is rejected, named by
    # the first such column.
    failed = pl.DataFrame({name: raw[name].is_not_null() & typed[name].is_null() for name in entity.schema})
    failed_column = failed.select(
        pl.coalesce([pl.when(pl.col(name)).then(pl.lit(name)) for name in entity.schema]).alias("column")
    )["column"]
    # The window's rows; a row whose date could not be read belongs to no day, so every window reports it.
    in_window = pl.Series([True] * typed.height, dtype=pl.Boolean())
    if window is not None and entity.date_column is not None:
        first, last = window
        in_window = typed[entity.date_column].is_between(first, last, closed="both").fill_null(True)
    rule = pl.lit("type:") + failed_column
    if not_after is not None and entity.date_column is not None:
        future = typed[entity.date_column] > not_after
        rule = pl.when(future).then(pl.lit(f"future_date:{entity.date_column}")).otherwise(rule)
        failed_column = pl.select(
            pl.when(future).then(pl.lit(entity.date_column)).otherwise(failed_column).alias("column")
        ).to_series()
        in_window = in_window | future.fill_null(False)
    rejects = (
        raw.select(pl.struct(raw.columns).struct.json_encode().alias("raw_row"))
        .with_columns(column=failed_column, rule=rule)
        .filter(pl.col("column").is_not_null() & in_window)
        .select(list(REJECT_SCHEMA))
    )
    return MappedRows(rows=typed.filter(failed_column.is_null() & in_window), rejects=rejects)


SOURCE_TYPES: dict[str, tuple[type[pl.DataType], ...]] = {
    "text": (pl.String, pl.Categorical, pl.Enum),
    "integer": (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64),
    "float": (pl.Float32, pl.Float64, pl.Decimal),
    "date": (pl.Date,),
    "datetime": (pl.Datetime,),
    "boolean": (pl.Boolean,),
}


def source_type_name(dtype: pl.DataType) -> str:
    return next((name for name, types in SOURCE_TYPES.items() if isinstance(dtype, types)), str(dtype))


def schema_drift(schema: pl.Schema, declared: Mapping[str, str], source_name: str) -> str | None:
    """What differs between an extract's columns and the columns its config declares (`source_columns`),
    or None. An all-text extract (CSV) is compared by names only: its values are typed later."""
    problems = []
    for column, expected in declared.items():
        if column not in schema:
            problems.append(f"column {column!r} is missing (expected {expected})")
    problems += [
        f"column {column!r} is new (not in source_columns)" for column in schema if column not in declared
    ]
    if not all(isinstance(dtype, pl.String) for dtype in schema.values()):
        for column, expected in declared.items():
            if column in schema and source_type_name(schema[column]) != expected:
                problems.append(
                    f"column {column!r} is {source_type_name(schema[column])}, expected {expected}"
                )
    if not problems:
        return None
    return f"source {source_name!r}: schema drift: " + "; ".join(problems)
