"""The calendar: periods of the five grains, the periods a run of days has to (re)compute, and the
periods a period is compared with.

The rules are DESIGN.md's "Calendar, grains and completeness": grains day, week (ISO, Monday to
Sunday), month, quarter and year; quarters and years fiscal when the config's `calendar:
{fiscal_year_start_month: N}` says so; a period not ended by the latest loaded day is computed to
date; the previous period is the calendar-aligned one before, the year-ago period is 364 days earlier
for day and week grain (whole weeks: a Monday stays a Monday) and 12 months earlier for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl

Grain = Literal["day", "week", "month", "quarter", "year"]
GRAINS: tuple[Grain, ...] = ("day", "week", "month", "quarter", "year")

PERIOD_SCHEMA = {
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "is_complete": pl.Boolean(),
}

# A period's length: whole days for day and week, whole months for the others.
_DAYS_IN: dict[Grain, int] = {"day": 1, "week": 7}
_MONTHS_IN: dict[Grain, int] = {"month": 1, "quarter": 3, "year": 12}
# Polars' bucket for each grain in dt.truncate: "1w" buckets start on Mondays (ISO weeks); "1q" and
# "1y" are calendar quarters and years, made fiscal in Calendar.truncate.
_TRUNCATE_EVERY: dict[Grain, str] = {"day": "1d", "week": "1w", "month": "1mo", "quarter": "1q", "year": "1y"}

# How far a period's comparisons are, per grain, as Polars offsets: the previous period, and the same
# period a year earlier (364 days, whole weeks, for day and week grain; 12 months for the others).
# Every month, quarter and year starts on a 1st, so a month offset never meets a shorter month.
# "following_<shift>" undoes <shift>: the period whose previous (or year-ago) period this is.
_SHIFTS: dict[str, dict[Grain, str]] = {
    "previous": {"day": "-1d", "week": "-1w", "month": "-1mo", "quarter": "-3mo", "year": "-12mo"},
    "year_ago": {"day": "-364d", "week": "-364d", "month": "-12mo", "quarter": "-12mo", "year": "-12mo"},
}
_SHIFTS["following_previous"] = {grain: offset[1:] for grain, offset in _SHIFTS["previous"].items()}
_SHIFTS["following_year_ago"] = {grain: offset[1:] for grain, offset in _SHIFTS["year_ago"].items()}


def days_between(first: date, last: date) -> list[date]:
    """Every day of [first, last]."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def _month_index(day: date) -> int:
    """Months since year 0: consecutive months have consecutive indexes."""
    return day.year * 12 + day.month - 1


def _first_of_month(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _check_grain(grain: str) -> None:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}: expected one of {', '.join(GRAINS)}")


@dataclass(frozen=True)
class Calendar:
    """The periods KPIs are computed over (DESIGN.md, "Calendar, grains and completeness").

    `fiscal_year_start_month` (1..12, default 1: the calendar year) makes quarters and years fiscal:
    with 4, FY2026 is 2026-04-01 .. 2027-03-31 (named by the calendar year it starts in) and its
    quarters start in April, July, October and January. Days, ISO weeks (Monday to Sunday) and months
    are never fiscal. `grains` limits the grains `periods_containing` yields (all five by default); it
    is kept in GRAINS order, whatever order it is given in. The other methods take any of the five
    grains.
    """

    fiscal_year_start_month: int = 1
    grains: tuple[Grain, ...] = GRAINS

    def __post_init__(self) -> None:
        month = self.fiscal_year_start_month
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ValueError(f"fiscal_year_start_month must be a month number 1..12, not {month!r}")
        if isinstance(self.grains, str):
            raise ValueError(f"grains must be a sequence of grains, not the string {self.grains!r}")
        grains = tuple(self.grains)
        for grain in grains:
            _check_grain(grain)
        repeated = sorted({grain for grain in grains if grains.count(grain) > 1})
        if repeated:
            raise ValueError(f"grains repeat {', '.join(repeated)}")
        if not grains:
            raise ValueError("grains is empty: name at least one of " + ", ".join(GRAINS))
        # a frozen dataclass sets its own fields through object.__setattr__
        object.__setattr__(self, "grains", tuple(grain for grain in GRAINS if grain in grains))

    @property
    def _months_before_year_start(self) -> int:
        """How many months the fiscal year starts after January: 0 for the calendar year."""
        return self.fiscal_year_start_month - 1

    def period_start(self, day: date, grain: Grain) -> date:
        """The first day of the `grain` period holding `day`."""
        _check_grain(grain)
        if grain == "day":
            return day
        if grain == "week":
            return day - timedelta(days=day.weekday())  # weekday(): Monday 0 .. Sunday 6
        if grain == "month":
            return day.replace(day=1)
        months = _MONTHS_IN[grain]
        # count months from the fiscal year's first month, round down to the grain, count back
        since_year_start = _month_index(day) - self._months_before_year_start
        return _first_of_month(since_year_start - since_year_start % months + self._months_before_year_start)

    def next_period_start(self, start: date, grain: Grain) -> date:
        """The first day of the `grain` period after the one holding `start`."""
        start = self.period_start(start, grain)
        if grain in _DAYS_IN:
            return start + timedelta(days=_DAYS_IN[grain])
        return _first_of_month(_month_index(start) + _MONTHS_IN[grain])

    def previous_period_start(self, start: date, grain: Grain) -> date:
        """The first day of the `grain` period before the one holding `start`: the previous period."""
        start = self.period_start(start, grain)
        if grain in _DAYS_IN:
            return start - timedelta(days=_DAYS_IN[grain])
        return _first_of_month(_month_index(start) - _MONTHS_IN[grain])

    def period_end(self, start: date, grain: Grain) -> date:
        """The calendar period's last day: of the `grain` period holding `start`."""
        return self.next_period_start(start, grain) - timedelta(days=1)

    def truncate(self, day: pl.Expr, grain: Grain) -> pl.Expr:
        """Each date of `day` (a Date expression) replaced by the start of its `grain` period (Date);
        null stays null. The vectorised `period_start`."""
        _check_grain(grain)
        every = _TRUNCATE_EVERY[grain]
        shift = self._months_before_year_start
        if grain not in ("quarter", "year") or shift == 0:
            return day.dt.truncate(every)
        # Move the fiscal year onto the calendar year, truncate there, and move back. The move back
        # starts from a 1st, so it is exact; the move there may clamp a day to a shorter month's end
        # (05-31 less 3 months is 02-28), but never changes the month, and a quarter or year depends
        # on the month alone.
        return day.dt.offset_by(f"-{shift}mo").dt.truncate(every).dt.offset_by(f"{shift}mo")

    def shifted_period_start(self, grain: pl.Expr, start: pl.Expr, shift: str) -> pl.Expr:
        """The start of the period `shift` away from each period (grain, period_start), row by row.

        `shift`: "previous" (the calendar-aligned period before), "year_ago" (364 days earlier for day
        and week, 12 months for month, quarter and year), or "following_previous" /
        "following_year_ago" (the period whose previous / year-ago period this is). Null for a grain
        that is not one of the five (an objective's window). Output: a Date named period_start.
        """
        if shift not in _SHIFTS:
            raise ValueError(f"unknown shift {shift!r}: expected one of {', '.join(_SHIFTS)}")
        shifted = pl.lit(None, dtype=pl.Date())
        for period_grain, offset in _SHIFTS[shift].items():
            shifted = pl.when(grain == period_grain).then(start.dt.offset_by(offset)).otherwise(shifted)
        return shifted.alias("period_start")

    def periods_containing(
        self, first_day: date, last_day: date, latest_loaded: date, more_days: Sequence[date] = ()
    ) -> pl.DataFrame:
        """Every period of every grain of `self.grains` holding a day of [first_day, last_day], cut at
        `latest_loaded`: one row (grain, period_start, period_end, is_complete) each, PERIOD_SCHEMA,
        in GRAINS order and by period_start within a grain.

        A period not ended by the latest loaded day is computed to date: period_end is then that day
        and is_complete false. `more_days` (days a run changed outside its range: a row moved away
        from them) add the periods holding them.
        """
        if last_day < first_day:
            raise ValueError(f"last day {last_day} is before first day {first_day}")
        if latest_loaded < last_day:
            raise ValueError(f"latest loaded day {latest_loaded} is before the last day computed {last_day}")
        rows = []
        for grain in self.grains:
            start = self.period_start(first_day, grain)
            starts = {self.period_start(day, grain) for day in more_days}
            while start <= last_day:
                starts.add(start)
                start = self.next_period_start(start, grain)
            for start in sorted(starts):
                calendar_end = self.period_end(start, grain)
                rows.append((grain, start, min(calendar_end, latest_loaded), calendar_end <= latest_loaded))
        return pl.DataFrame(rows, schema=PERIOD_SCHEMA, orient="row")
