"""assets.sources.values: a source value converted to an entity type without loss (DESIGN.md, "Values
are typed without loss"), and the same rule seen through assets.sources.transforms.map_to_entity.

Every expected value is worked out by hand from the input written next to it. A value that does not
convert without loss becomes null in values.py; map_to_entity then rejects its row (`type:<column>`,
`null_marker:<column>`, `future_date:<column>`), with the row's day, or a null day when the row's date
is unreadable or in the future.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal, assert_series_equal

from assets.sources.transforms import MappedRows, map_to_entity
from assets.sources.values import (
    ValueFormat,
    looks_like_null_marker,
    nulls_applied,
    text_to_float,
    to_boolean,
    to_date,
    to_float,
    to_integer,
    to_text,
    to_type,
)
from kpi.entities import ENTITIES

DEFAULT = ValueFormat()
GERMAN = ValueFormat(decimal_separator=",", thousands_separator=".")
US_THOUSANDS = ValueFormat(thousands_separator=",")
SWISS_FRENCH = ValueFormat(decimal_separator=",", thousands_separator=" ")
DECIMAL_POINT = ValueFormat(decimal_separator=".")
NAN = float("nan")
INF = float("inf")

SURVEYS = ENTITIES["survey_responses"]
REVENUE = ENTITIES["revenue_transactions"]


def convert(
    values: list, source_type: pl.DataType, target: pl.DataType, value_format: ValueFormat = DEFAULT
) -> pl.Series:
    """`values` (a column of `source_type`) converted by to_type; with_columns so that a literal
    result (a source type that never converts) still has one value per row."""
    frame = pl.DataFrame({"v": pl.Series(values, dtype=source_type)})
    return frame.with_columns(to_type("v", frame.schema["v"], target, value_format).alias("v"))["v"]


def expect(values: list, dtype: pl.DataType) -> pl.Series:
    return pl.Series("v", values, dtype=dtype)


def check(actual: pl.Series, expected: list, dtype: pl.DataType) -> None:
    assert_series_equal(actual, expect(expected, dtype))


# --- integers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_type", [pl.Int8(), pl.Int16(), pl.Int32(), pl.Int64(), pl.UInt8(), pl.UInt16(), pl.UInt32()]
)
def test_integer_from_every_integer_width(source_type: pl.DataType) -> None:
    check(convert([0, 1, 9, 127, None], source_type, pl.Int64()), [0, 1, 9, 127, None], pl.Int64())


def test_integer_from_negative_small_integers() -> None:
    check(convert([-128, -3], pl.Int8(), pl.Int64()), [-128, -3], pl.Int64())


def test_integer_from_uint64_beyond_int64_is_null() -> None:
    values = [2**63 - 1, 2**63, 2**64 - 1, 7]
    check(convert(values, pl.UInt64(), pl.Int64()), [2**63 - 1, None, None, 7], pl.Int64())


def test_integer_from_float64_only_when_whole_and_finite() -> None:
    values = [9.0, 9.5, NAN, INF, -INF, 1e19, -3.0, -0.0, -(2.0**63), 2.0**63, None]
    # -2**63 is exactly Int64's minimum; 2**63 is one past its maximum.
    expected = [9, None, None, None, None, None, -3, 0, -(2**63), None, None]
    check(convert(values, pl.Float64(), pl.Int64()), expected, pl.Int64())


def test_integer_from_float32() -> None:
    check(convert([9.0, 9.5, -2.0], pl.Float32(), pl.Int64()), [9, None, -2], pl.Int64())


def test_integer_from_decimal_only_when_nothing_is_after_the_point() -> None:
    values = [Decimal("9.00"), Decimal("9.50"), Decimal("-3.00"), Decimal("-3.50"), Decimal("0.01"), None]
    check(convert(values, pl.Decimal(10, 2), pl.Int64()), [9, None, -3, None, None, None], pl.Int64())


def test_integer_from_decimal_beyond_int64_is_null() -> None:
    values = [Decimal("99999999999999999999"), Decimal("42")]
    check(convert(values, pl.Decimal(38, 0), pl.Int64()), [None, 42], pl.Int64())


def test_integer_from_text() -> None:
    values = ["9", " 9 ", "+9", "-3", "9.0", "9.5", "1e3", "nine", "0", "-0", "1,000", "0x10", "1_000", None]
    expected = [9, 9, 9, -3, 9, None, 1000, None, 0, 0, None, None, None, None]
    check(convert(values, pl.String(), pl.Int64()), expected, pl.Int64())


def test_integer_from_long_digit_text_is_exact_and_refused_beyond_int64() -> None:
    # 2**53 + 1 read through a float would be 2**53: digit strings are read as integers.
    values = ["9007199254740993", "9223372036854775807", "9223372036854775808", "1e20"]
    check(convert(values, pl.String(), pl.Int64()), [2**53 + 1, 2**63 - 1, None, None], pl.Int64())


def test_integer_from_ambiguous_text_needs_declared_separators() -> None:
    values = ["1.000", "1.000,00", "1.000,50", "9,0"]
    check(convert(values, pl.String(), pl.Int64()), [None, None, None, None], pl.Int64())
    check(convert(values, pl.String(), pl.Int64(), GERMAN), [1000, 1000, None, 9], pl.Int64())


def test_integer_from_empty_text_is_null_by_the_null_markers_first() -> None:
    frame = pl.DataFrame({"v": ["", " ", "7"]})
    nulled = nulls_applied(frame.lazy(), DEFAULT).collect()
    assert_series_equal(nulled["v"], expect([None, None, "7"], pl.String()))
    typed = nulled.select(to_integer("v", pl.String(), DEFAULT))["v"]
    check(typed, [None, None, 7], pl.Int64())


def test_integer_from_boolean_is_null() -> None:
    check(convert([True, False], pl.Boolean(), pl.Int64()), [None, None], pl.Int64())


def test_integer_from_date_is_null() -> None:
    check(convert([date(2026, 1, 5)], pl.Date(), pl.Int64()), [None], pl.Int64())


# --- floats --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_type", [pl.Int8(), pl.Int16(), pl.Int32(), pl.Int64(), pl.UInt8(), pl.UInt16(), pl.UInt32()]
)
def test_float_from_every_integer_width(source_type: pl.DataType) -> None:
    check(convert([0, 1, 100, None], source_type, pl.Float64()), [0.0, 1.0, 100.0, None], pl.Float64())


def test_float_from_integer_only_when_the_float_holds_it_exactly() -> None:
    values = [2**53, 2**53 + 1, -(2**53), -(2**53) - 1, 12]
    expected = [9007199254740992.0, None, -9007199254740992.0, None, 12.0]
    check(convert(values, pl.Int64(), pl.Float64()), expected, pl.Float64())


def test_float_from_uint64_beyond_2_53_is_null() -> None:
    check(convert([2**64 - 1, 3], pl.UInt64(), pl.Float64()), [None, 3.0], pl.Float64())


def test_float_from_float32_is_its_exact_value() -> None:
    # float32 0.1 is 0.100000001490116119384765625: widening keeps it, nothing is lost.
    check(
        convert([1.5, 0.1, None], pl.Float32(), pl.Float64()), [1.5, 0.10000000149011612, None], pl.Float64()
    )


def test_float_from_float64_is_unchanged() -> None:
    check(convert([12.5, -3.0, None], pl.Float64(), pl.Float64()), [12.5, -3.0, None], pl.Float64())


def test_float_from_decimal() -> None:
    values = [Decimal("12.50"), Decimal("-0.10"), Decimal("1234567.89"), None]
    check(convert(values, pl.Decimal(12, 2), pl.Float64()), [12.5, -0.1, 1234567.89, None], pl.Float64())


def test_float_from_text_in_the_default_format() -> None:
    values = {
        "12.50": 12.5,
        "-3": -3.0,
        ".5": 0.5,
        "+.5": 0.5,
        "1e3": 1000.0,
        "1E-2": 0.01,
        " 2.5 ": 2.5,
        "0.500": 0.5,  # a leading 0 is no thousands group
        "1000.000": 1000.0,  # four digits before the point: no thousands group either
        "1.000": None,  # a thousand, or one?
        "12.500": None,
        "-1.000": None,
        "1,000.00": None,
        "1.000,00": None,
        "1,5": None,
        "inf": None,
        "NaN": None,
        "twelve": None,
        "": None,
    }
    check(convert(list(values), pl.String(), pl.Float64()), list(values.values()), pl.Float64())


def test_float_from_text_with_german_separators() -> None:
    values = {
        "1.234,56": 1234.56,
        "1.000": 1000.0,
        "1.000.000": 1000000.0,
        "-1.234.567,89": -1234567.89,
        "12,5": 12.5,
        "1234,5": 1234.5,
        "1.23,4": None,  # a thousands group has three digits
        "12.5": None,  # the point is no decimal separator here
        "1,2,3": None,
        "1.000.5": None,
    }
    check(convert(list(values), pl.String(), pl.Float64(), GERMAN), list(values.values()), pl.Float64())


def test_float_from_text_with_comma_thousands_only() -> None:
    values = {
        "1,000.00": 1000.0,
        "1,000,000": 1000000.0,
        "12,345.6": 12345.6,
        "1.000": 1.0,  # the decimal is "." (the thousands separator is declared): one
        "1,00": None,
        "1,2345": None,
    }
    check(convert(list(values), pl.String(), pl.Float64(), US_THOUSANDS), list(values.values()), pl.Float64())


def test_float_from_text_with_space_thousands_and_comma_decimal() -> None:
    values = {
        "1 234,5": 1234.5,
        "1 234 567,89": 1234567.89,
        "1234,5": 1234.5,
        "12 34,5": None,
        "1 234.5": None,
    }
    check(convert(list(values), pl.String(), pl.Float64(), SWISS_FRENCH), list(values.values()), pl.Float64())


def test_float_from_text_with_the_point_declared_as_decimal() -> None:
    values = {"1.000": 1.0, "12.5": 12.5, "1,000": None}
    check(
        convert(list(values), pl.String(), pl.Float64(), DECIMAL_POINT), list(values.values()), pl.Float64()
    )


def test_text_to_float_is_an_expression_over_any_text() -> None:
    frame = pl.DataFrame({"a": ["1.234,56", "x"]})
    result = frame.select(text_to_float(pl.col("a"), GERMAN).alias("a"))["a"]
    assert_series_equal(result, pl.Series("a", [1234.56, None], dtype=pl.Float64()))


def test_float_from_boolean_and_date_is_null() -> None:
    check(convert([True], pl.Boolean(), pl.Float64()), [None], pl.Float64())
    check(convert([date(2026, 1, 5)], pl.Date(), pl.Float64()), [None], pl.Float64())


def test_float_from_float_refuses_nan_and_infinity() -> None:
    check(convert([NAN, INF, -INF, 1.5], pl.Float64(), pl.Float64()), [None, None, None, 1.5], pl.Float64())


# --- dates ---------------------------------------------------------------------------------------


def test_date_from_date_is_unchanged() -> None:
    check(convert([date(2026, 1, 5), None], pl.Date(), pl.Date()), [date(2026, 1, 5), None], pl.Date())


def test_date_from_naive_datetime_is_its_date() -> None:
    berlin = ValueFormat(timezone="Europe/Berlin")
    values = [datetime(2026, 1, 5, 23, 30), datetime(2026, 1, 6, 0, 0)]
    check(
        convert(values, pl.Datetime("us"), pl.Date(), berlin), [date(2026, 1, 5), date(2026, 1, 6)], pl.Date()
    )


def test_date_from_aware_datetime_is_its_date_in_the_reporting_time_zone() -> None:
    berlin = ValueFormat(timezone="Europe/Berlin")
    # 23:30 UTC is 00:30 the next day in Berlin (UTC+1 in January).
    utc = convert([datetime(2026, 1, 5, 23, 30)], pl.Datetime("us", "UTC"), pl.Date(), berlin)
    check(utc, [date(2026, 1, 6)], pl.Date())
    # 23:30 in New York is 04:30 UTC, 05:30 in Berlin, the next day.
    new_york = convert(
        [datetime(2026, 1, 5, 23, 30)], pl.Datetime("ms", "America/New_York"), pl.Date(), berlin
    )
    check(new_york, [date(2026, 1, 6)], pl.Date())
    # In UTC itself, the UTC date.
    check(
        convert([datetime(2026, 1, 5, 23, 30)], pl.Datetime("us", "UTC"), pl.Date()),
        [date(2026, 1, 5)],
        pl.Date(),
    )


def test_date_from_iso_text() -> None:
    new_york = ValueFormat(timezone="America/New_York")
    values = {
        "2026-01-05": date(2026, 1, 5),
        " 2026-01-05 ": date(2026, 1, 5),
        "2026-01-05T09:12:00Z": date(2026, 1, 5),  # 04:12 in New York
        "2026-01-05 23:30:00+00:00": date(2026, 1, 5),  # 18:30 in New York
        "2026-01-06T03:00:00+01:00": date(2026, 1, 5),  # 02:00 UTC, 21:00 in New York the day before
        "2026-01-05T23:30:00": date(2026, 1, 5),  # no offset: already New York time
        "2026-01-05 23:30:00": date(2026, 1, 5),
        "2026-1-5": None,
        "2026-02-30": None,
        "2026/01/05": None,
        "20260105": None,
        "not a date": None,
        "2026-13-05T10:00:00Z": None,
    }
    check(convert(list(values), pl.String(), pl.Date(), new_york), list(values.values()), pl.Date())


def test_date_from_iso_text_with_an_offset_moves_to_the_reporting_day() -> None:
    berlin = ValueFormat(timezone="Europe/Berlin")
    values = {
        "2026-01-05T23:30:00Z": date(2026, 1, 6),  # 00:30 in Berlin
        "2026-01-05T23:30:00+05:00": date(2026, 1, 5),  # 18:30 UTC, 19:30 in Berlin
        "2026-01-05 23:30:00+00:00": date(2026, 1, 6),
        "2026-01-05T23:30:00": date(2026, 1, 5),  # local: not moved
        "2026-01-05": date(2026, 1, 5),
    }
    check(convert(list(values), pl.String(), pl.Date(), berlin), list(values.values()), pl.Date())


def test_date_from_text_with_a_us_date_format() -> None:
    us = ValueFormat(date_format="%m/%d/%Y")
    values = {
        "01/05/2026": date(2026, 1, 5),
        " 01/05/2026 ": date(2026, 1, 5),
        "13/45/2026": None,
        "01/05/2026 extra": None,
        "2026-01-05": None,
    }
    check(convert(list(values), pl.String(), pl.Date(), us), list(values.values()), pl.Date())


def test_date_from_text_with_a_german_date_format() -> None:
    german = ValueFormat(date_format="%d.%m.%Y")
    values = {"05.01.2026": date(2026, 1, 5), "31.12.2025": date(2025, 12, 31), "31.02.2026": None, "x": None}
    check(convert(list(values), pl.String(), pl.Date(), german), list(values.values()), pl.Date())


def test_date_from_text_with_a_two_digit_year_under_a_four_digit_format_is_null() -> None:
    german = ValueFormat(date_format="%d.%m.%Y")
    check(convert(["05.01.26"], pl.String(), pl.Date(), german), [None], pl.Date())


def test_date_from_text_with_a_time_format_keeps_the_local_date() -> None:
    berlin = ValueFormat(date_format="%d.%m.%Y %H:%M", timezone="Europe/Berlin")
    # 02:30 on 2026-03-29 does not exist in Berlin (clocks jump 02:00 -> 03:00): its date still counts.
    values = ["05.01.2026 23:30", "29.03.2026 02:30"]
    check(convert(values, pl.String(), pl.Date(), berlin), [date(2026, 1, 5), date(2026, 3, 29)], pl.Date())


def test_date_from_text_with_an_offset_format_is_converted() -> None:
    berlin = ValueFormat(date_format="%Y-%m-%d %H:%M%z", timezone="Europe/Berlin")
    check(convert(["2026-01-05 23:30+0000"], pl.String(), pl.Date(), berlin), [date(2026, 1, 6)], pl.Date())


def test_date_from_an_integer_is_null_even_with_a_date_format() -> None:
    check(convert([20260105], pl.Int64(), pl.Date()), [None], pl.Date())
    compact = ValueFormat(date_format="%Y%m%d")
    check(convert([20260105], pl.Int64(), pl.Date(), compact), [None], pl.Date())


# --- booleans and text ---------------------------------------------------------------------------


def test_boolean_from_text() -> None:
    values = {
        "true": True,
        "T": True,
        "yes": True,
        "Y": True,
        "1": True,
        " TRUE ": True,
        "false": False,
        "F": False,
        "no": False,
        "N": False,
        "0": False,
        "maybe": None,
        "2": None,
        "on": None,
        None: None,
    }
    check(convert(list(values), pl.String(), pl.Boolean()), list(values.values()), pl.Boolean())


@pytest.mark.parametrize("source_type", [pl.Int8(), pl.Int64(), pl.UInt8(), pl.UInt64()])
def test_boolean_from_integers(source_type: pl.DataType) -> None:
    check(convert([1, 0, 2, None], source_type, pl.Boolean()), [True, False, None, None], pl.Boolean())


def test_boolean_from_negative_integer_is_null() -> None:
    check(convert([-1], pl.Int64(), pl.Boolean()), [None], pl.Boolean())


def test_boolean_from_booleans_and_floats() -> None:
    check(convert([True, False, None], pl.Boolean(), pl.Boolean()), [True, False, None], pl.Boolean())
    check(convert([1.0, 0.0], pl.Float64(), pl.Boolean()), [None, None], pl.Boolean())


def test_to_boolean_directly() -> None:
    frame = pl.DataFrame({"b": ["Yes", "n"]})
    check(frame.select(to_boolean("b", pl.String()).alias("v"))["v"], [True, False], pl.Boolean())


def test_text_from_integers_floats_dates_and_booleans() -> None:
    check(convert([1001, -3], pl.Int64(), pl.String()), ["1001", "-3"], pl.String())
    check(convert([1.5, 1.0, 0.1], pl.Float64(), pl.String()), ["1.5", "1.0", "0.1"], pl.String())
    check(convert([Decimal("12.50")], pl.Decimal(10, 2), pl.String()), ["12.50"], pl.String())
    check(convert([date(2026, 1, 5)], pl.Date(), pl.String()), ["2026-01-05"], pl.String())
    check(convert([True, False], pl.Boolean(), pl.String()), ["true", "false"], pl.String())
    check(convert([" a ", None], pl.String(), pl.String()), [" a ", None], pl.String())


def test_text_from_nested_or_binary_values_is_null() -> None:
    check(convert([[1, 2]], pl.List(pl.Int64()), pl.String()), [None], pl.String())
    check(convert([{"a": 1}], pl.Struct({"a": pl.Int64()}), pl.String()), [None], pl.String())
    check(convert([b"ab"], pl.Binary(), pl.String()), [None], pl.String())


def test_to_text_directly() -> None:
    frame = pl.DataFrame({"n": [7]})
    check(frame.select(to_text("n", pl.Int64()).alias("v"))["v"], ["7"], pl.String())


def test_a_null_typed_source_column_is_null_of_the_target_type() -> None:
    for target in (pl.String(), pl.Date(), pl.Int64(), pl.Float64(), pl.Boolean()):
        check(convert([None, None], pl.Null(), target), [None, None], target)


def test_to_type_refuses_a_target_no_entity_uses() -> None:
    with pytest.raises(TypeError, match="no conversion to"):
        to_type("v", pl.String(), pl.Int32(), DEFAULT)


def test_the_direct_functions_agree_with_to_type() -> None:
    frame = pl.DataFrame({"s": ["9", "2026-01-05"], "i": [2**53 + 1, 3]})
    result = frame.select(
        to_integer("s", pl.String(), DEFAULT).alias("int"),
        to_date("s", pl.String(), DEFAULT).alias("date"),
        to_float("i", pl.Int64(), DEFAULT).alias("float"),
    )
    expected = pl.DataFrame(
        {"int": [9, None], "date": [None, date(2026, 1, 5)], "float": [None, 3.0]},
        schema={"int": pl.Int64(), "date": pl.Date(), "float": pl.Float64()},
    )
    assert_frame_equal(result, expected)


def test_categorical_text_converts_like_text() -> None:
    """A Categorical column (a Parquet dictionary) is text: nulls_applied makes it String first, as
    map_to_entity does before converting."""

    def convert(values: list, source_type: pl.DataType, target: pl.DataType) -> pl.Series:
        frame = nulls_applied(pl.LazyFrame({"v": pl.Series(values, dtype=source_type)}), DEFAULT).collect()
        return frame.with_columns(to_type("v", frame.schema["v"], target, DEFAULT).alias("v"))["v"]

    check(convert(["9"], pl.Categorical(), pl.Int64()), [9], pl.Int64())
    check(convert(["12.5"], pl.Categorical(), pl.Float64()), [12.5], pl.Float64())
    check(convert(["2026-01-05"], pl.Categorical(), pl.Date()), [date(2026, 1, 5)], pl.Date())


# --- null markers --------------------------------------------------------------------------------


def test_nulls_applied_with_the_default_marker_trims_and_nulls_the_empty_string() -> None:
    frame = pl.DataFrame({"a": ["", " ", "NULL", " N/A ", "x ", None], "n": [1, 2, 3, 4, 5, 6]})
    result = nulls_applied(frame.lazy(), DEFAULT).collect()
    expected = pl.DataFrame({"a": [None, None, "NULL", "N/A", "x", None], "n": [1, 2, 3, 4, 5, 6]})
    assert_frame_equal(result, expected)


def test_nulls_applied_with_declared_markers() -> None:
    declared = ValueFormat(null_values=("NULL", "N/A", "\\N"), null_values_declared=True)
    frame = pl.DataFrame({"a": ["NULL", " N/A ", "\\N", "null", "", " ", "x"]})
    result = nulls_applied(frame.lazy(), declared).collect()
    # "" is a value when the declared markers leave it out; markers match case-sensitively.
    assert_series_equal(result["a"], pl.Series("a", [None, None, None, "null", "", "", "x"]))


def test_nulls_applied_touches_only_text_columns() -> None:
    frame = pl.DataFrame({"n": [1, None], "d": [date(2026, 1, 5), None]})
    assert_frame_equal(nulls_applied(frame.lazy(), DEFAULT).collect(), frame)


def test_looks_like_null_marker_flags_undeclared_markers_in_any_case() -> None:
    values = {
        "null": True,
        "NULL": True,
        "N/A": True,
        "n/a": True,
        "#N/A": True,
        "\\N": True,
        "None": True,
        "-": True,
        "--": True,
        "NaN": True,
        "(null)": True,
        "nil": True,
        "undefined": True,
        "NA": False,
        "Null Island": False,
        "x": False,
        "": False,
        None: False,
    }
    frame = pl.DataFrame({"a": list(values)})
    result = frame.select(looks_like_null_marker("a", pl.String(), DEFAULT).alias("a"))["a"]
    assert_series_equal(result, pl.Series("a", list(values.values())))


def test_looks_like_null_marker_flags_nothing_when_markers_are_declared_or_the_column_is_no_text() -> None:
    declared = ValueFormat(null_values=("NULL",), null_values_declared=True)
    frame = pl.DataFrame({"a": ["null", "N/A", "\\N"], "n": [1, 2, 3]})
    result = frame.with_columns(
        looks_like_null_marker("a", pl.String(), declared).alias("declared"),
        looks_like_null_marker("n", pl.Int64(), DEFAULT).alias("integer"),
    )
    assert result["declared"].to_list() == [False, False, False]
    assert result["integer"].to_list() == [False, False, False]


# --- through map_to_entity -----------------------------------------------------------------------

SURVEY_COLUMNS = {
    "response_id": "id",
    "customer_id": "cust",
    "responded_on": "date",
    "survey": "survey",
    "score": "score",
}
REVENUE_COLUMNS = {"transaction_id": "id", "booked_on": "day", "amount": "total", "customer_id": "cust"}
REJECT_VIEW = {"rule": pl.String(), "column": pl.String(), "day": pl.Date()}


def rejects(mapped: MappedRows) -> pl.DataFrame:
    return mapped.rejects.select("rule", "column", "day")


def reject_frame(rows: list[tuple[str, str, date | None]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECT_VIEW, orient="row")


def surveys(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SURVEYS.schema, orient="row")


def revenue(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REVENUE.schema, orient="row")


def test_csv_like_text_onto_survey_responses() -> None:
    frame = pl.DataFrame(
        {
            "id": ["r1", "r2", "r3", "r4", "r5", "r6", "r7"],
            "cust": ["c1", "c2", "c3", "NULL", "c5", "c6", "c7"],
            "date": [
                "2026-01-05",
                "2026-01-05",
                "2026-01-06",
                "2026-01-05",
                "2026-13-40",
                "2026-02-01",
                " 2026-01-06 ",
            ],
            "survey": ["csat", "nps", "csat", "csat", "csat", "csat", "nps"],
            "score": ["5", " 9 ", "4.5", "3", "4", "4", "10.0"],
        }
    )
    mapped = map_to_entity(frame, SURVEYS, SURVEY_COLUMNS, source_name="csv", not_after=date(2026, 1, 10))

    assert_frame_equal(
        mapped.rows,
        surveys(
            [
                ("r1", "c1", date(2026, 1, 5), "csat", 5),
                ("r2", "c2", date(2026, 1, 5), "nps", 9),
                ("r7", "c7", date(2026, 1, 6), "nps", 10),
            ]
        ),
    )
    assert_frame_equal(
        rejects(mapped),
        reject_frame(
            [
                ("type:score", "score", date(2026, 1, 6)),  # 4.5 is no integer score
                ("null_marker:customer_id", "customer_id", date(2026, 1, 5)),  # NULL, undeclared
                ("type:responded_on", "responded_on", None),  # month 13: no day
                ("future_date:responded_on", "responded_on", None),  # after 2026-01-10: no day
            ]
        ),
    )
    assert mapped.rejects["raw_row"][0] == (
        '{"response_id":"r3","customer_id":"c3","responded_on":"2026-01-06","survey":"csat","score":"4.5"}'
    )
    assert mapped.keys.to_list() == ["r1", "r2", "r3", "r4", "r5", "r6", "r7"]
    assert mapped.extract_rows == 7


def test_rejects_of_no_day_come_with_every_window() -> None:
    frame = pl.DataFrame(
        {
            "id": ["r1", "r2", "r3", "r4"],
            "cust": ["c1", "c2", "c3", "c4"],
            "date": ["2026-01-05", "2026-01-06", "someday", "2026-02-01"],
            "survey": ["csat", "csat", "csat", "csat"],
            "score": ["5", "4.5", "4", "4"],
        }
    )
    window = (date(2026, 1, 5), date(2026, 1, 5))
    mapped = map_to_entity(
        frame, SURVEYS, SURVEY_COLUMNS, source_name="csv", window=window, not_after=date(2026, 1, 10)
    )
    assert_frame_equal(mapped.rows, surveys([("r1", "c1", date(2026, 1, 5), "csat", 5)]))
    # r2's reject belongs to 2026-01-06, outside the window; r3 and r4 belong to no day.
    assert_frame_equal(
        rejects(mapped),
        reject_frame(
            [("type:responded_on", "responded_on", None), ("future_date:responded_on", "responded_on", None)]
        ),
    )


def test_csv_like_text_onto_revenue_with_declared_markers_and_german_separators() -> None:
    frame = pl.DataFrame(
        {
            "id": ["t1", "t2", "t3", "t4", "t5", "t6"],
            "day": ["05.01.2026", "05.01.2026", "06.01.2026", "06.01.2026", "32.01.2026", "06.01.2026"],
            "total": ["1.234,56", "-12,5", "1.000", "1.23,4", "5", "7"],
            "cust": ["c1", "N/A", "", "c4", "c5", "null"],
        }
    )
    value_format = ValueFormat(
        date_format="%d.%m.%Y",
        null_values=("", "N/A"),
        null_values_declared=True,
        decimal_separator=",",
        thousands_separator=".",
    )
    mapped = map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="csv", value_format=value_format)

    assert_frame_equal(
        mapped.rows,
        revenue(
            [
                ("t1", date(2026, 1, 5), "c1", 1234.56),
                ("t2", date(2026, 1, 5), None, -12.5),  # N/A is declared: a null customer
                ("t3", date(2026, 1, 6), None, 1000.0),
                # declared markers: "null" is not suspected, it is a customer named null
                ("t6", date(2026, 1, 6), "null", 7.0),
            ]
        ),
    )
    assert_frame_equal(
        rejects(mapped),
        reject_frame([("type:amount", "amount", date(2026, 1, 6)), ("type:booked_on", "booked_on", None)]),
    )


def test_ndjson_like_typed_values_onto_survey_responses() -> None:
    frame = pl.DataFrame(
        {
            "id": [1, 2, 3, 4, 5],
            "cust": ["c1", "c2", "c3", "N/A", "c5"],
            "date": [
                "2026-01-05T23:30:00Z",  # 00:30 on the 6th in Berlin
                "2026-01-05T10:00:00+00:00",
                "2026-01-05T10:00:00Z",
                "2026-01-05T10:00:00Z",
                "2026-01-05T25:00:00Z",
            ],
            "survey": ["nps", "nps", "csat", "csat", "csat"],
            "score": [9.0, 7.5, 4.0, 4.0, 3.0],
        }
    )
    mapped = map_to_entity(frame, SURVEYS, SURVEY_COLUMNS, source_name="api", timezone="Europe/Berlin")

    assert_frame_equal(
        mapped.rows,
        surveys([("1", "c1", date(2026, 1, 6), "nps", 9), ("3", "c3", date(2026, 1, 5), "csat", 4)]),
    )
    assert_frame_equal(
        rejects(mapped),
        reject_frame(
            [
                ("type:score", "score", date(2026, 1, 5)),  # 7.5: a fractional score
                ("null_marker:customer_id", "customer_id", date(2026, 1, 5)),
                ("type:responded_on", "responded_on", None),  # hour 25
            ]
        ),
    )
    assert mapped.keys.to_list() == ["1", "2", "3", "4", "5"]


def test_ndjson_like_typed_values_onto_revenue() -> None:
    frame = pl.DataFrame(
        {
            "id": [1001, 1002, 1003, 1004],
            "day": ["2026-01-05", "2026-01-05T23:30:00Z", "2026-01-05T12:00:00", "2026-01-09"],
            "total": [12.5, -3.0, 0.1, 5.0],
            "cust": ["c1", None, "c3", "c4"],
        }
    )
    mapped = map_to_entity(
        frame,
        REVENUE,
        REVENUE_COLUMNS,
        source_name="api",
        timezone="Europe/Berlin",
        not_after=date(2026, 1, 8),
    )
    assert_frame_equal(
        mapped.rows,
        revenue(
            [
                ("1001", date(2026, 1, 5), "c1", 12.5),
                ("1002", date(2026, 1, 6), None, -3.0),
                ("1003", date(2026, 1, 5), "c3", 0.1),
            ]
        ),
    )
    assert_frame_equal(rejects(mapped), reject_frame([("future_date:booked_on", "booked_on", None)]))


def test_sql_like_decimals_and_datetimes_onto_revenue() -> None:
    frame = pl.DataFrame(
        {
            "id": pl.Series([1, 2, 3], dtype=pl.Int64()),
            "day": pl.Series(
                [datetime(2026, 1, 5, 23, 30), datetime(2026, 1, 5, 8, 0), datetime(2026, 1, 6, 12, 0)],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "total": pl.Series(
                [Decimal("1234.56"), Decimal("-0.10"), Decimal("99.99")], dtype=pl.Decimal(12, 2)
            ),
            "cust": ["c1", "c2", "-"],
        }
    )
    mapped = map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="db", timezone="Europe/Berlin")
    assert_frame_equal(
        mapped.rows,
        revenue([("1", date(2026, 1, 6), "c1", 1234.56), ("2", date(2026, 1, 5), "c2", -0.1)]),
    )
    assert_frame_equal(
        rejects(mapped), reject_frame([("null_marker:customer_id", "customer_id", date(2026, 1, 6))])
    )


def test_sql_like_decimal_scores_and_naive_datetimes_onto_survey_responses() -> None:
    frame = pl.DataFrame(
        {
            "id": ["s1", "s2", "s3"],
            "cust": ["c1", "c2", "c3"],
            "date": pl.Series(
                [datetime(2026, 1, 5, 23, 30), datetime(2026, 1, 5, 1, 0), datetime(2026, 3, 1)],
                dtype=pl.Datetime("us"),
            ),
            "survey": ["csat", "csat", "nps"],
            "score": pl.Series([Decimal("4.00"), Decimal("4.50"), Decimal("8.00")], dtype=pl.Decimal(5, 2)),
        }
    )
    mapped = map_to_entity(
        frame,
        SURVEYS,
        SURVEY_COLUMNS,
        source_name="db",
        timezone="Europe/Berlin",
        not_after=date(2026, 1, 31),
    )
    # naive timestamps are reporting-time-zone local time: 23:30 stays on the 5th
    assert_frame_equal(mapped.rows, surveys([("s1", "c1", date(2026, 1, 5), "csat", 4)]))
    assert_frame_equal(
        rejects(mapped),
        reject_frame(
            [("type:score", "score", date(2026, 1, 5)), ("future_date:responded_on", "responded_on", None)]
        ),
    )


def test_an_all_null_typed_extract_is_rejected_row_by_row() -> None:
    frame = pl.DataFrame(
        {"id": [None, None], "day": [None, None], "total": [None, None], "cust": [None, None]}
    )
    mapped = map_to_entity(frame, REVENUE, REVENUE_COLUMNS, source_name="api")
    assert mapped.rows.height == 0
    assert_frame_equal(
        rejects(mapped),
        reject_frame([("missing:booked_on", "booked_on", None), ("missing:booked_on", "booked_on", None)]),
    )


# --- property ------------------------------------------------------------------------------------

CENTS = st.integers(min_value=-(10**11) + 1, max_value=10**11 - 1)  # |x| < 1e9, two decimals


@settings(max_examples=200, deadline=None)
@given(cents=CENTS)
def test_formatted_amounts_read_back_with_their_declared_separators(cents: int) -> None:
    x = cents / 100
    english = f"{x:,.2f}"  # 1,234,567.89
    german = english.translate(str.maketrans(",.", ".,"))  # 1.234.567,89
    frame = pl.DataFrame({"english": [english], "german": [german]})
    result = frame.select(
        to_float("english", pl.String(), US_THOUSANDS).alias("english"),
        to_float("german", pl.String(), GERMAN).alias("german"),
    )
    assert result.row(0) == (round(x, 2), round(x, 2))
