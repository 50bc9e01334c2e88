"""kpi.periods: calendar periods of the four grains, the periods a run of days has to (re)compute, and
the periods a row is compared with (previous, a year ago) and compares itself with (following).

Every expected date below is read off a calendar by hand (2024 and 2000 are leap years, 2026 and 2100
are not), never computed with the code under test.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from kpi.periods import (
    GRAINS,
    next_period_start,
    period_end,
    period_start,
    periods_containing,
    previous_period_start,
    shifted_period_start,
)

SCHEMA = {
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "is_complete": pl.Boolean(),
}


def expected_periods(rows: list[tuple[str, date, date, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def sorted_periods(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("grain", "period_start")


def oracle_start(day: date, grain: str) -> date:
    """An independent reference for the property tests: the calendar period holding `day`."""
    if grain == "day":
        return day
    first_month = {"month": day.month, "quarter": day.month - (day.month - 1) % 3, "year": 1}[grain]
    return date(day.year, first_month, 1)


def oracle_end(start: date, grain: str) -> date:
    if grain == "day":
        return start
    last_month = start.month + {"month": 0, "quarter": 2, "year": 11}[grain]
    return date(start.year, last_month, calendar.monthrange(start.year, last_month)[1])


# --- period_start -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 17)),
        (date(2026, 5, 17), "month", date(2026, 5, 1)),
        (date(2026, 5, 17), "quarter", date(2026, 4, 1)),
        (date(2026, 5, 17), "year", date(2026, 1, 1)),
        # quarter boundaries: the first and last day of each quarter
        (date(2026, 1, 1), "quarter", date(2026, 1, 1)),
        (date(2026, 3, 31), "quarter", date(2026, 1, 1)),
        (date(2026, 4, 1), "quarter", date(2026, 4, 1)),
        (date(2026, 6, 30), "quarter", date(2026, 4, 1)),
        (date(2026, 7, 1), "quarter", date(2026, 7, 1)),
        (date(2026, 9, 30), "quarter", date(2026, 7, 1)),
        (date(2026, 10, 1), "quarter", date(2026, 10, 1)),
        (date(2025, 12, 31), "quarter", date(2025, 10, 1)),
        # leap day
        (date(2024, 2, 29), "day", date(2024, 2, 29)),
        (date(2024, 2, 29), "month", date(2024, 2, 1)),
        (date(2024, 2, 29), "quarter", date(2024, 1, 1)),
        (date(2024, 2, 29), "year", date(2024, 1, 1)),
        # last day of a year
        (date(2025, 12, 31), "month", date(2025, 12, 1)),
        (date(2025, 12, 31), "year", date(2025, 1, 1)),
    ],
)
def test_period_start(day: date, grain, expected: date) -> None:
    assert period_start(day, grain) == expected


# --- period_end -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 17)),
        (date(2024, 2, 29), "day", date(2024, 2, 29)),
        (date(2026, 1, 1), "month", date(2026, 1, 31)),
        (date(2026, 4, 1), "month", date(2026, 4, 30)),
        (date(2026, 12, 1), "month", date(2026, 12, 31)),
        # February: leap (divisible by 4; by 400), common (not by 4; by 100 but not 400)
        (date(2024, 2, 1), "month", date(2024, 2, 29)),
        (date(2000, 2, 1), "month", date(2000, 2, 29)),
        (date(2026, 2, 1), "month", date(2026, 2, 28)),
        (date(2100, 2, 1), "month", date(2100, 2, 28)),
        (date(2026, 1, 1), "quarter", date(2026, 3, 31)),
        (date(2026, 4, 1), "quarter", date(2026, 6, 30)),
        (date(2026, 7, 1), "quarter", date(2026, 9, 30)),
        (date(2025, 10, 1), "quarter", date(2025, 12, 31)),
        (date(2024, 1, 1), "year", date(2024, 12, 31)),
        (date(2026, 1, 1), "year", date(2026, 12, 31)),
    ],
)
def test_period_end(start: date, grain, expected: date) -> None:
    assert period_end(start, grain) == expected


# --- next_period_start / previous_period_start --------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 18)),
        (date(2024, 2, 28), "day", date(2024, 2, 29)),
        (date(2024, 2, 29), "day", date(2024, 3, 1)),
        (date(2026, 2, 28), "day", date(2026, 3, 1)),
        (date(2025, 12, 31), "day", date(2026, 1, 1)),
        (date(2024, 1, 1), "month", date(2024, 2, 1)),
        (date(2024, 2, 1), "month", date(2024, 3, 1)),
        (date(2025, 12, 1), "month", date(2026, 1, 1)),
        (date(2026, 1, 1), "quarter", date(2026, 4, 1)),
        (date(2025, 10, 1), "quarter", date(2026, 1, 1)),
        (date(2025, 1, 1), "year", date(2026, 1, 1)),
        (date(2024, 1, 1), "year", date(2025, 1, 1)),
    ],
)
def test_next_period_start(start: date, grain, expected: date) -> None:
    assert next_period_start(start, grain) == expected


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 16)),
        (date(2026, 1, 1), "day", date(2025, 12, 31)),
        (date(2024, 3, 1), "day", date(2024, 2, 29)),
        (date(2026, 3, 1), "day", date(2026, 2, 28)),
        (date(2026, 1, 1), "month", date(2025, 12, 1)),
        (date(2024, 3, 1), "month", date(2024, 2, 1)),
        (date(2026, 5, 1), "month", date(2026, 4, 1)),
        # the quarter before 2026 Q1 is 2025 Q4: across the year boundary
        (date(2026, 1, 1), "quarter", date(2025, 10, 1)),
        (date(2026, 4, 1), "quarter", date(2026, 1, 1)),
        (date(2026, 10, 1), "quarter", date(2026, 7, 1)),
        (date(2026, 1, 1), "year", date(2025, 1, 1)),
        (date(2025, 1, 1), "year", date(2024, 1, 1)),
    ],
)
def test_previous_period_start(start: date, grain, expected: date) -> None:
    assert previous_period_start(start, grain) == expected


@settings(max_examples=50, deadline=None)
@given(day=st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)), grain=st.sampled_from(GRAINS))
def test_calendar_periods_tile_the_timeline(day: date, grain) -> None:
    start = period_start(day, grain)
    end = period_end(start, grain)
    assert (start, end) == (oracle_start(day, grain), oracle_end(oracle_start(day, grain), grain))
    assert start <= day <= end
    # the period is whole: its start is on the grain's boundary and it ends the day before the next one
    assert period_start(start, grain) == start
    assert period_start(end, grain) == start
    assert end + timedelta(days=1) == next_period_start(start, grain)
    assert previous_period_start(next_period_start(start, grain), grain) == start
    assert next_period_start(previous_period_start(start, grain), grain) == start
    # the previous period ends the day before this one starts
    assert period_end(previous_period_start(start, grain), grain) == start - timedelta(days=1)
    # lengths: a day, 28-31 days, 90-92 days, 365-366 days
    length = (end - start).days + 1
    low, high = {"day": (1, 1), "month": (28, 31), "quarter": (90, 92), "year": (365, 366)}[grain]
    assert low <= length <= high


# --- periods_containing -----------------------------------------------------------------------------


def test_one_day_gives_one_period_per_grain_cut_at_that_day() -> None:
    periods = periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 17))
    expected = expected_periods(
        [
            ("day", date(2026, 5, 17), date(2026, 5, 17), True),
            ("month", date(2026, 5, 1), date(2026, 5, 17), False),
            ("quarter", date(2026, 4, 1), date(2026, 5, 17), False),
            ("year", date(2026, 1, 1), date(2026, 5, 17), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_one_day_on_a_year_end_completes_every_grain() -> None:
    periods = periods_containing(date(2025, 12, 31), date(2025, 12, 31), date(2025, 12, 31))
    expected = expected_periods(
        [
            ("day", date(2025, 12, 31), date(2025, 12, 31), True),
            ("month", date(2025, 12, 1), date(2025, 12, 31), True),
            ("quarter", date(2025, 10, 1), date(2025, 12, 31), True),
            ("year", date(2025, 1, 1), date(2025, 12, 31), True),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_leap_day_completes_february() -> None:
    periods = periods_containing(date(2024, 2, 29), date(2024, 2, 29), date(2024, 2, 29))
    expected = expected_periods(
        [
            ("day", date(2024, 2, 29), date(2024, 2, 29), True),
            ("month", date(2024, 2, 1), date(2024, 2, 29), True),
            ("quarter", date(2024, 1, 1), date(2024, 2, 29), False),
            ("year", date(2024, 1, 1), date(2024, 2, 29), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_range_crossing_a_month_and_a_year_end() -> None:
    periods = periods_containing(date(2025, 12, 30), date(2026, 1, 2), date(2026, 1, 2))
    expected = expected_periods(
        [
            ("day", date(2025, 12, 30), date(2025, 12, 30), True),
            ("day", date(2025, 12, 31), date(2025, 12, 31), True),
            ("day", date(2026, 1, 1), date(2026, 1, 1), True),
            ("day", date(2026, 1, 2), date(2026, 1, 2), True),
            ("month", date(2025, 12, 1), date(2025, 12, 31), True),
            ("month", date(2026, 1, 1), date(2026, 1, 2), False),
            ("quarter", date(2025, 10, 1), date(2025, 12, 31), True),
            ("quarter", date(2026, 1, 1), date(2026, 1, 2), False),
            ("year", date(2025, 1, 1), date(2025, 12, 31), True),
            ("year", date(2026, 1, 1), date(2026, 1, 2), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_range_over_several_months_of_one_quarter() -> None:
    periods = periods_containing(date(2026, 1, 15), date(2026, 3, 2), date(2026, 3, 31))
    counts = dict(periods.group_by("grain").len().iter_rows())
    # days: Jan 15..31 = 17, February = 28, Mar 1..2 = 2
    assert counts == {"day": 17 + 28 + 2, "month": 3, "quarter": 1, "year": 1}
    assert periods.filter(pl.col("grain") == "day")["period_start"].to_list() == [
        date(2026, 1, 15) + timedelta(days=offset) for offset in range(17 + 28 + 2)
    ]
    not_days = periods.filter(pl.col("grain") != "day")
    expected = expected_periods(
        [
            ("month", date(2026, 1, 1), date(2026, 1, 31), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("month", date(2026, 3, 1), date(2026, 3, 31), True),
            ("quarter", date(2026, 1, 1), date(2026, 3, 31), True),
            ("year", date(2026, 1, 1), date(2026, 3, 31), False),
        ]
    )
    assert_frame_equal(sorted_periods(not_days), expected)


def test_rerunning_an_earlier_day_after_the_month_end_leaves_the_month_complete() -> None:
    # DESIGN.md: re-running 2026-02-10 after 2026-02-28 leaves February complete, not cut at the 10th
    periods = periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 2, 28))
    expected = expected_periods(
        [
            ("day", date(2026, 2, 10), date(2026, 2, 10), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("quarter", date(2026, 1, 1), date(2026, 2, 28), False),
            ("year", date(2026, 1, 1), date(2026, 2, 28), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_a_period_not_ended_by_the_latest_loaded_day_is_to_date() -> None:
    # one day short of the month end: February is computed to the 27th and is not complete
    periods = periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 2, 27))
    month = periods.filter(pl.col("grain") == "month")
    assert_frame_equal(month, expected_periods([("month", date(2026, 2, 1), date(2026, 2, 27), False)]))


def test_latest_loaded_day_after_the_quarter_completes_it() -> None:
    periods = periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 4, 2))
    expected = expected_periods(
        [
            ("day", date(2026, 2, 10), date(2026, 2, 10), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("quarter", date(2026, 1, 1), date(2026, 3, 31), True),
            ("year", date(2026, 1, 1), date(2026, 4, 2), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_last_day_before_first_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="before first day"):
        periods_containing(date(2026, 2, 10), date(2026, 2, 9), date(2026, 2, 28))


def test_latest_loaded_before_last_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="before the last day"):
        periods_containing(date(2026, 2, 10), date(2026, 2, 12), date(2026, 2, 11))


@settings(max_examples=50, deadline=None)
@given(
    first=st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31)),
    span=st.integers(min_value=0, max_value=120),
    lag=st.integers(min_value=0, max_value=120),
)
def test_periods_containing_covers_the_range_once_per_grain(first: date, span: int, lag: int) -> None:
    last = first + timedelta(days=span)
    latest = last + timedelta(days=lag)
    periods = periods_containing(first, last, latest)
    assert periods.schema == pl.Schema(SCHEMA)
    assert periods.filter(pl.col("grain") == "day").height == span + 1
    for grain in GRAINS:
        rows = periods.filter(pl.col("grain") == grain).sort("period_start")
        starts = rows["period_start"].to_list()
        # consecutive calendar periods from the one holding `first` to the one holding `last`
        assert starts[0] == oracle_start(first, grain)
        assert starts[-1] == oracle_start(last, grain)
        assert all(
            oracle_end(a, grain) + timedelta(days=1) == b for a, b in zip(starts, starts[1:], strict=False)
        )
        for start, end, complete in rows.select("period_start", "period_end", "is_complete").iter_rows():
            calendar_end = oracle_end(start, grain)
            assert complete == (calendar_end <= latest)
            assert end == (calendar_end if complete else latest)


def test_more_days_outside_the_range_add_the_periods_holding_them() -> None:
    # a run of 2026-05-17 (latest loaded 2026-05-31) that moved rows away from 2025-12-31, 2026-02-10,
    # 2026-05-25 and its own day 2026-05-17: each adds the periods holding it, once
    periods = periods_containing(
        date(2026, 5, 17),
        date(2026, 5, 17),
        date(2026, 5, 31),
        [date(2026, 2, 10), date(2025, 12, 31), date(2026, 5, 25), date(2026, 5, 17)],
    )
    expected = expected_periods(
        [
            ("day", date(2025, 12, 31), date(2025, 12, 31), True),
            ("day", date(2026, 2, 10), date(2026, 2, 10), True),
            ("day", date(2026, 5, 17), date(2026, 5, 17), True),
            ("day", date(2026, 5, 25), date(2026, 5, 25), True),
            ("month", date(2025, 12, 1), date(2025, 12, 31), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),  # not January, March nor April
            ("month", date(2026, 5, 1), date(2026, 5, 31), True),  # May once
            ("quarter", date(2025, 10, 1), date(2025, 12, 31), True),
            ("quarter", date(2026, 1, 1), date(2026, 3, 31), True),
            ("quarter", date(2026, 4, 1), date(2026, 5, 31), False),  # to date
            ("year", date(2025, 1, 1), date(2025, 12, 31), True),
            ("year", date(2026, 1, 1), date(2026, 5, 31), False),
        ]
    )
    assert_frame_equal(sorted_periods(periods), expected)


def test_no_more_days_gives_the_range_alone() -> None:
    assert_frame_equal(
        periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 31), []),
        periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 31)),
    )


# --- shifted_period_start ---------------------------------------------------------------------------


def shifted(grain: str, start: date, shift: str) -> date | None:
    frame = pl.DataFrame(
        {"grain": [grain], "start": [start]}, schema={"grain": pl.String(), "start": pl.Date()}
    )
    result = frame.select(shifted_period_start(pl.col("grain"), pl.col("start"), shift))
    assert result.columns == ["period_start"]
    assert result.schema["period_start"] == pl.Date()
    return result.item()


@pytest.mark.parametrize(
    ("shift", "grain", "start", "expected"),
    [
        # previous: the calendar-aligned period before
        ("previous", "day", date(2026, 5, 17), date(2026, 5, 16)),
        ("previous", "day", date(2024, 3, 1), date(2024, 2, 29)),  # leap year
        ("previous", "day", date(2026, 3, 1), date(2026, 2, 28)),
        ("previous", "day", date(2026, 5, 1), date(2026, 4, 30)),  # a 30-day month's end
        ("previous", "day", date(2026, 1, 1), date(2025, 12, 31)),
        ("previous", "month", date(2024, 3, 1), date(2024, 2, 1)),
        ("previous", "month", date(2026, 1, 1), date(2025, 12, 1)),
        ("previous", "quarter", date(2026, 1, 1), date(2025, 10, 1)),
        ("previous", "quarter", date(2026, 7, 1), date(2026, 4, 1)),
        ("previous", "year", date(2024, 1, 1), date(2023, 1, 1)),
        # year ago: 364 days (52 weeks, the same weekday) for a day; 12 months for the others
        ("year_ago", "day", date(2026, 5, 17), date(2025, 5, 18)),  # Sunday, Sunday
        ("year_ago", "day", date(2024, 2, 29), date(2023, 3, 2)),  # leap day, Thursday -> Thursday
        ("year_ago", "day", date(2025, 2, 28), date(2024, 3, 1)),  # 365 days back would be the leap day
        ("year_ago", "day", date(2025, 3, 1), date(2024, 3, 2)),
        ("year_ago", "day", date(2026, 1, 1), date(2025, 1, 2)),
        ("year_ago", "day", date(2025, 12, 31), date(2025, 1, 1)),
        ("year_ago", "month", date(2024, 2, 1), date(2023, 2, 1)),
        ("year_ago", "month", date(2025, 2, 1), date(2024, 2, 1)),
        ("year_ago", "month", date(2026, 1, 1), date(2025, 1, 1)),
        ("year_ago", "quarter", date(2026, 4, 1), date(2025, 4, 1)),
        ("year_ago", "quarter", date(2026, 1, 1), date(2025, 1, 1)),
        ("year_ago", "year", date(2024, 1, 1), date(2023, 1, 1)),
        # following_previous: the period whose previous period this is
        ("following_previous", "day", date(2024, 2, 28), date(2024, 2, 29)),
        ("following_previous", "day", date(2024, 2, 29), date(2024, 3, 1)),
        ("following_previous", "day", date(2026, 2, 28), date(2026, 3, 1)),
        ("following_previous", "day", date(2026, 3, 31), date(2026, 4, 1)),
        ("following_previous", "day", date(2025, 12, 31), date(2026, 1, 1)),
        ("following_previous", "month", date(2024, 1, 1), date(2024, 2, 1)),
        ("following_previous", "month", date(2025, 12, 1), date(2026, 1, 1)),
        ("following_previous", "quarter", date(2025, 10, 1), date(2026, 1, 1)),
        ("following_previous", "quarter", date(2026, 4, 1), date(2026, 7, 1)),
        ("following_previous", "year", date(2025, 1, 1), date(2026, 1, 1)),
        # following_year_ago: the period whose year ago this is
        ("following_year_ago", "day", date(2023, 3, 2), date(2024, 2, 29)),
        ("following_year_ago", "day", date(2024, 3, 1), date(2025, 2, 28)),
        ("following_year_ago", "day", date(2024, 2, 29), date(2025, 2, 27)),
        ("following_year_ago", "day", date(2025, 12, 31), date(2026, 12, 30)),
        ("following_year_ago", "day", date(2026, 1, 1), date(2026, 12, 31)),
        ("following_year_ago", "month", date(2024, 2, 1), date(2025, 2, 1)),
        ("following_year_ago", "month", date(2025, 12, 1), date(2026, 12, 1)),
        ("following_year_ago", "quarter", date(2025, 10, 1), date(2026, 10, 1)),
        ("following_year_ago", "year", date(2024, 1, 1), date(2025, 1, 1)),
    ],
)
def test_shifted_period_start(shift: str, grain: str, start: date, expected: date) -> None:
    assert shifted(grain, start, shift) == expected


@pytest.mark.parametrize("shift", ["previous", "year_ago", "following_previous", "following_year_ago"])
def test_a_window_has_no_shifted_period(shift: str) -> None:
    # an objective's window (grain "window") is not a calendar period: null, not a guess
    assert shifted("window", date(2026, 1, 15), shift) is None


def test_shifted_period_start_row_by_row_over_mixed_grains() -> None:
    frame = pl.DataFrame(
        [
            ("day", date(2024, 2, 29)),
            ("month", date(2024, 2, 1)),
            ("quarter", date(2024, 1, 1)),
            ("year", date(2024, 1, 1)),
            ("window", date(2024, 1, 1)),
        ],
        schema={"grain": pl.String(), "start": pl.Date()},
        orient="row",
    )
    previous = frame.select(shifted_period_start(pl.col("grain"), pl.col("start"), "previous"))
    year_ago = frame.select(shifted_period_start(pl.col("grain"), pl.col("start"), "year_ago"))
    assert previous["period_start"].to_list() == [
        date(2024, 2, 28),
        date(2024, 1, 1),
        date(2023, 10, 1),
        date(2023, 1, 1),
        None,
    ]
    assert year_ago["period_start"].to_list() == [
        date(2023, 3, 2),
        date(2023, 2, 1),
        date(2023, 1, 1),
        date(2023, 1, 1),
        None,
    ]


@settings(max_examples=50, deadline=None)
@given(day=st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)), grain=st.sampled_from(GRAINS))
def test_shifts_are_calendar_periods_and_following_undoes_them(day: date, grain) -> None:
    start = oracle_start(day, grain)
    previous = shifted(grain, start, "previous")
    year_ago = shifted(grain, start, "year_ago")
    # the previous period ends the day before this one starts
    assert oracle_end(previous, grain) == start - timedelta(days=1)
    assert previous == previous_period_start(start, grain)
    if grain == "day":
        assert start - year_ago == timedelta(days=364)
        assert year_ago.weekday() == start.weekday()
    else:
        assert (year_ago.year, year_ago.month, year_ago.day) == (start.year - 1, start.month, 1)
    assert shifted(grain, previous, "following_previous") == start
    assert shifted(grain, year_ago, "following_year_ago") == start
