"""Pure Polars: source values converted to the entity's types without loss, by one rule for every format.

A value is accepted only when the conversion loses nothing. A float becomes an integer only when it is
whole; an integer becomes a float only when the float holds it exactly; text becomes a number only
when it is written as one (`12.50`, `-3`, `1e3`), with the source's declared decimal and thousands
separators, and `1.000` (a thousand, or one?) is refused unless the source declares them. A value
that does not convert becomes null here; the caller compares with the source value to reject its row.
Null markers (`null_values`) are the source's: they mean null in every column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import polars as pl

TIME_DIRECTIVES = ("%H", "%M", "%S", "%z", "%T", "%I", "%p")
UTC_OFFSET_DIRECTIVE = re.compile(r"%[:#]?z")
ISO_UTC_OFFSET = r"\d(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# What exports write for "no value" when nobody said so: a value like these is never taken silently.
SUSPECTED_NULL_MARKERS = frozenset(
    {"null", "(null)", "n/a", "#n/a", "\\n", "nan", "none", "nil", "undefined", "-", "--"}
)
FLOAT_EXACT_INTEGERS = 2**53  # beyond this, a float64 skips integers
INT64_RANGE = (-(2**63), 2**63 - 1)
TRUE_TEXT = ("true", "t", "yes", "y", "1")
FALSE_TEXT = ("false", "f", "no", "n", "0")


@dataclass(frozen=True)
class ValueFormat:
    """How one source writes its text values (from its config)."""

    date_format: str | None = None
    """strftime format of text dates; None: ISO dates or timestamps."""
    null_values: tuple[str, ...] = ("",)
    """Text values meaning null in every column (compared after trimming spaces)."""
    null_values_declared: bool = False
    """When False, a value that looks like a null marker (SUSPECTED_NULL_MARKERS) rejects its row."""
    decimal_separator: str | None = None
    thousands_separator: str | None = None
    timezone: str = "UTC"
    """The reporting time zone: timestamps become its dates."""
    suspected_null_markers: frozenset[str] = field(default=SUSPECTED_NULL_MARKERS)

    @property
    def separators_declared(self) -> bool:
        return self.decimal_separator is not None or self.thousands_separator is not None


def nulls_applied(frame: pl.LazyFrame, value_format: ValueFormat) -> pl.LazyFrame:
    """Text columns trimmed of padding (`"M "`), and the source's null markers as null.

    Shape: the same columns as `frame`; categorical columns (Parquet dictionaries) become String, the
    text they hold; only text columns change.
    """
    markers = list(value_format.null_values)
    schema = frame.collect_schema()
    text_columns = [
        name for name, dtype in schema.items() if isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
    ]
    frame = frame.with_columns(pl.col(name).cast(pl.String()) for name in text_columns)
    return frame.with_columns(
        pl.when(pl.col(name).str.strip_chars().is_in(markers))
        .then(None)
        .otherwise(pl.col(name).str.strip_chars())
        .alias(name)
        for name in text_columns
    )


def looks_like_null_marker(column: str, dtype: pl.DataType, value_format: ValueFormat) -> pl.Expr:
    """True where a text value is a well-known null marker the source did not declare (`NULL`, `N/A`,
    `\\N`...): taken as a value, it would silently become a customer named NULL."""
    if value_format.null_values_declared or not isinstance(dtype, pl.String):
        return pl.lit(False)
    return pl.col(column).str.to_lowercase().is_in(list(value_format.suspected_null_markers)).fill_null(False)


def _number_pattern(value_format: ValueFormat) -> str:
    decimal = re.escape(value_format.decimal_separator or ".")
    exponent = r"(?:[eE][+-]?\d+)?"
    if value_format.thousands_separator is None:
        return rf"^[+-]?(?:\d+(?:{decimal}\d*)?|{decimal}\d+){exponent}$"
    thousands = re.escape(value_format.thousands_separator)
    return rf"^[+-]?(?:\d{{1,3}}(?:{thousands}\d{{3}})+|\d+)(?:{decimal}\d*)?{exponent}$"


# `1.000` or `12.500` with nothing declared: a thousand in much of Europe, one elsewhere.
AMBIGUOUS_THOUSANDS = r"^[+-]?[1-9]\d{0,2}\.\d{3}$"


def text_to_float(text: pl.Expr, value_format: ValueFormat) -> pl.Expr:
    """A number from text written as one, with the source's separators; null otherwise."""
    trimmed = text.str.strip_chars()
    readable = trimmed.str.contains(_number_pattern(value_format))
    if not value_format.separators_declared:
        readable = readable & ~trimmed.str.contains(AMBIGUOUS_THOUSANDS)
    plain = trimmed
    if value_format.thousands_separator is not None:
        plain = plain.str.replace_all(value_format.thousands_separator, "", literal=True)
    if value_format.decimal_separator not in (None, "."):
        plain = plain.str.replace(value_format.decimal_separator, ".", literal=True)  # type: ignore[arg-type]
    number = plain.cast(pl.Float64(), strict=False)
    return pl.when(readable & number.is_finite()).then(number)  # 1e400 is no amount either


def _nothing(column: str, dtype: pl.DataType) -> pl.Expr:
    """Null of `dtype` on every row of `column` (a bare literal would make a one-row frame)."""
    return (
        pl.when(pl.col(column).is_null()).then(pl.lit(None, dtype=dtype)).otherwise(pl.lit(None, dtype=dtype))
    )


def _whole(number: pl.Expr) -> pl.Expr:
    return number.is_finite() & (number == number.floor()) & number.is_between(*INT64_RANGE)


def to_integer(column: str, source_type: pl.DataType, value_format: ValueFormat) -> pl.Expr:
    """An Int64 from an integer, a whole float or decimal (`9.0`), or text written as a whole number."""
    value = pl.col(column)
    if source_type.is_integer():
        return value.cast(pl.Int64(), strict=False)
    if source_type.is_float() or isinstance(source_type, pl.Decimal):
        number = value.cast(pl.Float64())
        if isinstance(source_type, pl.Decimal):  # whole when nothing is after the point
            return pl.when(value == value.floor()).then(value.cast(pl.Int64(), strict=False))
        return pl.when(_whole(number)).then(number.cast(pl.Int64(), strict=False))
    if isinstance(source_type, pl.String):
        trimmed = value.str.strip_chars()
        as_integer = trimmed.cast(pl.Int64(), strict=False)  # exact for long digit strings
        number = text_to_float(trimmed, value_format)
        return pl.coalesce(
            pl.when(trimmed.str.contains(r"^[+-]?\d+$")).then(as_integer),
            pl.when(_whole(number) & (number.abs() < FLOAT_EXACT_INTEGERS)).then(
                number.cast(pl.Int64(), strict=False)
            ),
        )
    return _nothing(column, pl.Int64())


def to_float(column: str, source_type: pl.DataType, value_format: ValueFormat) -> pl.Expr:
    """A Float64 from a float, an integer the float holds exactly, a decimal, or text written as a number."""
    value = pl.col(column)
    if source_type.is_float():  # NaN and infinity are no amounts: the row is rejected
        return pl.when(value.is_finite()).then(value.cast(pl.Float64()))
    if source_type.is_integer():
        return pl.when(value.abs() <= FLOAT_EXACT_INTEGERS).then(value.cast(pl.Float64()))
    if isinstance(source_type, pl.Decimal):
        # A decimal is taken at the float nearest to it: amounts are floats in the warehouse (DESIGN.md).
        return value.cast(pl.Float64())
    if isinstance(source_type, pl.String):
        return text_to_float(value, value_format)
    return _nothing(column, pl.Float64())


def to_boolean(column: str, source_type: pl.DataType) -> pl.Expr:
    """A Boolean from a boolean, 0/1, or text true/false, yes/no, t/f, y/n, 1/0 (any case)."""
    value = pl.col(column)
    if isinstance(source_type, pl.Boolean):
        return value
    if source_type.is_integer():
        return pl.when(value == 1).then(True).when(value == 0).then(False)
    if isinstance(source_type, pl.String):
        lowered = value.str.strip_chars().str.to_lowercase()
        return pl.when(lowered.is_in(TRUE_TEXT)).then(True).when(lowered.is_in(FALSE_TEXT)).then(False)
    return _nothing(column, pl.Boolean())


def to_text(column: str, source_type: pl.DataType) -> pl.Expr:
    """Text from any scalar: numbers and dates as they print (`1001`, `2026-01-05`)."""
    value = pl.col(column)
    if isinstance(source_type, pl.String):
        return value
    if isinstance(source_type, pl.List | pl.Array | pl.Struct | pl.Object | pl.Binary):
        return _nothing(column, pl.String())  # a nested value is no text: the row is rejected
    return value.cast(pl.String(), strict=False)


def to_date(column: str, source_type: pl.DataType, value_format: ValueFormat) -> pl.Expr:
    """A date in the reporting time zone from a date, a timestamp, or text (ISO, or `date_format`)."""
    value = pl.col(column)
    if isinstance(source_type, pl.Date):
        return value
    if isinstance(source_type, pl.Datetime):
        if source_type.time_zone is None:  # a naive timestamp is taken as reporting-time-zone local time
            return value.dt.date()
        return value.dt.convert_time_zone(value_format.timezone).dt.date()
    if not isinstance(source_type, pl.String):
        return _nothing(column, pl.Date())  # a number is no date (20260105 needs a date_format as text)
    return _four_digit_years(_text_to_date(value.str.strip_chars(), value_format))


def _four_digit_years(day: pl.Expr) -> pl.Expr:
    """Years before 1000 come from a two-digit year read by %Y (`05.01.26` as year 26): no such date."""
    return pl.when(day.dt.year() >= 1000).then(day)


def _text_to_date(text: pl.Expr, value_format: ValueFormat) -> pl.Expr:
    timezone = value_format.timezone
    date_format = value_format.date_format
    if date_format and not any(directive in date_format for directive in TIME_DIRECTIVES):
        return text.str.to_date(date_format, strict=False, exact=True)
    if date_format:
        # Local times are not localized: only their date is wanted, and an hour the clocks repeat or
        # skip (daylight saving) must not fail the row.
        if not UTC_OFFSET_DIRECTIVE.search(date_format):
            return text.str.to_datetime(date_format, strict=False, exact=True).dt.date()
        return text.str.to_datetime(date_format, strict=False, exact=True, time_zone=timezone).dt.date()
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
        pl.when(text.str.len_chars() == 10).then(text.str.to_date("%Y-%m-%d", strict=False, exact=True)),
        as_timestamp.dt.date(),
        as_local_timestamp.dt.date(),
    )


def to_type(column: str, source_type: pl.DataType, target: pl.DataType, value_format: ValueFormat) -> pl.Expr:
    """`column` (of `source_type`) as `target` (String, Date, Int64, Float64 or Boolean), null where
    the value does not convert without loss.

    Raises TypeError for a target type no entity uses.
    """
    if isinstance(source_type, pl.Null):
        return _nothing(column, target)
    if isinstance(target, pl.Date):
        return to_date(column, source_type, value_format)
    if isinstance(target, pl.Int64):
        return to_integer(column, source_type, value_format)
    if isinstance(target, pl.Float64):
        return to_float(column, source_type, value_format)
    if isinstance(target, pl.Boolean):
        return to_boolean(column, source_type)
    if isinstance(target, pl.String):
        return to_text(column, source_type)
    raise TypeError(f"no conversion to {target}")
