"""Pure Polars: flow measures as per-day partials and first days, and periods rolled up from them.

A flow measure over a period is a combination of its days: sums and counts add up, a mean is a sum
over a count, a min or max the min or max of the days'. So every period (a calendar period, or an
objective's window to an as-of day) is rolled up from one row per measure, dimension value and day
(`day_partials`), which the warehouse keeps (`measure_days`) so that a nightly run reads its new day's
rows and not the year's.

A distinct count does not add up over days. Each distinct value is counted on its first day in the
period's scope (`first_days`: the calendar period, or the window from its start), so a period to
date counts the values whose first day is on or before its end (`first_day_counts`, rolled up).

Frames:
- partials (PARTIAL_SCHEMA): measure, dimension ('' for the total), dimension_value ('' for the
  total), day, rows (the entity's rows that day and value, Int64), n (Int64) and total (Float64):
    count: n = the count, total null; count_distinct: n = the day's distinct values, total null;
    sum and mean: n = the values counted (not null), total = their sum;
    min, max: n = the values counted, total = their min or max.
  A total (dimension '') has a row for every day summarized, zeros on a day without rows; a dimension
  value only on the days it has rows.
- first day counts (FIRST_DAY_COUNT_SCHEMA): measure, dimension, dimension_value, grain and
  period_start of the scope (a calendar grain, or "window" from period_start), first_day, and
  new_values: the distinct values whose first day in the scope is first_day.

No Dagster, no warehouse here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl

from kpi.catalog import NONE_VALUE, Measure
from kpi.periods import GRAINS, Calendar

PERIOD_KEY = ["grain", "period_start", "period_end"]
DIMENSION_VALUE = "dimension_value"
TOTAL = ""
"""The dimension and dimension_value of a total."""

PARTIAL_SCHEMA: dict[str, pl.DataType] = {
    "measure": pl.String(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "day": pl.Date(),
    "rows": pl.Int64(),
    "n": pl.Int64(),
    "total": pl.Float64(),
}
FIRST_DAY_COUNT_SCHEMA: dict[str, pl.DataType] = {
    "measure": pl.String(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "first_day": pl.Date(),
    "new_values": pl.Int64(),
}
SCOPE_KEY = ["measure", "dimension", "dimension_value", "grain", "period_start"]


@dataclass(frozen=True)
class Flows:
    """A dated entity's flow measures as `rollup` takes them, over every day the periods need."""

    partials: pl.DataFrame
    """PARTIAL_SCHEMA rows."""
    counts: pl.DataFrame
    """FIRST_DAY_COUNT_SCHEMA rows of the scopes of the periods' distinct counts."""

    def uncovered(self, covered_days: Sequence[date]) -> bool:
        """Whether a day with rows is not one of `covered_days`: its distinct values are in `counts`,
        which then cannot give a distinct count over the covered days alone."""
        with_rows = self.partials.filter(pl.col("dimension") == TOTAL, pl.col("rows") > 0)["day"]
        return not with_rows.is_in(pl.Series(covered_days, dtype=pl.Date()).implode()).all()


def dimension_value(dimension: str) -> pl.Expr:
    """A dimension column as the String dimension_value of kpi_values; null is NONE_VALUE."""
    return pl.col(dimension).cast(pl.String()).fill_null(NONE_VALUE).alias(DIMENSION_VALUE)


def _groupings(dimensions: Sequence[str]) -> list[tuple[str, pl.Expr]]:
    """(dimension, its dimension_value expression) for each of `dimensions`, '' being the total."""
    return [
        (dimension, dimension_value(dimension) if dimension else pl.lit(TOTAL).alias(DIMENSION_VALUE))
        for dimension in dimensions
    ]


def _partial_expressions(measure: Measure, index: int, distinct_days: bool = True) -> list[pl.Expr]:
    """The measure's n and total over one group of rows (SQL semantics: nulls are not counted,
    summed or compared), named n_{index} and total_{index}; a distinct count's n is 0 unless
    `distinct_days` (its days then counted from first days, see `flows_from_rows`)."""
    condition, kept = measure.condition(), measure.values()
    no_total = pl.lit(None, pl.Float64())
    if measure.agg == "count":
        counted = (condition.sum() if condition is not None else pl.len()) if kept is None else kept.count()
        n, total = counted, no_total
    elif measure.agg == "count_distinct":
        assert kept is not None, f"{measure.name}: a distinct count needs a column"
        n, total = (kept.drop_nulls().n_unique() if distinct_days else pl.lit(0)), no_total
    else:
        assert kept is not None, f"{measure.name}: {measure.agg} needs a column"
        aggregate = "sum" if measure.agg == "mean" else measure.agg
        n, total = kept.count(), getattr(kept, aggregate)().cast(pl.Float64())
    return [n.cast(pl.Int64()).alias(f"n_{index}"), total.alias(f"total_{index}")]


def day_partials(
    rows: pl.LazyFrame,
    date_column: str,
    measures: Sequence[Measure],
    dimensions: Sequence[str],
    days: Sequence[date],
    distinct_days: bool = True,
) -> pl.DataFrame:
    """PARTIAL_SCHEMA rows of the flow `measures` of a dated entity's `rows` on each of `days`, for each
    of `dimensions` ('' for the total; one pass over the rows for each). Without `distinct_days`, a
    distinct count's n is left 0 (its days counted otherwise: no hash of every row's value per day)."""
    wanted = pl.Series("day", sorted(set(days)), dtype=pl.Date())
    if wanted.is_empty() or not measures:
        return pl.DataFrame(schema=PARTIAL_SCHEMA)
    first, last = cast(date, wanted.min()), cast(date, wanted.max())
    on_days = rows.filter(pl.col(date_column).is_between(first, last))
    if wanted.len() < (last - first).days + 1:  # not every day of the range
        on_days = on_days.filter(pl.col(date_column).is_in(wanted.implode()))
    expressions = [
        expression
        for index, measure in enumerate(measures)
        for expression in _partial_expressions(measure, index, distinct_days)
    ]
    frames = []
    for dimension, value in _groupings(dimensions):
        grouped = on_days.group_by(pl.col(date_column).alias("day"), value).agg(
            pl.len().cast(pl.Int64()).alias("rows"), *expressions
        )
        if dimension == TOTAL:  # a row for every day summarized
            grouped = (
                pl.LazyFrame(wanted)
                .join(grouped, on="day", how="left")
                .with_columns(
                    pl.lit(TOTAL).alias(DIMENSION_VALUE),
                    pl.col("rows").fill_null(0),
                    *(pl.col(f"n_{index}").fill_null(0) for index in range(len(measures))),
                )
            )
        frames.append(grouped.with_columns(pl.lit(dimension).alias("dimension")))
    wide = pl.concat(frames, how="diagonal").collect()
    return pl.concat(
        wide.select(
            pl.lit(measure.name).alias("measure"),
            "dimension",
            DIMENSION_VALUE,
            "day",
            "rows",
            pl.col(f"n_{index}").alias("n"),
            pl.col(f"total_{index}").alias("total"),
        )
        for index, measure in enumerate(measures)
    ).cast(PARTIAL_SCHEMA)  # type: ignore[arg-type]


def _varying(dimensions: Sequence[str]) -> tuple[list[str], list[pl.Expr]]:
    """The grouping columns that vary between the rows of `dimensions`' groupings (none for the total
    alone, the value for one dimension, both for several), and the others as literals."""
    if len(dimensions) > 1:
        return ["dimension", DIMENSION_VALUE], []
    if dimensions[0] == TOTAL:
        return [], [pl.lit(TOTAL).alias("dimension"), pl.lit(TOTAL).alias(DIMENSION_VALUE)]
    return [DIMENSION_VALUE], [pl.lit(dimensions[0]).alias("dimension")]


_PART_COLUMNS = ["grain", "period_start", "dimension", DIMENSION_VALUE, "value", "first_day"]


def _first_day_parts(
    rows: pl.LazyFrame,
    date_column: str,
    measure: Measure,
    dimensions: Sequence[str],
    scopes: pl.DataFrame,
    calendar: Calendar,
) -> list[pl.LazyFrame]:
    """`first_days` as one frame per grain or window start (grain, period_start, dimension,
    dimension_value, value, first_day).

    One sort of the distinct (value, day) pairs, then a pass per grain or window start that keeps
    the first pair of each value and period: no hash of every row per grain.
    """
    # The grouping columns that vary: none for the total alone, the value for one dimension; the
    # others are one value each, added to the (much fewer) first-day rows, not held for every pair.
    keys, constants = _varying(dimensions)
    value_days = (
        pl.concat(
            [
                rows.filter(measure.distinct_rows()).select(
                    *([pl.lit(dimension).alias("dimension")] if "dimension" in keys else []),
                    *([expression] if DIMENSION_VALUE in keys else []),
                    pl.sql_expr(measure.column).alias("value"),  # type: ignore[arg-type]
                    pl.col(date_column).alias("day"),
                )
                for dimension, expression in _groupings(dimensions)
            ]
        )
        .unique()
        .sort(*keys, "value", "day")
        .collect()
        .lazy()
    )
    starts_anew = pl.col("value") != pl.col("value").shift(1)
    for key in keys:
        starts_anew = starts_anew | (pl.col(key) != pl.col(key).shift(1))
    grouping: list[str | pl.Expr] = [*keys, *constants]
    parts = [
        value_days.select(
            pl.lit(None, pl.String()).alias("grain"),
            pl.lit(None, pl.Date()).alias("period_start"),
            *grouping,
            "value",
            pl.col("day").alias("first_day"),
        )
        .clear()
        .select(_PART_COLUMNS)
    ]
    for grain in scopes["grain"].unique().sort():
        of_grain = scopes.filter(pl.col("grain") == grain)
        if grain in GRAINS:
            first, last = of_grain["period_start"].min(), of_grain["period_end"].max()
            period = calendar.truncate(pl.col("day"), grain)  # type: ignore[arg-type]
            parts.append(
                value_days.filter(pl.col("day").is_between(first, last))  # type: ignore[arg-type]
                .with_columns(period.alias("period_start"))
                .filter(
                    (starts_anew | (pl.col("period_start") != pl.col("period_start").shift(1))).fill_null(
                        True
                    )
                )
                # only the periods asked for (the others between them may have only some of their rows)
                .join(of_grain.lazy().select("period_start"), on="period_start", how="semi")
                .select(
                    pl.lit(grain).alias("grain"),
                    "period_start",
                    *grouping,
                    "value",
                    pl.col("day").alias("first_day"),
                )
                .select(_PART_COLUMNS)
            )
            continue
        for start, end in of_grain.group_by("period_start").agg(pl.col("period_end").max()).iter_rows():
            parts.append(
                value_days.filter(pl.col("day").is_between(start, end))
                .filter(starts_anew.fill_null(True))
                .select(
                    pl.lit(grain).alias("grain"),
                    pl.lit(start).alias("period_start"),
                    *grouping,
                    "value",
                    pl.col("day").alias("first_day"),
                )
                .select(_PART_COLUMNS)
            )
    return parts


def first_days(
    rows: pl.LazyFrame,
    date_column: str,
    measure: Measure,
    dimensions: Sequence[str],
    scopes: pl.DataFrame,
    calendar: Calendar,
) -> pl.LazyFrame:
    """(measure, dimension, dimension_value, grain, period_start, value, first_day): each distinct
    value of a count_distinct `measure` (its column, not null, on rows meeting its condition) with its
    first day in each scope it occurs in, for each of `dimensions` ('' for the total). `scopes`
    (grain, period_start, period_end): a calendar grain's periods between the earliest start and the
    latest end, or a window ("window") from period_start to period_end. `value` keeps its column's
    type."""
    parts = _first_day_parts(rows, date_column, measure, dimensions, scopes, calendar)
    return pl.concat(parts).select(
        pl.lit(measure.name).alias("measure"),
        "dimension",
        DIMENSION_VALUE,
        "grain",
        "period_start",
        "value",
        "first_day",
    )


def first_day_counts(
    rows: pl.LazyFrame,
    date_column: str,
    measure: Measure,
    dimensions: Sequence[str],
    scopes: pl.DataFrame,
    calendar: Calendar,
) -> pl.DataFrame:
    """FIRST_DAY_COUNT_SCHEMA rows of `first_days`: the values new on each first day of each scope
    (counted per grain, never holding every grain's values at once)."""
    parts = _first_day_parts(rows, date_column, measure, dimensions, scopes, calendar)
    # grouped by the columns that vary (the others are one value in a part)
    varying, _ = _varying(dimensions)
    constant = [column for column in ("dimension", DIMENSION_VALUE) if column not in varying]
    counted = [
        part.group_by("period_start", *varying, "first_day").agg(
            pl.len().cast(pl.Int64()).alias("new_values"),
            *(pl.col(column).first() for column in ("grain", *constant)),
        )
        for part in parts
    ]
    return (
        pl.concat(counted)
        .with_columns(pl.lit(measure.name).alias("measure"))
        .select(list(FIRST_DAY_COUNT_SCHEMA))
        .cast(FIRST_DAY_COUNT_SCHEMA)  # type: ignore[arg-type]
        .collect()
    )


def flows_from_rows(
    rows: pl.LazyFrame,
    date_column: str,
    measures: Sequence[Measure],
    dimensions: Sequence[str],
    periods: pl.DataFrame,
    calendar: Calendar,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The partials and first day counts a rollup of `periods` needs, from the entity's rows: the
    partials of every day of the periods, the first day counts of their scopes (`scopes_of`)."""
    if periods.is_empty():
        return pl.DataFrame(schema=PARTIAL_SCHEMA), pl.DataFrame(schema=FIRST_DAY_COUNT_SCHEMA)
    first = cast(date, periods["period_start"].min())
    last = cast(date, periods["period_end"].max())
    days = pl.date_range(first, last, eager=True).to_list()
    # A distinct count's days come with its other periods' first days (every pair is a day's first).
    partials = day_partials(rows, date_column, measures, dimensions, days, distinct_days=False)
    scopes = scopes_of(periods, with_days=True)
    counts = [
        first_day_counts(rows, date_column, measure, dimensions, scopes, calendar)
        for measure in measures
        if measure.agg == "count_distinct" and not scopes.is_empty()
    ]
    return partials, pl.concat([pl.DataFrame(schema=FIRST_DAY_COUNT_SCHEMA), *counts])


def scopes_of(periods: pl.DataFrame, with_days: bool = False) -> pl.DataFrame:
    """The scopes whose first days the distinct counts of `periods` need (grain, period_start,
    period_end: its latest end): every period but a day's (a day's distinct count is its partial),
    unless `with_days`."""
    return (
        periods.filter((pl.col("grain") != "day") | with_days)
        .group_by("grain", "period_start")
        .agg(pl.col("period_end").max())
        .sort("grain", "period_start")
    )


_COMBINED = {
    "count": pl.col("n"),
    "sum": pl.col("total_sum"),
    "mean": pl.when(pl.col("n") > 0).then(pl.col("total_sum") / pl.col("n")),
    "min": pl.col("total_min"),
    "max": pl.col("total_max"),
    "count_distinct": pl.col("n"),  # a day's; longer periods count first days
}


def _measure_value(measures: Sequence[Measure]) -> pl.Expr:
    """Each measure's value from its combined partials (n, total_sum, total_min, total_max)."""
    value = pl.lit(None, pl.Float64())
    for agg, combined in _COMBINED.items():
        names = [measure.name for measure in measures if measure.agg == agg]
        if names:
            value = pl.when(pl.col("measure").is_in(names)).then(combined.cast(pl.Float64())).otherwise(value)
    return value.alias("value")


_COMBINE = [
    pl.col("rows").sum(),
    pl.col("n").sum(),
    pl.col("total").sum().alias("total_sum"),
    pl.col("total").min().alias("total_min"),
    pl.col("total").max().alias("total_max"),
]
_RUNNING = [
    pl.col("rows").cum_sum(),
    pl.col("n").cum_sum(),
    pl.col("total").fill_null(0).cum_sum().alias("total_sum"),
    pl.col("total").cum_min().forward_fill().alias("total_min"),
    pl.col("total").cum_max().forward_fill().alias("total_max"),
]


def rollup(
    partials: pl.DataFrame,
    counts: pl.DataFrame,
    periods: pl.DataFrame,
    measures: Sequence[Measure],
    calendar: Calendar,
    dimension: str | None,
) -> pl.DataFrame:
    """The flow `measures` over `periods` (PERIOD_KEY) from `partials` and first day `counts` (of the
    total, or of `dimension`): PERIOD_KEY, dimension_value (with a dimension: one row per value a
    period has rows of), a column per measure and rows_in_period. Calendar periods take the days
    between their start and end; windows (not a calendar grain) running totals from their start.
    A period without partials has no row (the caller fills sums and counts with 0)."""
    dimension_name = dimension or TOTAL
    partials = partials.filter(pl.col("dimension") == dimension_name)
    counts = counts.filter(pl.col("dimension") == dimension_name)
    keys = [*PERIOD_KEY, DIMENSION_VALUE, "measure"]
    parts = []
    for grain in periods["grain"].unique().sort():
        of_grain = periods.filter(pl.col("grain") == grain).select(PERIOD_KEY)
        if grain in GRAINS:
            combined = (
                partials.lazy()
                .with_columns(calendar.truncate(pl.col("day"), grain).alias("period_start"))  # type: ignore[arg-type]
                .join(of_grain.lazy(), on="period_start")
                .filter(pl.col("day") <= pl.col("period_end"))
                .group_by(keys)
                .agg(_COMBINE)
            )
        else:
            combined = _running(partials, of_grain, keys)
        parts.append(combined)
    if not parts:
        return _empty(measures, dimension)
    values = pl.concat(parts, how="diagonal").with_columns(_measure_value(measures))
    distinct = [measure.name for measure in measures if measure.agg == "count_distinct"]
    if distinct:
        # a day's distinct count: its partial, unless the counts have the day (`flows_from_rows`)
        day_counted = counts.filter(pl.col("grain") == "day")["measure"].unique().to_list()
        values = values.join(_distinct_counts(counts, periods), on=keys, how="left").with_columns(
            pl.when(
                pl.col("measure").is_in(distinct)
                & ((pl.col("grain") != "day") | pl.col("measure").is_in(day_counted))
            )
            .then(pl.col("counted").fill_null(0).cast(pl.Float64()))
            .otherwise(pl.col("value"))
            .alias("value")
        )
    long = values.select(*keys, "value", "rows").collect()
    names = [measure.name for measure in measures]
    present = long.group_by([*PERIOD_KEY, DIMENSION_VALUE]).agg(pl.col("rows").max().alias("rows_in_period"))
    wide = long.pivot(on="measure", index=[*PERIOD_KEY, DIMENSION_VALUE], values="value")
    wide = wide.with_columns(
        pl.lit(None, pl.Float64()).alias(name) for name in names if name not in wide.columns
    )
    result = wide.join(present, on=[*PERIOD_KEY, DIMENSION_VALUE]).select(
        *PERIOD_KEY, DIMENSION_VALUE, *names, "rows_in_period"
    )
    if dimension is not None:
        result = result.filter(pl.col("rows_in_period") > 0)
    return result


def _running(partials: pl.DataFrame, windows: pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    """Windows [period_start, period_end] sharing a start from running totals over its days: each
    window takes the totals as of its end (a window without partials: none)."""
    parts = []
    for (start,), same_start in windows.group_by("period_start"):
        running = (
            partials.lazy()
            .filter(pl.col("day").is_between(start, same_start["period_end"].max()))
            .sort("measure", DIMENSION_VALUE, "day")
            .with_columns(expression.over("measure", DIMENSION_VALUE) for expression in _RUNNING)
            .select("measure", DIMENSION_VALUE, "day", "rows", "n", "total_sum", "total_min", "total_max")
        )
        groups = running.select("measure", DIMENSION_VALUE).unique()
        parts.append(
            same_start.lazy()
            .join(groups, how="cross")
            .sort("period_end")
            .join_asof(
                running.sort("day"),
                left_on="period_end",
                right_on="day",
                by=["measure", DIMENSION_VALUE],
                strategy="backward",
                check_sortedness=False,  # both sorted just above
            )
            .drop("day")
            .drop_nulls("rows")
            .select(*keys, "rows", "n", "total_sum", "total_min", "total_max")
        )
    return pl.concat(parts)


def _distinct_counts(counts: pl.DataFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    """PERIOD_KEY, dimension_value, measure, counted: the values whose first day in the period's scope
    is on or before its end."""
    return (
        periods.lazy()
        .select(PERIOD_KEY)
        .join(counts.lazy(), on=["grain", "period_start"])
        .filter(pl.col("first_day") <= pl.col("period_end"))
        .group_by(*PERIOD_KEY, DIMENSION_VALUE, "measure")
        .agg(pl.col("new_values").sum().alias("counted"))
    )


def _empty(measures: Sequence[Measure], dimension: str | None) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "grain": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            DIMENSION_VALUE: pl.String(),
            **{measure.name: pl.Float64() for measure in measures},
            "rows_in_period": pl.Int64(),
        }
    )
