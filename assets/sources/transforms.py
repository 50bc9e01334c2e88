"""Pure Polars: a connector's frames mapped onto a canonical entity, typed, and cut to the window.

No Dagster here. Values that cannot take the entity's type without loss (`values.py`) are not dropped:
they come back as rejected rows, each with the rule it broke and its raw values. A rejected row whose
day cannot be read (an unreadable or future date, a record the connector could not parse) belongs to
no day: it comes back with every window, with a null `day`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from assets.sources.values import ValueFormat, looks_like_null_marker, nulls_applied, to_type
from connectors.base import RAW_RECORD_COLUMN, RECORD_PROBLEM_COLUMN
from kpi.entities import Entity
from kpi.schema import TEXT

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")
REJECT_SCHEMA = {"rule": pl.String(), "column": pl.String(), "raw_row": pl.String(), "day": pl.Date()}
PROTOCOL_COLUMNS = (RECORD_PROBLEM_COLUMN, RAW_RECORD_COLUMN)


class MappingError(Exception):
    """The source does not have what its `columns` mapping asks for (schema drift, a typo)."""


@dataclass(frozen=True)
class MappedRows:
    rows: pl.DataFrame
    """The entity's columns with the entity's types, only the window's days."""
    rejects: pl.DataFrame
    """One row per rejected source row: rule, column, raw_row (JSON of the mapped source values, or
    the raw record the connector could not parse), day (its date; null: it belongs to no day)."""
    keys: pl.Series
    """Every readable key of the extract, whatever its day: a key twice is a duplicate."""
    extract_rows: int = 0
    """Rows of the whole extract, every day, rejected ones included."""
    note: str | None = None
    """What the connector said of the extract (whether the window was filtered at the source)."""
    complete: bool = True
    """The extract holds every row of the source (not only the window's): its rows of no day are all
    of the source's."""
    days: pl.Series | None = None
    """Every day the extract's rows are dated on, whatever the window (future days and rejected rows
    included); None when the entity is not dated."""
    undated_replaced: pl.Series | None = None
    """When not complete: raw rows of no day, besides those it found, whose quarantine rows the
    extract replaces (those an earlier read of the parts it read again, or of parts gone, had found)."""
    undated_elsewhere: int = 0
    """Rows of no usable date (not future ones) in the parts of the source not read (extract_rows
    counts their rows too): the share of the whole source without a date."""
    record_parts: Callable[[], None] | None = None
    """Records what the parts read hold (`assets/sources/parts.py`): called once their rows of no day
    are quarantined, so that a part is never skipped before they are."""

    @property
    def undated(self) -> pl.DataFrame:
        """The rejects that belong to no day."""
        return self.rejects.filter(pl.col("day").is_null())

    @staticmethod
    def empty(entity: Entity) -> MappedRows:
        """No rows, no rejects, with the entity's schema."""
        return MappedRows(
            entity.empty_frame(), pl.DataFrame(schema=REJECT_SCHEMA), pl.Series(entity.key, [], pl.String())
        )

    @staticmethod
    def concat(entity: Entity, parts: list[MappedRows]) -> MappedRows:
        """The parts of one extract (a connector's frames) as one."""
        if not parts:
            return MappedRows.empty(entity)
        days = [part.days for part in parts if part.days is not None]
        return MappedRows(
            pl.concat([part.rows for part in parts]),
            pl.concat([part.rejects for part in parts]),
            pl.concat([part.keys for part in parts]),
            sum(part.extract_rows for part in parts),
            days=pl.concat(days).unique().sort() if days else None,
        )

    def duplicate_keys(self) -> pl.DataFrame:
        """(key, occurrences) of every key the extract delivered more than once, by key."""
        return (
            self.keys.value_counts(name="occurrences").filter(pl.col("occurrences") > 1).sort(self.keys.name)
        )


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


def bad_records(frame: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """Split off the records a connector could not read as rows (connectors/base.py's protocol):
    (the readable rows without the protocol columns, their rejects with no day)."""
    names = frame.collect_schema().names()
    if RECORD_PROBLEM_COLUMN not in names:
        return frame, pl.DataFrame(schema=REJECT_SCHEMA)
    problem = pl.col(RECORD_PROBLEM_COLUMN)
    rejects = (
        frame.filter(problem.is_not_null())
        .select(
            problem.alias("rule"),
            pl.lit(None, dtype=pl.String()).alias("column"),
            # (a NUL as JSON writes it: PostgreSQL's text holds none, and rows' raw_row is JSON)
            pl.col(RAW_RECORD_COLUMN).str.replace_all("\x00", "\\u0000", literal=True).alias("raw_row")
            if RAW_RECORD_COLUMN in names
            else pl.lit(""),
            pl.lit(None, dtype=pl.Date()).alias("day"),
        )
        .collect()
    )
    readable = frame.filter(problem.is_null()).drop([name for name in PROTOCOL_COLUMNS if name in names])
    return readable, rejects.cast(REJECT_SCHEMA)  # type: ignore[arg-type]


def map_to_entity(
    frame: pl.DataFrame | pl.LazyFrame,
    entity: Entity,
    columns: dict[str, str],
    *,
    source_name: str,
    timezone: str = "UTC",
    date_format: str | None = None,
    value_format: ValueFormat | None = None,
    window: tuple[date, date] | None = None,
    not_after: date | None = None,
) -> MappedRows:
    """Map, type and cut one extract.

    `frame` has the source's columns (any types; protocol columns of connectors/base.py allowed);
    `columns` maps canonical columns to source columns or SQL expressions over them. Values are
    converted by `value_format` (default: ISO dates in `timezone`, `date_format`, the empty string as
    null), without loss. `window` is [first day, last day] on the entity's date column; a row dated
    after `not_after` (today) is rejected as a future date, whichever window is asked for: no
    partition would ever load it.

    Returns the window's typed rows (the entity's schema) and the rejected rows: those of the window,
    with their day, and those of no day (unreadable or missing date, future date, unparseable
    record), with a null day. Raises MappingError when a mapped column is not in the source.
    """
    if value_format is None:
        value_format = ValueFormat(date_format=date_format, timezone=timezone)
    lazy, unreadable = bad_records(frame.lazy())
    source_columns = lazy.collect_schema().names()
    if not source_columns:  # a source that returned no rows and no header: nothing to map
        empty = MappedRows.empty(entity)
        return MappedRows(empty.rows, unreadable, empty.keys, unreadable.height)
    expressions = column_expressions(entity, columns, source_columns, source_name)
    try:
        raw = lazy.pipe(nulls_applied, value_format).select(**expressions).collect()
    except pl.exceptions.PolarsError as error:
        raise MappingError(
            f"source {source_name!r}: cannot map it onto {entity.name}: {str(error).splitlines()[0]} "
            f"(CSV columns are text: cast them in an expression, e.g. CAST(total AS DOUBLE) * 2)"
        ) from error
    typed = raw.select(
        to_type(name, raw.schema[name], dtype, value_format).alias(name)
        for name, dtype in entity.schema.items()
    )
    rules = _rules(raw, typed, entity, value_format, not_after)
    day = (
        typed.select(pl.when(rules["dated"]).then(pl.col(entity.date_column)).alias("day"))["day"]
        if entity.date_column
        else pl.Series("day", [None] * typed.height, pl.Date())
    )
    rejected = rules["rule"].is_not_null()
    in_window = pl.Series([True] * typed.height, dtype=pl.Boolean())
    if window is not None and entity.date_column is not None:
        in_window = day.is_between(*window, closed="both").fill_null(True)  # no day: every window
    rejects = (
        raw.select(pl.struct(raw.columns).struct.json_encode().alias("raw_row"))
        .with_columns(rule=rules["rule"], column=rules["column"], day=day)
        .filter(rejected & in_window)
        .select(list(REJECT_SCHEMA))
    )
    keys = typed[entity.key].filter(typed[entity.key].is_not_null())
    return MappedRows(
        rows=typed.filter(~rejected & in_window),
        rejects=pl.concat([rejects, unreadable]),
        keys=keys,
        extract_rows=typed.height + unreadable.height,
        days=typed[entity.date_column].drop_nulls().unique().sort() if entity.date_column else None,
    )


def _rules(
    raw: pl.DataFrame, typed: pl.DataFrame, entity: Entity, value_format: ValueFormat, not_after: date | None
) -> pl.DataFrame:
    """Per row: `rule` (the first rule it breaks, null if none), `column` (the column it names) and
    `dated` (whether it has a usable day: always True for a snapshot entity).

    By column, in the entity's order: an undeclared null marker (`null_marker:<column>`), then a value
    the source had that did not take the entity's type (`type:<column>`), then a text no warehouse
    column holds as it is: longer than kpi.schema.TEXT's 255 characters (`too_long:<column>`, refused
    by PostgreSQL and MariaDB, kept by DuckDB), or holding a NUL character (`nul_character:<column>`,
    refused by PostgreSQL). A row of a dated entity
    whose date is missing, unreadable or in the future has no day; it is rejected for that first
    (`missing:`, `type:`, `null_marker:`, `future_date:<date column>`)."""
    checks = pl.concat(
        [
            raw.select(
                *(
                    pl.when(looks_like_null_marker(name, raw.schema[name], value_format))
                    .then(pl.lit(f"null_marker:{name}"))
                    .when(pl.col(name).is_not_null())
                    .then(pl.lit(f"type:{name}"))
                    .alias(name)
                    for name in entity.schema
                )
            ),
            typed.select(pl.all().name.prefix("typed_")),
        ],
        how="horizontal",
    )
    broken = {name: _broken_rule(name, dtype) for name, dtype in entity.schema.items()}
    date_column = entity.date_column
    dated = pl.lit(True)
    first = pl.coalesce(*broken.values())
    if date_column is not None:
        date = pl.col(f"typed_{date_column}")
        future = (date > not_after) if not_after is not None else pl.lit(False)
        date_rule = (
            pl.when(future)
            .then(pl.lit(f"future_date:{date_column}"))
            .otherwise(pl.coalesce(broken[date_column], pl.lit(f"missing:{date_column}")))
        )
        dated = date.is_not_null() & ~future
        first = pl.when(dated).then(first).otherwise(date_rule)
    return checks.select(
        first.alias("rule"), first.str.split(":").list.last().alias("column"), dated.alias("dated")
    )


def _broken_rule(name: str, dtype: pl.DataType) -> pl.Expr:
    """The rule column `name` of the entity (of type `dtype`) broke, over _rules' checks frame (the
    rule each raw value would break, and the typed values as typed_<name>), or null."""
    typed = pl.col(f"typed_{name}")
    rule = pl.when(pl.col(name).str.starts_with("null_marker") | typed.is_null()).then(pl.col(name))
    if not isinstance(dtype, pl.String):
        return rule
    return (
        rule.when(typed.str.len_chars() > TEXT.length)
        .then(pl.lit(f"too_long:{name}"))
        .when(typed.str.contains("\x00", literal=True))
        .then(pl.lit(f"nul_character:{name}"))
    )


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


def schema_drift(
    schema: pl.Schema, declared: Mapping[str, str], source_name: str, untyped: Collection[str] = ()
) -> str | None:
    """What differs between an extract's columns and the columns its config declares (`source_columns`),
    or None. An all-text extract (CSV) is compared by names only: its values are typed later; so are
    the `untyped` columns (no value to tell their type by: all null)."""
    problems = []
    for column, expected in declared.items():
        if column not in schema:
            problems.append(f"column {column!r} is missing (expected {expected})")
    problems += [
        f"column {column!r} is new (not in source_columns)" for column in schema if column not in declared
    ]
    if not all(isinstance(dtype, pl.String) for dtype in schema.values()):
        for column, expected in declared.items():
            if column in schema and column not in untyped and source_type_name(schema[column]) != expected:
                problems.append(
                    f"column {column!r} is {source_type_name(schema[column])}, expected {expected}"
                )
    if not problems:
        return None
    return f"source {source_name!r}: schema drift: " + "; ".join(problems)
