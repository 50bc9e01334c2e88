"""Pure Polars: canonical entities -> per-period measures -> kpi_values rows. No Dagster here.

`periods` is a frame of (grain, period_start, period_end, is_complete) from
`kpi.periods.periods_containing`; period_end is the last day a value covers (the calendar end, or the
latest loaded day for a period computed to date).

Flow measures (sums and counts of dated rows) group each row into its period by truncating its date.
Stock measures (customers active, headcount) are evaluated on the days the formula names, start-1
and period_end, over the whole customers or employees snapshot: never from the period's rows alone.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from assets.kpis.definitions import KpiDefinition
from kpi.periods import GRAINS, TRUNCATE_EVERY, next_period_start, previous_period_start

# A period is its grain and its days: calendar periods (day, month, quarter, year) and other windows
# (an objective's period up to an as-of date, grain "window") alike.
PERIOD_KEY = ["grain", "period_start", "period_end"]

KPI_VALUE_SCHEMA = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "numerator": pl.Float64(),
    "denominator": pl.Float64(),
    "previous_value": pl.Float64(),
    "unit": pl.String(),
    "is_complete": pl.Boolean(),
}


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
    loaded_days: dict[str, list[date]] | None = None,
) -> pl.DataFrame:
    """One row per period with the measures of every entity given.

    `loaded_days` are the days a dated entity was loaded for: a period holding none of them has no
    data for that entity, and its measures are null (no data is not zero), not the zeros of a
    loaded day without rows.
    """
    measures = periods.lazy()
    for name, frame in entities.items():
        entity_measures = MEASURES_BY_ENTITY[name](frame, periods)
        if loaded_days is not None and name in loaded_days:
            columns = [
                column for column in entity_measures.collect_schema().names() if column not in PERIOD_KEY
            ]
            covered = _covered_periods(periods, loaded_days[name])
            entity_measures = entity_measures.join(covered, on=PERIOD_KEY, how="left").select(
                *PERIOD_KEY,
                *(pl.when(pl.col("covered")).then(pl.col(column)).alias(column) for column in columns),
            )
        measures = measures.join(entity_measures, on=PERIOD_KEY, how="left")
    return measures.collect()


def _covered_periods(periods: pl.DataFrame, days: list[date]) -> pl.LazyFrame:
    """(period key, covered): whether any of `days` falls in each period."""
    loaded = pl.LazyFrame({"day": days}, schema={"day": pl.Date()})
    hits = (
        periods.lazy()
        .select(PERIOD_KEY)
        .join(loaded, how="cross")
        .filter(pl.col("day").is_between(pl.col("period_start"), pl.col("period_end")))
        .group_by(PERIOD_KEY)
        .agg(covered=pl.lit(True))
    )
    return (
        periods.lazy()
        .select(PERIOD_KEY)
        .join(hits, on=PERIOD_KEY, how="left")
        .with_columns(pl.col("covered").fill_null(False))
    )


def kpi_values(measures: pl.DataFrame, kpis: list[KpiDefinition]) -> pl.DataFrame:
    """kpi_values rows (previous_value still null) for each KPI and period of `measures`."""
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
                pl.lit(kpi.unit).alias("unit"),
                "is_complete",
            )
        )
    if not frames:
        return pl.DataFrame(schema=KPI_VALUE_SCHEMA)
    return pl.concat(frames).cast(KPI_VALUE_SCHEMA)  # type: ignore[arg-type]


def _shift_period_start(frame: pl.DataFrame, shift: object) -> pl.Series:
    return pl.Series(
        [shift(start, grain) for grain, start in frame.select("grain", "period_start").iter_rows()],  # type: ignore[operator]
        dtype=pl.Date(),
    )


def previous_periods(periods: pl.DataFrame) -> pl.DataFrame:
    """(grain, period_start) of the calendar-aligned period before each of `periods`."""
    return periods.select("grain", _shift_period_start(periods, previous_period_start).alias("period_start"))


def attach_previous_values(rows: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Fill previous_value: the same KPI over the calendar-aligned previous period, looked up in
    `rows` themselves and in `known` (kpi_id, grain, period_start, value: values already loaded)."""
    lookup = ["kpi_id", "grain", "period_start", "value"]
    values = pl.concat([known.select(lookup), rows.select(lookup)]).unique(lookup[:3], keep="last")
    previous = values.rename({"period_start": "previous_start", "value": "previous_value"})
    return (
        rows.drop("previous_value")
        .with_columns(previous_start=_shift_period_start(rows, previous_period_start))
        .join(previous, on=["kpi_id", "grain", "previous_start"], how="left")
        .drop("previous_start")
        .select(list(KPI_VALUE_SCHEMA))
    )


def following_periods(rows: pl.DataFrame) -> pl.DataFrame:
    """(kpi_id, grain, period_start, previous_value) for the periods right after `rows`: loaded
    earlier, their previous_value must now be the value just computed."""
    return rows.select(
        "kpi_id",
        "grain",
        _shift_period_start(rows, next_period_start).alias("period_start"),
        pl.col("value").alias("previous_value"),
    )
