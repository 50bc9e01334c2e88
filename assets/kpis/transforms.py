"""Pure Polars: canonical entities -> per-period measures -> kpi_values rows. No Dagster here.

`periods` is a frame of (grain, period_start, period_end, is_complete) from
`kpi.periods.periods_containing`; period_end is the last day a value covers (the calendar end, or the
latest loaded day for a period computed to date).

Flow measures (sums and counts of dated rows) group each row into its period by truncating its date.
Stock measures (customers active, headcount) are evaluated on the days the formula names, start-1
and period_end, over the whole customers or employees snapshot: never from the period's rows alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from assets.kpis.definitions import KpiDefinition
from kpi.entities import ENTITIES
from kpi.periods import GRAINS, TRUNCATE_EVERY, shifted_period_start
from kpi.schema import KPI_VALUE_SCHEMA as KPI_VALUE_SCHEMA

# A period is its grain and its days: calendar periods (day, month, quarter, year) and other windows
# (an objective's period up to an as-of date, grain "window") alike.
PERIOD_KEY = ["grain", "period_start", "period_end"]


def _flow_measures(
    rows: pl.LazyFrame, periods: pl.DataFrame, date_column: str, aggregations: list[pl.Expr]
) -> pl.LazyFrame:
    """Aggregate dated rows into each requested period; a period without rows gets zeros.

    Calendar periods group every row into its period by truncating its date (one pass per grain);
    any other window (an objective's period to date) filters the rows it spans.
    """
    parts = []
    for grain in GRAINS:
        grain_periods = periods.filter(pl.col("grain") == grain)
        if grain_periods.is_empty():
            continue
        first, last = grain_periods["period_start"].min(), grain_periods["period_end"].max()
        parts.append(
            rows.filter(pl.col(date_column).is_between(first, last))
            .group_by(pl.col(date_column).dt.truncate(TRUNCATE_EVERY[grain]).alias("period_start"))
            .agg(aggregations)
            .with_columns(grain=pl.lit(grain))
            .join(grain_periods.lazy().select(PERIOD_KEY), on=["grain", "period_start"])
        )
    for grain, start, end in periods.filter(~pl.col("grain").is_in(GRAINS)).select(PERIOD_KEY).iter_rows():
        parts.append(
            rows.filter(pl.col(date_column).is_between(start, end))
            .select(aggregations)
            .with_columns(grain=pl.lit(grain), period_start=pl.lit(start), period_end=pl.lit(end))
        )
    wanted = periods.lazy().select(PERIOD_KEY)
    if not parts:
        return wanted
    names = [aggregation.meta.output_name() for aggregation in aggregations]
    measures = pl.concat(parts, how="diagonal").select(PERIOD_KEY + names)
    return wanted.join(measures, on=PERIOD_KEY, how="left").with_columns(pl.col(names).fill_null(0))


def revenue_measures(transactions: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    return _flow_measures(
        transactions,
        periods,
        "booked_on",
        [
            pl.col("amount").sum().alias("revenue"),
            pl.col("customer_id").drop_nulls().n_unique().alias("active_customers"),
        ],
    )


def expense_measures(expenses: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    return _flow_measures(
        expenses,
        periods,
        "booked_on",
        [
            pl.col("amount").sum().alias("expenses"),
            pl.col("amount").filter(pl.col("category") == "cogs").sum().alias("cogs_expenses"),
        ],
    )


def survey_measures(responses: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    csat = pl.col("survey") == "csat"
    nps = pl.col("survey") == "nps"
    return _flow_measures(
        responses,
        periods,
        "responded_on",
        [
            csat.sum().alias("csat_responses"),
            (csat & (pl.col("score") >= 4)).sum().alias("csat_satisfied"),
            nps.sum().alias("nps_responses"),
            (nps & (pl.col("score") >= 9)).sum().alias("nps_promoters"),
            (nps & (pl.col("score") <= 6)).sum().alias("nps_detractors"),
        ],
    )


def _present_on(start_column: str, end_column: str, day: date) -> pl.Expr:
    """Active (or employed) on `day`: started on or before it, and not ended on or before it."""
    return (pl.col(start_column) <= day) & (pl.col(end_column).is_null() | (pl.col(end_column) > day))


def _stock_measures(snapshot: pl.LazyFrame, periods: pl.DataFrame, aggregations_for: object) -> pl.LazyFrame:
    frames = [
        snapshot.select(
            pl.lit(grain).alias("grain"),
            pl.lit(start).alias("period_start"),
            pl.lit(end).alias("period_end"),
            *aggregations_for(start, end),  # type: ignore[operator]
        )
        for grain, start, end in periods.select(PERIOD_KEY).unique(maintain_order=True).iter_rows()
    ]
    if not frames:
        return periods.lazy().select(PERIOD_KEY)
    return pl.concat(frames)


def customer_measures(customers: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    def aggregations(start, end):
        before = start - timedelta(days=1)
        active_before = _present_on("signed_up_on", "churned_on", before)
        active_at_end = _present_on("signed_up_on", "churned_on", end)
        signed_up_in_period = pl.col("signed_up_on").is_between(start, end)
        churned_in_period = pl.col("churned_on").is_between(start, end)
        return [
            active_before.sum().alias("customers_at_start"),
            active_at_end.sum().alias("customers_at_end"),
            signed_up_in_period.sum().alias("new_customers"),
            (signed_up_in_period & active_at_end).sum().alias("new_customers_at_end"),
            churned_in_period.fill_null(False).sum().alias("churned_customers"),
            (active_before & churned_in_period).fill_null(False).sum().alias("churned_from_start"),
        ]

    return _stock_measures(customers, periods, aggregations)


def employee_measures(employees: pl.LazyFrame, periods: pl.DataFrame) -> pl.LazyFrame:
    def aggregations(start, end):
        before = start - timedelta(days=1)
        employed_before = _present_on("hired_on", "terminated_on", before)
        employed_at_end = _present_on("hired_on", "terminated_on", end)
        return [
            employed_before.sum().alias("headcount_at_start"),
            employed_at_end.sum().alias("headcount_at_end"),
            pl.col("hired_on").is_between(start, end).sum().alias("hires"),
            pl.col("terminated_on").is_between(start, end).fill_null(False).sum().alias("terminations"),
            (employed_before & employed_at_end).sum().alias("retained_employees"),
        ]

    return _stock_measures(employees, periods, aggregations)


MEASURES_BY_ENTITY = {
    "revenue_transactions": revenue_measures,
    "expenses": expense_measures,
    "survey_responses": survey_measures,
    "customers": customer_measures,
    "employees": employee_measures,
}


def period_measures(
    entities: dict[str, pl.LazyFrame],
    periods: pl.DataFrame,
    covered_days: Sequence[date] | None = None,
) -> pl.DataFrame:
    """One row per period (PERIOD_KEY, is_complete) with the measures of every entity given, and
    `days_covered` (Int64): the days of [period_start, period_end] in `covered_days`.

    `covered_days` are the days every dated entity given was loaded for (None: every day). Dated rows
    of other days are left out, so measures over two entities never mix one's day without the other's;
    a period holding none of the covered days has null flow measures (no data is not zero), where a
    covered day without rows gives zeros. Snapshot (span) measures do not depend on loaded days.
    """
    if covered_days is not None:
        covered = pl.Series("day", sorted(set(covered_days)), dtype=pl.Date())
        entities = {
            name: frame.filter(pl.col(date_column).is_in(covered.implode()))
            if (date_column := ENTITIES[name].date_column) is not None
            else frame
            for name, frame in entities.items()
        }
        days_covered = pl.Series(
            "days_covered",
            covered.search_sorted(periods["period_end"], side="right")
            - covered.search_sorted(periods["period_start"], side="left"),
            dtype=pl.Int64(),
        )
    else:
        days_covered = periods.select(_calendar_days(pl.col("period_start"), pl.col("period_end")))["days"]
    measures = periods.with_columns(days_covered=days_covered.cast(pl.Int64())).lazy()
    for name, frame in entities.items():
        entity_measures = MEASURES_BY_ENTITY[name](frame, periods)
        measures = measures.join(entity_measures, on=PERIOD_KEY, how="left")
        if ENTITIES[name].is_dated:
            columns = [
                column for column in entity_measures.collect_schema().names() if column not in PERIOD_KEY
            ]
            measures = measures.with_columns(
                pl.when(pl.col("days_covered") > 0).then(pl.col(column)).alias(column) for column in columns
            )
    return measures.collect()


def _calendar_days(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return ((end - start).dt.total_days() + 1).cast(pl.Int64()).alias("days")


def dated_inputs(kpi: KpiDefinition) -> tuple[str, ...]:
    """The KPI's dated input entities: the days it covers are the days all of them were loaded."""
    return tuple(sorted(name for name in kpi.inputs if ENTITIES[name].is_dated))


def covered_days(
    dated: Sequence[str], loaded_days: dict[str, list[date]], kpi_days: Sequence[date]
) -> list[date]:
    """The days loaded for every entity of `dated`; with none (a KPI over snapshots only), `kpi_days`,
    the days its runs covered."""
    if not dated:
        return sorted(set(kpi_days))
    days = set(loaded_days.get(dated[0], []))
    for name in dated[1:]:
        days &= set(loaded_days.get(name, []))
    return sorted(days)


def compute_kpi_rows(
    entities: dict[str, pl.LazyFrame],
    periods: pl.DataFrame,
    kpis: Sequence[KpiDefinition],
    loaded_days: dict[str, list[date]] | None = None,
    kpi_days: Sequence[date] = (),
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA; previous and year-ago values still null) of `kpis` over
    `periods`, each KPI over the days all its dated inputs cover (`loaded_days` by entity; None: every
    day; `kpi_days`: the days the runs covered, for KPIs over snapshots only).

    KPIs that share their dated inputs share one pass over the rows.
    """
    groups: dict[tuple[str, ...], list[KpiDefinition]] = {}
    for kpi in kpis:
        groups.setdefault(dated_inputs(kpi), []).append(kpi)
    parts = []
    for dated, members in groups.items():
        needed = sorted({name for kpi in members for name in kpi.inputs})
        days = None if loaded_days is None else covered_days(dated, loaded_days, kpi_days)
        measures = period_measures({name: entities[name] for name in needed}, periods, days)
        parts.append(kpi_values(measures, members))
    if not parts:
        return pl.DataFrame(schema=KPI_VALUE_SCHEMA)
    return pl.concat(parts)


def kpi_values(measures: pl.DataFrame, kpis: Sequence[KpiDefinition]) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA; previous and year-ago values still null) for each KPI and
    period of `measures` (from `period_measures`). A value is complete when its calendar period has
    ended and every one of its days is covered; a ratio with a zero denominator is null."""
    days_covered = (
        pl.col("days_covered")
        if "days_covered" in measures.columns
        else _calendar_days(pl.col("period_start"), pl.col("period_end"))
    )
    is_complete = pl.col("is_complete") & (
        days_covered == _calendar_days(pl.col("period_start"), pl.col("period_end"))
    )
    frames = []
    for kpi in kpis:
        numerator = kpi.numerator.cast(pl.Float64())
        denominator = kpi.denominator.cast(pl.Float64()) if kpi.denominator is not None else None
        if denominator is None:
            value = numerator
            denominator_column = pl.lit(None, dtype=pl.Float64())
        else:
            value = pl.when(denominator != 0).then(numerator / denominator * kpi.scale)
            denominator_column = denominator
        frames.append(
            measures.select(
                pl.lit(kpi.kpi_id).alias("kpi_id"),
                "grain",
                "period_start",
                "period_end",
                value.alias("value"),
                numerator.alias("numerator"),
                denominator_column.alias("denominator"),
                pl.lit(None, dtype=pl.Float64()).alias("previous_value"),
                pl.lit(None, dtype=pl.Float64()).alias("year_ago_value"),
                pl.lit(kpi.unit).alias("unit"),
                days_covered.alias("days_covered"),
                is_complete.alias("is_complete"),
            )
        )
    if not frames:
        return pl.DataFrame(schema=KPI_VALUE_SCHEMA)
    return pl.concat(frames).cast(KPI_VALUE_SCHEMA)  # type: ignore[arg-type]


# The earlier periods a row is compared with: its kpi_values column, and the shift to that period.
COMPARISONS = {"previous_value": "previous", "year_ago_value": "year_ago"}
LOOKUP = ["kpi_id", "grain", "period_start"]


def attach_previous_values(rows: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Fill previous_value (the same KPI over the calendar-aligned previous period) and year_ago_value
    (over the period a year earlier: 364 days for a day, 12 months for the others), looked up in
    `rows` themselves and in `known` (kpi_id, grain, period_start, value, is_complete: values already
    loaded). A period that is not complete (partly covered) gives no comparison: null."""
    columns = [*LOOKUP, "value", "is_complete"]
    values = (
        pl.concat([known.select(columns), rows.select(columns)])
        .unique(LOOKUP, keep="last", maintain_order=True)
        .select(*LOOKUP, pl.when(pl.col("is_complete")).then(pl.col("value")).alias("compared_value"))
    )
    attached = rows
    for column, shift in COMPARISONS.items():
        earlier = values.rename({"period_start": "earlier_start", "compared_value": column})
        attached = (
            attached.drop(column)
            .with_columns(earlier_start=shifted_period_start(pl.col("grain"), pl.col("period_start"), shift))
            .join(
                earlier,
                left_on=["kpi_id", "grain", "earlier_start"],
                right_on=["kpi_id", "grain", "earlier_start"],
                how="left",
            )
            .drop("earlier_start")
        )
    return attached.select(list(KPI_VALUE_SCHEMA))


def compared_periods(periods: pl.DataFrame) -> pl.DataFrame:
    """(grain, period_start) of the periods `periods` are compared with: the previous one and the one
    a year earlier."""
    return pl.concat(
        periods.select("grain", shifted_period_start(pl.col("grain"), pl.col("period_start"), shift))
        for shift in COMPARISONS.values()
    ).drop_nulls()


def following_periods(rows: pl.DataFrame) -> pl.DataFrame:
    """(kpi_id, grain, period_start, column, compared_value) for the periods that compare themselves
    with `rows`: the next period (its previous_value) and the one a year later (its year_ago_value).
    Loaded earlier, they must now hold the value just computed (null when it is not complete)."""
    return pl.concat(
        rows.select(
            "kpi_id",
            "grain",
            shifted_period_start(pl.col("grain"), pl.col("period_start"), f"following_{shift}").alias(
                "period_start"
            ),
            pl.lit(column).alias("column"),
            pl.when(pl.col("is_complete")).then(pl.col("value")).alias("compared_value"),
        )
        for column, shift in COMPARISONS.items()
    ).drop_nulls("period_start")
