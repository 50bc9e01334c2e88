"""The native engine of expectations/runner.py against Great Expectations itself: on generated frames
(nulls, NaN, dates, conditions), every core expectation gives the outcome GX gives: success, what was
observed, the failing rows' positions and the examples. And the built-in suites never import GX."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expectations.runner import validate

DAYS = [date(2026, 1, 1) + timedelta(days=offset) for offset in range(5)]
SURVEYS = ["csat", "nps", None]


@st.composite
def frames(draw) -> pl.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=12))
    text = st.sampled_from(["a", "b", "c", None])
    number = st.one_of(
        st.none(), st.just(float("nan")), st.floats(-5, 15, allow_nan=False).map(lambda v: round(v, 1))
    )
    day = st.one_of(st.none(), st.sampled_from(DAYS))
    return pl.DataFrame(
        {
            "key": draw(st.lists(text, min_size=rows, max_size=rows)),
            "survey": draw(st.lists(st.sampled_from(SURVEYS), min_size=rows, max_size=rows)),
            "score": draw(st.lists(st.one_of(st.none(), st.integers(-2, 12)), min_size=rows, max_size=rows)),
            "amount": draw(st.lists(number, min_size=rows, max_size=rows)),
            "started_on": draw(st.lists(day, min_size=rows, max_size=rows)),
            "ended_on": draw(st.lists(day, min_size=rows, max_size=rows)),
        },
        schema={
            "key": pl.String(),
            "survey": pl.String(),
            "score": pl.Int64(),
            "amount": pl.Float64(),
            "started_on": pl.Date(),
            "ended_on": pl.Date(),
        },
    )


SUITE = [
    {"type": "expect_column_values_to_not_be_null", "column": "key"},
    {"type": "expect_column_values_to_not_be_null", "column": "amount"},
    {"type": "expect_column_values_to_not_be_null", "column": "started_on"},
    {"type": "expect_column_values_to_be_in_set", "column": "key", "value_set": ["a", "b"]},
    {
        "type": "expect_column_values_to_be_in_set",
        "column": "started_on",
        "value_set": {"$PARAMETER": "days"},
    },
    {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": 0, "max_value": 10},
    {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": None, "max_value": 3.5},
    {
        "type": "expect_column_values_to_be_between",
        "column": "score",
        "min_value": 0,
        "max_value": 10,
        "row_condition": 'survey=="nps"',
        "condition_parser": "pandas",
    },
    {
        "type": "expect_column_values_to_be_between",
        "column": "score",
        "min_value": 1,
        "max_value": 5,
        "row_condition": 'survey=="csat"',
        "condition_parser": "pandas",
    },
    {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "column_A": "ended_on",
        "column_B": "started_on",
        "or_equal": True,
        "ignore_row_if": "either_value_is_missing",
    },
]


def same_value(example):
    """An example as both engines mean it: pandas (GX's) turns a null into NaN, an integer column with
    nulls into floats, a pair into a tuple; the native engine keeps None, integers and lists."""
    if isinstance(example, list | tuple):
        return tuple(same_value(item) for item in example)
    if example is None or (isinstance(example, float) and math.isnan(example)):
        return "missing"
    if isinstance(example, int | float):
        return float(example)
    return str(example)


def comparable(outcome) -> list[tuple]:
    return [
        (
            item.expectation,
            item.success,
            item.observed,
            item.failing_rows,
            [same_value(example) for example in item.examples],
        )
        for item in outcome.expectations
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), days=st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True))
def test_the_native_engine_reports_what_great_expectations_reports(
    frame: pl.DataFrame, days: list[date]
) -> None:
    native = validate(frame, "generated", SUITE, {"days": days})
    reference = validate(frame, "generated", SUITE, {"days": days}, engine="gx")
    assert comparable(native) == comparable(reference)


def test_an_expectation_the_native_engine_does_not_know_runs_through_gx() -> None:
    frame = pl.DataFrame({"amount": [1.0, 2.0, 30.0]})
    suite = [
        {"type": "expect_column_values_to_be_between", "column": "amount", "min_value": 0, "max_value": 10},
        {"type": "expect_column_max_to_be_between", "column": "amount", "min_value": 0, "max_value": 10},
        {"type": "expect_column_values_to_be_between", "column": "amount", "max_value": 10, "mostly": 0.5},
    ]
    outcome = validate(frame, "mixed", suite)
    assert [(item.expectation, item.success, item.observed) for item in outcome.expectations] == [
        ("expect_column_values_to_be_between(amount)", False, "1 unexpected of 3"),
        ("expect_column_max_to_be_between(amount)", False, "30.0"),
        ("expect_column_values_to_be_between(amount)", True, "1 unexpected of 3"),  # mostly: 2 of 3 suffice
    ]
    assert outcome.expectations[0].failing_rows == [2]


def test_the_built_in_suites_validate_without_importing_great_expectations() -> None:
    """A nightly run pays for GX only when a source declares expectations of its own."""
    script = """
import sys
import polars as pl
from expectations.runner import validate
from expectations.suites import entity_suite, key_results_suite
from kpi.entities import BUILT_IN_ENTITIES
for name, entity in BUILT_IN_ENTITIES.items():
    validate(entity.empty_frame(), name, entity_suite(entity), {"partition_days": []})
validate(pl.DataFrame({"key_result_id": ["k"], "progress": [0.5], "expected_progress": [0.2], "status": ["on_track"]}), "kr", key_results_suite())
print("great_expectations" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_engines_agree_on_the_boundaries() -> None:
    """Bounds are inclusive; a value on a bound is expected, a null or NaN is ignored (but not by
    not-null), a row outside the condition is not counted, an end equal to its start holds."""
    frame = pl.DataFrame(
        {
            "key": ["a", "b", None, "c"],
            "survey": ["nps", "nps", "csat", "csat"],
            "score": [0, 10, 1, 5],
            "amount": [0.0, 10.0, float("nan"), 3.5],
            "started_on": [DAYS[0], DAYS[1], None, DAYS[2]],
            "ended_on": [DAYS[0], DAYS[0], DAYS[1], None],
        }
    )
    native = validate(frame, "boundaries", SUITE, {"days": [DAYS[0], DAYS[1]]})
    assert comparable(native) == comparable(
        validate(frame, "boundaries", SUITE, {"days": [DAYS[0], DAYS[1]]}, engine="gx")
    )
    outcomes = {item.expectation: (item.observed, item.failing_rows) for item in native.expectations}
    assert outcomes['expect_column_values_to_be_between(score, where survey=="nps")'] == (
        "0 unexpected of 2",
        [],
    )
    assert outcomes["expect_column_values_to_not_be_null(amount)"] == ("1 unexpected of 4", [2])
    assert outcomes["expect_column_pair_values_a_to_be_greater_than_b(ended_on, started_on)"] == (
        "1 unexpected of 4",
        [1],
    )


def test_a_sources_own_expectation_of_another_kind_than_its_column_goes_to_gx() -> None:
    """Bounds as text on a date column, text in a set for numbers, a condition on a number column:
    the native engine does not guess; GX decides, as it did before the native engine existed."""
    frame = pl.DataFrame({"day": [DAYS[0], DAYS[3]], "score": [5, 7], "n": [5, 6]})
    suite = [
        {
            "type": "expect_column_values_to_be_between",
            "column": "day",
            "min_value": "2026-01-01",
            "max_value": "2026-01-02",
        },
        {"type": "expect_column_values_to_be_in_set", "column": "score", "value_set": ["5", "7"]},
        {
            "type": "expect_column_values_to_be_between",
            "column": "score",
            "max_value": 6,
            "row_condition": 'n=="5"',
            "condition_parser": "pandas",
        },
    ]
    assert comparable(validate(frame, "own", suite)) == comparable(validate(frame, "own", suite, engine="gx"))
