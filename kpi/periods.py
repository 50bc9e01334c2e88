"""Calendar periods of the four grains, and the periods a run of some days has to (re)compute."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Literal

import polars as pl

Grain = Literal["day", "month", "quarter", "year"]
GRAINS: tuple[Grain, ...] = ("day", "month", "quarter", "year")
TRUNCATE_EVERY: dict[Grain, str] = {"day": "1d", "month": "1mo", "quarter": "1q", "year": "1y"}
MONTHS_IN: dict[Grain, int] = {"month": 1, "quarter": 3, "year": 12}

PERIOD_SCHEMA = {
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "is_complete": pl.Boolean(),
}


def days_between(first: date, last: date) -> list[date]:
    """Every day of [first, last]."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


def period_start(day: date, grain: Grain) -> date:
    if grain == "day":
        return day
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def next_period_start(start: date, grain: Grain) -> date:
    if grain == "day":
        return start + timedelta(days=1)
    return _add_months(start, MONTHS_IN[grain])


def previous_period_start(start: date, grain: Grain) -> date:
    if grain == "day":
        return start - timedelta(days=1)
    return _add_months(start, -MONTHS_IN[grain])


# How far back a period's comparisons are, per grain, as Polars offsets: the previous period, and the
# same period a year earlier (364 days, whole weeks, for day grain; 12 months for the others).
SHIFTS: dict[str, dict[Grain, str]] = {
    "previous": {"day": "-1d", "month": "-1mo", "quarter": "-3mo", "year": "-1y"},
    "year_ago": {"day": "-364d", "month": "-12mo", "quarter": "-12mo", "year": "-1y"},
}
SHIFTS["following_previous"] = {grain: offset[1:] for grain, offset in SHIFTS["previous"].items()}
SHIFTS["following_year_ago"] = {grain: offset[1:] for grain, offset in SHIFTS["year_ago"].items()}


def shifted_period_start(grain: pl.Expr, start: pl.Expr, shift: str) -> pl.Expr:
    """The start of the period `shift` (a key of SHIFTS) away from each calendar period (grain,
    period_start): e.g. "previous", "year_ago", or "following_previous" (the period whose previous
    period this is). Null for other grains (an objective's window). Output name: period_start."""
    shifted = pl.lit(None, dtype=pl.Date())
    for period_grain, offset in SHIFTS[shift].items():
        shifted = pl.when(grain == period_grain).then(start.dt.offset_by(offset)).otherwise(shifted)
    return shifted.alias("period_start")


def period_end(start: date, grain: Grain) -> date:
    """The calendar period's last day."""
    return next_period_start(start, grain) - timedelta(days=1)


def periods_containing(
    first_day: date, last_day: date, latest_loaded: date, more_days: Sequence[date] = ()
) -> pl.DataFrame:
    """Every period of every grain holding a day of [first_day, last_day], cut at `latest_loaded`.

    A period not ended by the latest loaded day is computed to date: period_end is then that day
    and is_complete false. `more_days` (days a run changed outside its range: a row moved away from
    them) add the periods holding them.
    """
    if last_day < first_day:
        raise ValueError(f"last day {last_day} is before first day {first_day}")
    if latest_loaded < last_day:
        raise ValueError(f"latest loaded day {latest_loaded} is before the last day computed {last_day}")
    rows = {}
    for grain in GRAINS:
        start = period_start(first_day, grain)
        starts = {period_start(day, grain) for day in more_days}
        while start <= last_day:
            starts.add(start)
            start = next_period_start(start, grain)
        for start in sorted(starts):
            calendar_end = period_end(start, grain)
            rows[grain, start] = (
                grain,
                start,
                min(calendar_end, latest_loaded),
                calendar_end <= latest_loaded,
            )
    return pl.DataFrame(list(rows.values()), schema=PERIOD_SCHEMA, orient="row")
