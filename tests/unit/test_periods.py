"""kpi.periods: the Calendar's periods of the five grains (ISO weeks; fiscal quarters and years), the
periods a run of days has to (re)compute, and the periods a row is compared with (previous, a year
ago) and compares itself with (following). The rules are DESIGN.md's "Calendar, grains and
completeness".

Every expected date below is read off a calendar by hand (2024, 2028 and 2000 are leap years, 2026 and
2100 are not; 2026-01-01 is a Thursday, 2027-01-01 a Friday), never computed with the code under test.
"""

from __future__ import annotations

import calendar
from dataclasses import FrozenInstanceError
from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from kpi.periods import GRAINS, PERIOD_SCHEMA, Calendar

CALENDAR = Calendar()
FISCAL_APRIL = Calendar(fiscal_year_start_month=4)

SCHEMA = {
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "is_complete": pl.Boolean(),
}


def expected_periods(rows: list[tuple[str, date, date, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def oracle_start(day: date, grain: str, fiscal_year_start_month: int = 1) -> date:
    """An independent reference for the property tests: the period holding `day`. Weeks from Python's
    ISO calendar; fiscal quarters and years by walking back month by month to a starting month."""
    if grain == "day":
        return day
    if grain == "week":
        iso_year, iso_week, _ = day.isocalendar()
        return date.fromisocalendar(iso_year, iso_week, 1)
    if grain == "month":
        return date(day.year, day.month, 1)
    if grain == "quarter":
        starting_months = {(fiscal_year_start_month - 1 + 3 * k) % 12 + 1 for k in range(4)}
    else:
        starting_months = {fiscal_year_start_month}
    start = date(day.year, day.month, 1)
    while start.month not in starting_months:
        start = (start - timedelta(days=1)).replace(day=1)
    return start


def oracle_end(start: date, grain: str) -> date:
    if grain == "day":
        return start
    if grain == "week":
        return start + timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    last_month = start.year * 12 + start.month - 1 + months - 1
    year, month = last_month // 12, last_month % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


# --- the Calendar itself ----------------------------------------------------------------------------


def test_the_default_calendar_is_the_calendar_year_with_all_five_grains() -> None:
    assert (CALENDAR.fiscal_year_start_month, CALENDAR.grains) == (1, GRAINS)
    assert GRAINS == ("day", "week", "month", "quarter", "year")


def test_grains_are_kept_in_grain_order_whatever_order_they_are_given_in() -> None:
    assert Calendar(grains=("year", "day", "month")).grains == ("day", "month", "year")
    # a config's YAML list is accepted, and stored as a tuple (the Calendar stays hashable)
    assert Calendar(grains=["week", "day"]).grains == ("day", "week")  # type: ignore[arg-type]
    assert hash(Calendar(grains=("month",))) == hash(Calendar(grains=("month",)))


def test_a_calendar_is_frozen() -> None:
    with pytest.raises(FrozenInstanceError):
        CALENDAR.fiscal_year_start_month = 4  # type: ignore[misc]


@pytest.mark.parametrize("month", [0, 13, -1, 4.0, True, "4"])
def test_fiscal_year_start_month_must_be_a_month_number(month: object) -> None:
    with pytest.raises(
        ValueError, match=f"fiscal_year_start_month must be a month number 1..12, not {month!r}"
    ):
        Calendar(fiscal_year_start_month=month)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("grains", "message"),
    [
        (("day", "weekly"), "unknown grain 'weekly'"),
        (("days",), "unknown grain 'days'"),
        (("day", "month", "day"), "grains repeat day"),
        ((), "grains is empty"),
        ("day", "not the string 'day'"),
    ],
)
def test_grains_must_be_known_and_not_repeated(grains: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Calendar(grains=grains)  # type: ignore[arg-type]


def test_methods_refuse_an_unknown_grain() -> None:
    with pytest.raises(ValueError, match="unknown grain 'fortnight'"):
        CALENDAR.period_start(date(2026, 5, 17), "fortnight")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown grain 'fortnight'"):
        CALENDAR.period_end(date(2026, 5, 17), "fortnight")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown grain 'window'"):
        CALENDAR.truncate(pl.col("day"), "window")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown shift 'next'"):
        CALENDAR.shifted_period_start(pl.col("grain"), pl.col("start"), "next")


# --- period_start -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 17)),
        (date(2026, 5, 17), "week", date(2026, 5, 11)),  # a Sunday: its week began on Monday the 11th
        (date(2026, 5, 17), "month", date(2026, 5, 1)),
        (date(2026, 5, 17), "quarter", date(2026, 4, 1)),
        (date(2026, 5, 17), "year", date(2026, 1, 1)),
        # ISO weeks: Monday 2026-12-28 .. Sunday 2027-01-03 crosses the year end; Monday 2027-01-04 next
        (date(2026, 12, 28), "week", date(2026, 12, 28)),
        (date(2027, 1, 1), "week", date(2026, 12, 28)),
        (date(2027, 1, 3), "week", date(2026, 12, 28)),
        (date(2027, 1, 4), "week", date(2027, 1, 4)),
        # quarter boundaries: the first and last day of each quarter
        (date(2026, 1, 1), "quarter", date(2026, 1, 1)),
        (date(2026, 3, 31), "quarter", date(2026, 1, 1)),
        (date(2026, 4, 1), "quarter", date(2026, 4, 1)),
        (date(2026, 6, 30), "quarter", date(2026, 4, 1)),
        (date(2026, 7, 1), "quarter", date(2026, 7, 1)),
        (date(2026, 9, 30), "quarter", date(2026, 7, 1)),
        (date(2026, 10, 1), "quarter", date(2026, 10, 1)),
        (date(2025, 12, 31), "quarter", date(2025, 10, 1)),
        # leap day, a Thursday
        (date(2024, 2, 29), "day", date(2024, 2, 29)),
        (date(2024, 2, 29), "week", date(2024, 2, 26)),
        (date(2024, 2, 29), "month", date(2024, 2, 1)),
        (date(2024, 2, 29), "quarter", date(2024, 1, 1)),
        (date(2024, 2, 29), "year", date(2024, 1, 1)),
        # last day of a year
        (date(2025, 12, 31), "month", date(2025, 12, 1)),
        (date(2025, 12, 31), "year", date(2025, 1, 1)),
    ],
)
def test_period_start(day: date, grain, expected: date) -> None:
    assert CALENDAR.period_start(day, grain) == expected


# --- period_end -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 17)),
        (date(2024, 2, 29), "day", date(2024, 2, 29)),
        (date(2026, 12, 28), "week", date(2027, 1, 3)),  # Sunday, across the year end
        (date(2024, 2, 26), "week", date(2024, 3, 3)),  # over the leap day: 27, 28, 29, 1, 2, 3
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
    assert CALENDAR.period_end(start, grain) == expected


# --- next_period_start / previous_period_start --------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 18)),
        (date(2024, 2, 28), "day", date(2024, 2, 29)),
        (date(2024, 2, 29), "day", date(2024, 3, 1)),
        (date(2026, 2, 28), "day", date(2026, 3, 1)),
        (date(2025, 12, 31), "day", date(2026, 1, 1)),
        (date(2026, 12, 28), "week", date(2027, 1, 4)),
        (date(2024, 2, 26), "week", date(2024, 3, 4)),
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
    assert CALENDAR.next_period_start(start, grain) == expected


@pytest.mark.parametrize(
    ("start", "grain", "expected"),
    [
        (date(2026, 5, 17), "day", date(2026, 5, 16)),
        (date(2026, 1, 1), "day", date(2025, 12, 31)),
        (date(2024, 3, 1), "day", date(2024, 2, 29)),
        (date(2026, 3, 1), "day", date(2026, 2, 28)),
        # the week before Monday 2027-01-04 began on Monday 2026-12-28, and the one before on the 21st
        (date(2027, 1, 4), "week", date(2026, 12, 28)),
        (date(2026, 12, 28), "week", date(2026, 12, 21)),
        (date(2024, 3, 4), "week", date(2024, 2, 26)),
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
    assert CALENDAR.previous_period_start(start, grain) == expected


def test_a_day_inside_a_period_stands_for_the_period_holding_it() -> None:
    # Sunday 2026-05-17 is in the week of Monday 2026-05-11, May, and Q2 (April .. June)
    assert CALENDAR.next_period_start(date(2026, 5, 17), "week") == date(2026, 5, 18)
    assert CALENDAR.previous_period_start(date(2026, 5, 17), "week") == date(2026, 5, 4)
    assert CALENDAR.period_end(date(2026, 5, 17), "month") == date(2026, 5, 31)
    assert CALENDAR.next_period_start(date(2026, 5, 17), "quarter") == date(2026, 7, 1)
    assert CALENDAR.previous_period_start(date(2026, 5, 17), "quarter") == date(2026, 1, 1)


# --- fiscal quarters and years ----------------------------------------------------------------------


def test_fiscal_quarter_across_the_calendar_year_end() -> None:
    # fiscal year from April: FY2026 is 2026-04-01 .. 2027-03-31, its quarters start in Apr, Jul, Oct
    # and Jan; 2027-02-10 is in FY2026 Q4, 2027-01-01 .. 2027-03-31
    assert FISCAL_APRIL.period_start(date(2027, 2, 10), "quarter") == date(2027, 1, 1)
    assert FISCAL_APRIL.period_end(date(2027, 1, 1), "quarter") == date(2027, 3, 31)
    assert FISCAL_APRIL.period_start(date(2027, 2, 10), "year") == date(2026, 4, 1)
    assert FISCAL_APRIL.period_end(date(2026, 4, 1), "year") == date(2027, 3, 31)
    # the previous quarter is FY2026 Q3; the quarter a year ago FY2025 Q4, 12 months earlier
    assert FISCAL_APRIL.previous_period_start(date(2027, 1, 1), "quarter") == date(2026, 10, 1)
    assert shifted("quarter", date(2027, 1, 1), "previous", FISCAL_APRIL) == date(2026, 10, 1)
    assert shifted("quarter", date(2027, 1, 1), "year_ago", FISCAL_APRIL) == date(2026, 1, 1)
    assert shifted("year", date(2026, 4, 1), "previous", FISCAL_APRIL) == date(2025, 4, 1)
    assert shifted("year", date(2026, 4, 1), "following_previous", FISCAL_APRIL) == date(2027, 4, 1)
    # months and weeks are never fiscal
    assert FISCAL_APRIL.period_start(date(2027, 2, 10), "month") == date(2027, 2, 1)
    assert FISCAL_APRIL.period_start(date(2027, 1, 1), "week") == date(2026, 12, 28)


def test_fiscal_year_from_october() -> None:
    fiscal_october = Calendar(fiscal_year_start_month=10)
    # 2026-11-15 is in FY2026 (2026-10-01 .. 2027-09-30) and its first quarter (2026-10-01 .. 12-31)
    assert fiscal_october.period_start(date(2026, 11, 15), "year") == date(2026, 10, 1)
    assert fiscal_october.period_end(date(2026, 10, 1), "year") == date(2027, 9, 30)
    assert fiscal_october.period_start(date(2026, 11, 15), "quarter") == date(2026, 10, 1)
    assert fiscal_october.period_end(date(2026, 10, 1), "quarter") == date(2026, 12, 31)


@pytest.mark.parametrize(
    ("fiscal_year_start_month", "day", "grain", "expected_start", "expected_end"),
    [
        # from April: the first and last day of FY2026 and of its quarters
        (4, date(2026, 4, 1), "year", date(2026, 4, 1), date(2027, 3, 31)),
        (4, date(2027, 3, 31), "year", date(2026, 4, 1), date(2027, 3, 31)),
        (4, date(2026, 3, 31), "year", date(2025, 4, 1), date(2026, 3, 31)),
        (4, date(2026, 6, 30), "quarter", date(2026, 4, 1), date(2026, 6, 30)),
        (4, date(2026, 12, 31), "quarter", date(2026, 10, 1), date(2026, 12, 31)),
        (4, date(2028, 2, 29), "year", date(2027, 4, 1), date(2028, 3, 31)),  # a leap day in FY2027
        # from July: quarters are the calendar ones, the year is not
        (7, date(2026, 6, 30), "year", date(2025, 7, 1), date(2026, 6, 30)),
        (7, date(2026, 7, 1), "year", date(2026, 7, 1), date(2027, 6, 30)),
        (7, date(2026, 2, 14), "quarter", date(2026, 1, 1), date(2026, 3, 31)),
        # from October: 2026-09-30 is the last day of FY2025
        (10, date(2026, 9, 30), "year", date(2025, 10, 1), date(2026, 9, 30)),
        (10, date(2026, 9, 30), "quarter", date(2026, 7, 1), date(2026, 9, 30)),
        # from December: quarters start in Dec, Mar, Jun, Sep; FY2025 is 2025-12-01 .. 2026-11-30
        (12, date(2026, 1, 15), "quarter", date(2025, 12, 1), date(2026, 2, 28)),
        (12, date(2026, 2, 28), "quarter", date(2025, 12, 1), date(2026, 2, 28)),
        (12, date(2026, 3, 1), "quarter", date(2026, 3, 1), date(2026, 5, 31)),
        (12, date(2026, 1, 15), "year", date(2025, 12, 1), date(2026, 11, 30)),
        (12, date(2026, 12, 1), "year", date(2026, 12, 1), date(2027, 11, 30)),
        # from February: quarters start in Feb, May, Aug, Nov
        (2, date(2026, 1, 31), "quarter", date(2025, 11, 1), date(2026, 1, 31)),
        (2, date(2026, 1, 31), "year", date(2025, 2, 1), date(2026, 1, 31)),
        # from March: a quarter and a year ending on the leap day 2028-02-29
        (3, date(2028, 1, 10), "quarter", date(2027, 12, 1), date(2028, 2, 29)),
        (3, date(2028, 2, 29), "year", date(2027, 3, 1), date(2028, 2, 29)),
    ],
)
def test_fiscal_periods(fiscal_year_start_month: int, day: date, grain, expected_start, expected_end) -> None:
    fiscal = Calendar(fiscal_year_start_month=fiscal_year_start_month)
    assert fiscal.period_start(day, grain) == expected_start
    assert fiscal.period_end(expected_start, grain) == expected_end


@settings(max_examples=100, deadline=None)
@given(
    day=st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)),
    grain=st.sampled_from(GRAINS),
    fiscal_year_start_month=st.integers(min_value=1, max_value=12),
)
def test_calendar_periods_tile_the_timeline(day: date, grain, fiscal_year_start_month: int) -> None:
    periods = Calendar(fiscal_year_start_month=fiscal_year_start_month)
    start = periods.period_start(day, grain)
    end = periods.period_end(start, grain)
    assert start == oracle_start(day, grain, fiscal_year_start_month)
    assert end == oracle_end(start, grain)
    assert start <= day <= end
    # the period is whole: its start is on the grain's boundary and it ends the day before the next one
    assert periods.period_start(start, grain) == start
    assert periods.period_start(end, grain) == start
    assert end + timedelta(days=1) == periods.next_period_start(start, grain)
    assert periods.previous_period_start(periods.next_period_start(start, grain), grain) == start
    assert periods.next_period_start(periods.previous_period_start(start, grain), grain) == start
    # the previous period ends the day before this one starts
    assert periods.period_end(periods.previous_period_start(start, grain), grain) == start - timedelta(days=1)
    # lengths: a day, a week, 28-31 days, 89-92 days (a quarter with February), 365-366 days
    length = (end - start).days + 1
    low, high = {"day": (1, 1), "week": (7, 7), "month": (28, 31), "quarter": (89, 92), "year": (365, 366)}[
        grain
    ]
    assert low <= length <= high
    if grain == "week":
        assert start.isoweekday() == 1 and end.isoweekday() == 7  # Monday to Sunday


# --- truncate: the vectorised period_start -----------------------------------------------------------


@pytest.mark.parametrize("fiscal_year_start_month", range(1, 13))
def test_truncate_agrees_with_period_start_on_every_day_of_five_years(fiscal_year_start_month: int) -> None:
    periods = Calendar(fiscal_year_start_month=fiscal_year_start_month)
    days = pl.date_range(date(2024, 1, 1), date(2028, 12, 31), "1d", eager=True).alias("day")
    assert days.len() == 366 + 365 + 365 + 365 + 366
    for grain in GRAINS:
        truncated = pl.select(periods.truncate(pl.lit(days), grain)).to_series()
        assert truncated.dtype == pl.Date()
        assert truncated.to_list() == [periods.period_start(day, grain) for day in days.to_list()], grain


@pytest.mark.parametrize(
    ("fiscal_year_start_month", "grain", "day", "expected"),
    [
        (1, "week", date(2027, 1, 1), date(2026, 12, 28)),  # "1w" buckets start on Mondays
        (1, "week", date(2027, 1, 3), date(2026, 12, 28)),
        (1, "week", date(2027, 1, 4), date(2027, 1, 4)),
        (4, "quarter", date(2027, 2, 10), date(2027, 1, 1)),
        (4, "year", date(2027, 2, 10), date(2026, 4, 1)),
        # Month ends, where the move back to the calendar year clamps the day to a shorter month:
        # from April, 05-31 less 3 months is 02-28 (02-29 in 2024), still in the right quarter and year
        (4, "quarter", date(2026, 5, 31), date(2026, 4, 1)),
        (4, "quarter", date(2024, 5, 31), date(2024, 4, 1)),
        (4, "year", date(2026, 5, 31), date(2026, 4, 1)),
        (4, "quarter", date(2026, 8, 31), date(2026, 7, 1)),
        # from March, 04-30 less 2 months is 02-28: the quarter of March .. May
        (3, "quarter", date(2026, 4, 30), date(2026, 3, 1)),
        # from December, 12-31 less 11 months is 01-31: the quarter of Dec .. Feb, FY2026
        (12, "quarter", date(2026, 12, 31), date(2026, 12, 1)),
        (12, "year", date(2026, 12, 31), date(2026, 12, 1)),
        (12, "year", date(2026, 11, 30), date(2025, 12, 1)),
    ],
)
def test_truncate(fiscal_year_start_month: int, grain, day: date, expected: date) -> None:
    frame = pl.DataFrame({"day": [day, None]}, schema={"day": pl.Date()})
    truncated = frame.select(
        Calendar(fiscal_year_start_month=fiscal_year_start_month).truncate(pl.col("day"), grain)
    )
    assert truncated["day"].to_list() == [expected, None]


# --- periods_containing -----------------------------------------------------------------------------


def test_one_day_gives_one_period_per_grain_cut_at_that_day() -> None:
    # Sunday 2026-05-17 ends its week (Monday 2026-05-11 .. that Sunday)
    periods = CALENDAR.periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 17))
    expected = expected_periods(
        [
            ("day", date(2026, 5, 17), date(2026, 5, 17), True),
            ("week", date(2026, 5, 11), date(2026, 5, 17), True),
            ("month", date(2026, 5, 1), date(2026, 5, 17), False),
            ("quarter", date(2026, 4, 1), date(2026, 5, 17), False),
            ("year", date(2026, 1, 1), date(2026, 5, 17), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_one_day_on_a_year_end_completes_every_grain_but_its_week() -> None:
    # Wednesday 2025-12-31: its week runs Monday 2025-12-29 .. Sunday 2026-01-04
    periods = CALENDAR.periods_containing(date(2025, 12, 31), date(2025, 12, 31), date(2025, 12, 31))
    expected = expected_periods(
        [
            ("day", date(2025, 12, 31), date(2025, 12, 31), True),
            ("week", date(2025, 12, 29), date(2025, 12, 31), False),
            ("month", date(2025, 12, 1), date(2025, 12, 31), True),
            ("quarter", date(2025, 10, 1), date(2025, 12, 31), True),
            ("year", date(2025, 1, 1), date(2025, 12, 31), True),
        ]
    )
    assert_frame_equal(periods, expected)


def test_leap_day_completes_february() -> None:
    periods = CALENDAR.periods_containing(date(2024, 2, 29), date(2024, 2, 29), date(2024, 2, 29))
    expected = expected_periods(
        [
            ("day", date(2024, 2, 29), date(2024, 2, 29), True),
            ("week", date(2024, 2, 26), date(2024, 2, 29), False),  # a Thursday
            ("month", date(2024, 2, 1), date(2024, 2, 29), True),
            ("quarter", date(2024, 1, 1), date(2024, 2, 29), False),
            ("year", date(2024, 1, 1), date(2024, 2, 29), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_range_crossing_a_month_and_a_year_end() -> None:
    # Tuesday 2025-12-30 .. Friday 2026-01-02: one week, Monday 2025-12-29 .. Sunday 2026-01-04
    periods = CALENDAR.periods_containing(date(2025, 12, 30), date(2026, 1, 2), date(2026, 1, 2))
    expected = expected_periods(
        [
            ("day", date(2025, 12, 30), date(2025, 12, 30), True),
            ("day", date(2025, 12, 31), date(2025, 12, 31), True),
            ("day", date(2026, 1, 1), date(2026, 1, 1), True),
            ("day", date(2026, 1, 2), date(2026, 1, 2), True),
            ("week", date(2025, 12, 29), date(2026, 1, 2), False),
            ("month", date(2025, 12, 1), date(2025, 12, 31), True),
            ("month", date(2026, 1, 1), date(2026, 1, 2), False),
            ("quarter", date(2025, 10, 1), date(2025, 12, 31), True),
            ("quarter", date(2026, 1, 1), date(2026, 1, 2), False),
            ("year", date(2025, 1, 1), date(2025, 12, 31), True),
            ("year", date(2026, 1, 1), date(2026, 1, 2), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_range_over_several_months_of_one_quarter() -> None:
    # Thursday 2026-01-15 .. Monday 2026-03-02, latest loaded Tuesday 2026-03-31
    periods = CALENDAR.periods_containing(date(2026, 1, 15), date(2026, 3, 2), date(2026, 3, 31))
    counts = dict(periods.group_by("grain").len().iter_rows())
    # days: Jan 15..31 = 17, February = 28, Mar 1..2 = 2; weeks: the Mondays Jan 12, 19, 26, Feb 2, 9,
    # 16, 23, Mar 2
    assert counts == {"day": 17 + 28 + 2, "week": 8, "month": 3, "quarter": 1, "year": 1}
    assert periods.filter(pl.col("grain") == "day")["period_start"].to_list() == [
        date(2026, 1, 15) + timedelta(days=offset) for offset in range(17 + 28 + 2)
    ]
    assert periods.filter(pl.col("grain") == "week")["period_start"].to_list() == [
        date(2026, 1, 12),
        date(2026, 1, 19),
        date(2026, 1, 26),
        date(2026, 2, 2),
        date(2026, 2, 9),
        date(2026, 2, 16),
        date(2026, 2, 23),
        date(2026, 3, 2),
    ]
    not_days = periods.filter(~pl.col("grain").is_in(["day", "week"]))
    expected = expected_periods(
        [
            ("month", date(2026, 1, 1), date(2026, 1, 31), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("month", date(2026, 3, 1), date(2026, 3, 31), True),
            ("quarter", date(2026, 1, 1), date(2026, 3, 31), True),
            ("year", date(2026, 1, 1), date(2026, 3, 31), False),
        ]
    )
    assert_frame_equal(not_days, expected)


def test_rerunning_an_earlier_day_after_the_month_end_leaves_the_month_complete() -> None:
    # DESIGN.md: re-running 2026-02-10 after 2026-02-28 leaves February complete, not cut at the 10th
    periods = CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 2, 28))
    expected = expected_periods(
        [
            ("day", date(2026, 2, 10), date(2026, 2, 10), True),
            ("week", date(2026, 2, 9), date(2026, 2, 15), True),  # Tuesday the 10th: Monday 9 .. Sunday 15
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("quarter", date(2026, 1, 1), date(2026, 2, 28), False),
            ("year", date(2026, 1, 1), date(2026, 2, 28), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_a_period_not_ended_by_the_latest_loaded_day_is_to_date() -> None:
    # one day short of the month end: February is computed to the 27th and is not complete
    periods = CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 2, 27))
    month = periods.filter(pl.col("grain") == "month")
    assert_frame_equal(month, expected_periods([("month", date(2026, 2, 1), date(2026, 2, 27), False)]))


def test_a_week_not_ended_by_the_latest_loaded_day_is_to_date() -> None:
    # Saturday 2026-02-14 is the day before the week of Monday the 9th ends
    periods = CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 2, 14))
    week = periods.filter(pl.col("grain") == "week")
    assert_frame_equal(week, expected_periods([("week", date(2026, 2, 9), date(2026, 2, 14), False)]))


def test_latest_loaded_day_after_the_quarter_completes_it() -> None:
    periods = CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 10), date(2026, 4, 2))
    expected = expected_periods(
        [
            ("day", date(2026, 2, 10), date(2026, 2, 10), True),
            ("week", date(2026, 2, 9), date(2026, 2, 15), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("quarter", date(2026, 1, 1), date(2026, 3, 31), True),
            ("year", date(2026, 1, 1), date(2026, 4, 2), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_last_day_before_first_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="before first day"):
        CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 9), date(2026, 2, 28))


def test_latest_loaded_before_last_day_is_an_error() -> None:
    with pytest.raises(ValueError, match="before the last day"):
        CALENDAR.periods_containing(date(2026, 2, 10), date(2026, 2, 12), date(2026, 2, 11))


def test_limited_grains_yield_only_those_grains() -> None:
    periods = Calendar(grains=("month", "day")).periods_containing(
        date(2026, 2, 27), date(2026, 3, 1), date(2026, 3, 1)
    )
    expected = expected_periods(
        [
            ("day", date(2026, 2, 27), date(2026, 2, 27), True),
            ("day", date(2026, 2, 28), date(2026, 2, 28), True),
            ("day", date(2026, 3, 1), date(2026, 3, 1), True),
            ("month", date(2026, 2, 1), date(2026, 2, 28), True),
            ("month", date(2026, 3, 1), date(2026, 3, 1), False),
        ]
    )
    assert_frame_equal(periods, expected)
    weeks = Calendar(grains=("week",)).periods_containing(
        date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 17)
    )
    assert_frame_equal(weeks, expected_periods([("week", date(2026, 5, 11), date(2026, 5, 17), True)]))


def test_fiscal_periods_are_cut_at_the_latest_loaded_day() -> None:
    # from April: 2027-02-10 is in FY2026 Q4 (2027-01-01 .. 03-31) and FY2026 (2026-04-01 .. 2027-03-31)
    periods = FISCAL_APRIL.periods_containing(date(2027, 2, 10), date(2027, 2, 10), date(2027, 2, 10))
    expected = expected_periods(
        [
            ("day", date(2027, 2, 10), date(2027, 2, 10), True),
            ("week", date(2027, 2, 8), date(2027, 2, 10), False),  # Wednesday the 10th
            ("month", date(2027, 2, 1), date(2027, 2, 10), False),
            ("quarter", date(2027, 1, 1), date(2027, 2, 10), False),
            ("year", date(2026, 4, 1), date(2027, 2, 10), False),
        ]
    )
    assert_frame_equal(periods, expected)


def test_a_range_over_the_fiscal_year_end_completes_the_old_year() -> None:
    # from April, 2027-03-30 .. 2027-04-02: FY2026 ends on 2027-03-31, FY2027 runs to date
    periods = Calendar(fiscal_year_start_month=4, grains=("quarter", "year")).periods_containing(
        date(2027, 3, 30), date(2027, 4, 2), date(2027, 4, 2)
    )
    expected = expected_periods(
        [
            ("quarter", date(2027, 1, 1), date(2027, 3, 31), True),
            ("quarter", date(2027, 4, 1), date(2027, 4, 2), False),
            ("year", date(2026, 4, 1), date(2027, 3, 31), True),
            ("year", date(2027, 4, 1), date(2027, 4, 2), False),
        ]
    )
    assert_frame_equal(periods, expected)


@settings(max_examples=50, deadline=None)
@given(
    first=st.dates(min_value=date(2023, 1, 1), max_value=date(2027, 12, 31)),
    span=st.integers(min_value=0, max_value=120),
    lag=st.integers(min_value=0, max_value=120),
    fiscal_year_start_month=st.integers(min_value=1, max_value=12),
)
def test_periods_containing_covers_the_range_once_per_grain(
    first: date, span: int, lag: int, fiscal_year_start_month: int
) -> None:
    last = first + timedelta(days=span)
    latest = last + timedelta(days=lag)
    periods = Calendar(fiscal_year_start_month=fiscal_year_start_month).periods_containing(
        first, last, latest
    )
    assert periods.schema == pl.Schema(SCHEMA) == pl.Schema(PERIOD_SCHEMA)
    assert periods["grain"].unique(maintain_order=True).to_list() == list(GRAINS)
    assert periods.filter(pl.col("grain") == "day").height == span + 1
    for grain in GRAINS:
        rows = periods.filter(pl.col("grain") == grain)
        starts = rows["period_start"].to_list()
        # consecutive periods, in order, from the one holding `first` to the one holding `last`
        assert starts[0] == oracle_start(first, grain, fiscal_year_start_month)
        assert starts[-1] == oracle_start(last, grain, fiscal_year_start_month)
        assert all(
            oracle_end(a, grain) + timedelta(days=1) == b for a, b in zip(starts, starts[1:], strict=False)
        )
        for start, end, complete in rows.select("period_start", "period_end", "is_complete").iter_rows():
            calendar_end = oracle_end(start, grain)
            assert complete == (calendar_end <= latest)
            assert end == (calendar_end if complete else latest)


def test_more_days_outside_the_range_add_the_periods_holding_them() -> None:
    # a run of Sunday 2026-05-17 (latest loaded Sunday 2026-05-31) that moved rows away from Wednesday
    # 2025-12-31, Tuesday 2026-02-10, Monday 2026-05-25 and its own day 2026-05-17: each adds the
    # periods holding it, once
    periods = CALENDAR.periods_containing(
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
            ("week", date(2025, 12, 29), date(2026, 1, 4), True),
            ("week", date(2026, 2, 9), date(2026, 2, 15), True),
            ("week", date(2026, 5, 11), date(2026, 5, 17), True),  # not the week of the 18th
            ("week", date(2026, 5, 25), date(2026, 5, 31), True),
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
    assert_frame_equal(periods, expected)


def test_no_more_days_gives_the_range_alone() -> None:
    assert_frame_equal(
        CALENDAR.periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 31), []),
        CALENDAR.periods_containing(date(2026, 5, 17), date(2026, 5, 17), date(2026, 5, 31)),
    )


# --- shifted_period_start ---------------------------------------------------------------------------


def shifted(grain: str, start: date, shift: str, periods: Calendar = CALENDAR) -> date | None:
    frame = pl.DataFrame(
        {"grain": [grain], "start": [start]}, schema={"grain": pl.String(), "start": pl.Date()}
    )
    result = frame.select(periods.shifted_period_start(pl.col("grain"), pl.col("start"), shift))
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
        ("previous", "week", date(2026, 12, 28), date(2026, 12, 21)),  # 7 days earlier
        ("previous", "week", date(2027, 1, 4), date(2026, 12, 28)),
        ("previous", "week", date(2024, 3, 4), date(2024, 2, 26)),  # over the leap day
        ("previous", "month", date(2024, 3, 1), date(2024, 2, 1)),
        ("previous", "month", date(2026, 1, 1), date(2025, 12, 1)),
        ("previous", "quarter", date(2026, 1, 1), date(2025, 10, 1)),
        ("previous", "quarter", date(2026, 7, 1), date(2026, 4, 1)),
        ("previous", "year", date(2024, 1, 1), date(2023, 1, 1)),
        # year ago: 364 days (52 weeks, the same weekday) for a day or week; 12 months for the others
        ("year_ago", "day", date(2026, 5, 17), date(2025, 5, 18)),  # Sunday, Sunday
        ("year_ago", "day", date(2024, 2, 29), date(2023, 3, 2)),  # leap day, Thursday -> Thursday
        ("year_ago", "day", date(2025, 2, 28), date(2024, 3, 1)),  # 365 days back would be the leap day
        ("year_ago", "day", date(2025, 3, 1), date(2024, 3, 2)),
        ("year_ago", "day", date(2026, 1, 1), date(2025, 1, 2)),
        ("year_ago", "day", date(2025, 12, 31), date(2025, 1, 1)),
        # Monday 2026-12-28 less 364 days: 2025-12-29 + 365 days is 2026-12-29 (no leap day between),
        # so + 364 days is 2026-12-28; 2025-12-29 is a Monday
        ("year_ago", "week", date(2026, 12, 28), date(2025, 12, 29)),
        # Monday 2024-02-26 less 364 days: Monday 2023-02-27 (+ 365 days is 2024-02-27, before the leap day)
        ("year_ago", "week", date(2024, 2, 26), date(2023, 2, 27)),
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
        ("following_previous", "week", date(2026, 12, 21), date(2026, 12, 28)),
        ("following_previous", "week", date(2026, 12, 28), date(2027, 1, 4)),
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
        ("following_year_ago", "week", date(2025, 12, 29), date(2026, 12, 28)),
        ("following_year_ago", "week", date(2023, 2, 27), date(2024, 2, 26)),
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
            ("week", date(2024, 2, 26)),
            ("month", date(2024, 2, 1)),
            ("quarter", date(2024, 1, 1)),
            ("year", date(2024, 1, 1)),
            ("window", date(2024, 1, 1)),
        ],
        schema={"grain": pl.String(), "start": pl.Date()},
        orient="row",
    )
    previous = frame.select(CALENDAR.shifted_period_start(pl.col("grain"), pl.col("start"), "previous"))
    year_ago = frame.select(CALENDAR.shifted_period_start(pl.col("grain"), pl.col("start"), "year_ago"))
    assert previous["period_start"].to_list() == [
        date(2024, 2, 28),
        date(2024, 2, 19),
        date(2024, 1, 1),
        date(2023, 10, 1),
        date(2023, 1, 1),
        None,
    ]
    assert year_ago["period_start"].to_list() == [
        date(2023, 3, 2),
        date(2023, 2, 27),
        date(2023, 2, 1),
        date(2023, 1, 1),
        date(2023, 1, 1),
        None,
    ]


@settings(max_examples=100, deadline=None)
@given(
    day=st.dates(min_value=date(1901, 1, 1), max_value=date(2199, 12, 31)),
    grain=st.sampled_from(GRAINS),
    fiscal_year_start_month=st.integers(min_value=1, max_value=12),
)
def test_shifts_are_calendar_periods_and_following_undoes_them(
    day: date, grain, fiscal_year_start_month: int
) -> None:
    periods = Calendar(fiscal_year_start_month=fiscal_year_start_month)
    start = oracle_start(day, grain, fiscal_year_start_month)
    previous = shifted(grain, start, "previous", periods)
    year_ago = shifted(grain, start, "year_ago", periods)
    assert previous is not None and year_ago is not None
    # the previous period ends the day before this one starts
    assert oracle_end(previous, grain) == start - timedelta(days=1)
    assert previous == periods.previous_period_start(start, grain)
    if grain in ("day", "week"):
        assert start - year_ago == timedelta(days=364)
        assert year_ago.weekday() == start.weekday()
    else:
        assert (year_ago.year, year_ago.month, year_ago.day) == (start.year - 1, start.month, 1)
    # a year ago is a period of the same grain
    assert oracle_start(year_ago, grain, fiscal_year_start_month) == year_ago
    assert shifted(grain, previous, "following_previous", periods) == start
    assert shifted(grain, year_ago, "following_year_ago", periods) == start
