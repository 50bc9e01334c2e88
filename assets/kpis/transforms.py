"""Pure Polars: entities -> per-period measures -> kpi_values rows. No Dagster here.

`periods` is a frame of (grain, period_start, period_end, is_complete) from
`Calendar.periods_containing`; period_end is the last day a value covers (the calendar end, or the
latest loaded day for a period computed to date). Other windows (an objective's period to an as-of
day, grain "window") are periods too.

Measures are the catalog's (`kpi/catalog.py`). Flow measures (sums, counts, ... of dated rows) group
each row into its period by truncating its date. Span measures (customers active, headcount) are
evaluated on the days the formula names, start-1 and period_end, over the whole snapshot: never from
the period's rows alone. A KPI with dimensions has, besides its total row, one row per dimension value
and period, its measures (numerator and denominator alike) computed over that value's rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from assets.kpis.partials import (
    DIMENSION_VALUE,
    PERIOD_KEY,
    TOTAL,
    Flows,
    dimension_value,
    flows_from_rows,
    rollup,
)
from kpi.catalog import MAX_DIMENSION_VALUES, Catalog, CatalogError, KpiDefinition, Measure
from kpi.entities import Entity
from kpi.periods import GRAINS, Calendar
from kpi.schema import KPI_VALUE_SCHEMA as KPI_VALUE_SCHEMA

# A period is its grain and its days: calendar periods (day, week, month, quarter, year) and other
# windows (an objective's period up to an as-of date, grain "window") alike: PERIOD_KEY.


def flow_measures(
    rows: pl.LazyFrame,
    periods: pl.DataFrame,
    entity: Entity,
    measures: Sequence[Measure],
    calendar: Calendar,
    dimension: str | None = None,
) -> pl.LazyFrame:
    """The flow `measures` of a dated entity's `rows` per period of `periods`: PERIOD_KEY (with
    dimension_value, String, when `dimension` is given) and one column per measure.

    The rows become per-day partials and first days (`partials.py`), which every period rolls up:
    calendar periods the days between their start and end, other windows (an objective's period to
    each as-of day) running totals from their start. Without a dimension every period has a row (a
    period without rows: sums and counts 0, means null); with one, a period has a row per value it has
    rows of.
    """
    date_column = entity.date_column
    assert date_column is not None, f"{entity.name} is not dated"
    partials, counts = flows_from_rows(rows, date_column, measures, [dimension or TOTAL], periods, calendar)
    return flow_measures_from(partials, counts, periods, measures, calendar, dimension)


def flow_measures_from(
    partials: pl.DataFrame,
    counts: pl.DataFrame,
    periods: pl.DataFrame,
    measures: Sequence[Measure],
    calendar: Calendar,
    dimension: str | None = None,
) -> pl.LazyFrame:
    """`flow_measures` from per-day partials and first day counts (`partials.py`'s frames, of the rows
    or kept in the warehouse) instead of rows."""
    names = [measure.name for measure in measures]
    keys = PERIOD_KEY + ([DIMENSION_VALUE] if dimension else [])
    frame = rollup(partials, counts, periods, measures, calendar, dimension).select(keys + names).lazy()
    if dimension is not None:
        return frame
    return (
        periods.lazy()
        .select(PERIOD_KEY)
        .join(frame, on=PERIOD_KEY, how="left")
        .with_columns(
            pl.col(measure.name).fill_null(measure.empty_value)
            for measure in measures
            if measure.empty_value is not None
        )
    )


def span_measures(
    snapshot: pl.LazyFrame,
    periods: pl.DataFrame,
    entity: Entity,
    measures: Sequence[Measure],
    calendar: Calendar,
    dimension: str | None = None,
) -> pl.LazyFrame:
    """The span `measures` of a span entity's `snapshot` per period: PERIOD_KEY (with dimension_value
    when `dimension` is given, one row per value of the snapshot and period) and one count (Int64)
    column per measure.

    Every period at once, from counts of start and end dates (DESIGN.md's row rule, `Measure.
    span_aggregation`, gives the same counts row by row; tests/unit/test_span_measures.py checks it).
    For a period [s, e], with S(d) = rows started by d, E(d) = rows ended by d, M(d) = rows started
    and ended by d, W = rows started on or after s and ended by e:
    active on d = S(d) - M(d); active_at_start = active on s-1; active_at_end = active on e;
    started = S(e) - S(s-1); ended = E(e) - E(s-1); retained = S(s-1) - E(e) + W;
    ended_from_start = E(e) - W - M(s-1).
    """
    assert entity.span is not None, f"{entity.name} is not a span entity"
    start_column, end_column = entity.span
    wanted = periods.select(PERIOD_KEY).unique(maintain_order=True)
    if wanted.is_empty():
        return _no_measures(periods, measures, dimension)
    group = dimension_value(dimension) if dimension else pl.lit("").alias(DIMENSION_VALUE)
    conditions = {measure.where for measure in measures}
    rows = snapshot.select(
        pl.col(start_column).alias("start"),
        pl.col(end_column).alias("end"),
        group,
        *(
            (pl.sql_expr(where).fill_null(False) if where else pl.lit(True)).alias(f"where_{index}")
            for index, where in enumerate(sorted(conditions, key=str))
        ),
    ).collect()
    where_column = {where: f"where_{index}" for index, where in enumerate(sorted(conditions, key=str))}
    groups = rows.select(DIMENSION_VALUE).unique()
    if dimension is None:
        groups = pl.DataFrame({DIMENSION_VALUE: [""]})
    queries = wanted.join(groups, how="cross").with_columns(before=pl.col("period_start") - timedelta(days=1))
    keys = [*PERIOD_KEY, DIMENSION_VALUE]
    counted = queries.select(keys)
    for where, column in where_column.items():
        counts = _span_counts(rows.filter(pl.col(column)), queries, calendar)
        s_before, s_end = pl.col("started_before"), pl.col("started_by_end")
        e_before, e_end = pl.col("ended_before"), pl.col("ended_by_end")
        m_before, m_end = pl.col("spanned_before"), pl.col("spanned_by_end")
        within = pl.col("within")
        formulas = {
            "active_at_start": s_before - m_before,
            "active_at_end": s_end - m_end,
            "started": s_end - s_before,
            "ended": e_end - e_before,
            "retained": s_before - e_end + within,
            "ended_from_start": e_end - within - m_before,
        }
        counted = counted.join(
            counts.select(
                *keys,
                *(
                    formulas[measure.agg].alias(measure.name)
                    for measure in measures
                    if measure.where == where
                ),
            ),
            on=keys,
            how="left",
        )
    names = [measure.name for measure in measures]
    result = counted.select(keys + names).cast({name: pl.Int64() for name in names})  # type: ignore[arg-type]
    return (result if dimension else result.drop(DIMENSION_VALUE)).lazy()


def _counts_by(rows: pl.DataFrame, day: pl.Expr, name: str, queries: pl.DataFrame, on: str) -> pl.DataFrame:
    """For each query (PERIOD_KEY, dimension_value, `on`: a day), the rows of its dimension value whose
    `day` is on or before the query's day: a running count joined as of that day."""
    running = (
        rows.select(DIMENSION_VALUE, day.alias("day"))
        .drop_nulls("day")
        .group_by(DIMENSION_VALUE, "day")
        .len()
        .sort(DIMENSION_VALUE, "day")
        .with_columns(pl.col("len").cast(pl.Int64()).cum_sum().over(DIMENSION_VALUE).alias(name))
        .select(DIMENSION_VALUE, "day", name)
        .sort("day")
    )
    return (
        queries.sort(on)
        .join_asof(
            running,
            left_on=on,
            right_on="day",
            by=DIMENSION_VALUE,
            strategy="backward",
            check_sortedness=False,  # both sorted just above
        )
        .select(*PERIOD_KEY, DIMENSION_VALUE, pl.col(name).fill_null(0))
    )


def _span_counts(rows: pl.DataFrame, queries: pl.DataFrame, calendar: Calendar) -> pl.DataFrame:
    """S, E, M at each query's day before its start (`before`) and at its end, and W, per query (see
    `span_measures`). `rows`: start, end (Date), dimension_value."""
    keys = [*PERIOD_KEY, DIMENSION_VALUE]
    spanned = pl.when(pl.col("end").is_not_null()).then(pl.max_horizontal("start", "end"))
    counts = queries.select(keys)
    for name, day, on in (
        ("started_before", pl.col("start"), "before"),
        ("started_by_end", pl.col("start"), "period_end"),
        ("ended_before", pl.col("end"), "before"),
        ("ended_by_end", pl.col("end"), "period_end"),
        ("spanned_before", spanned, "before"),
        ("spanned_by_end", spanned, "period_end"),
    ):
        counts = counts.join(_counts_by(rows, day, name, queries, on), on=keys, how="left")
    return counts.join(_within(rows, queries, calendar), on=keys, how="left").with_columns(
        pl.col("within").fill_null(0)
    )


def _within(rows: pl.DataFrame, queries: pl.DataFrame, calendar: Calendar) -> pl.DataFrame:
    """W per query: rows started on or after its period_start and ended by its period_end. A row that
    ends before it starts (which the gate keeps out of the warehouse) is counted one by one."""
    ended = rows.filter(pl.col("end").is_not_null())
    ordered = ended.filter(pl.col("end") >= pl.col("start"))
    reversed_rows = ended.filter(pl.col("end") < pl.col("start"))
    keys = [*PERIOD_KEY, DIMENSION_VALUE]
    parts = []
    for (grain,), grouped in queries.group_by("grain"):
        if grain in GRAINS:
            # A row inside a calendar period starts and ends in it: counted by its period and end day,
            # joined as of each period's (possibly to-date) end.
            inside = ordered.with_columns(period_start=calendar.truncate(pl.col("start"), grain)).filter(
                calendar.truncate(pl.col("end"), grain) == pl.col("period_start")
            )
            running = (
                inside.group_by(DIMENSION_VALUE, "period_start", "end")
                .len()
                .sort(DIMENSION_VALUE, "period_start", "end")
                .with_columns(
                    pl.col("len")
                    .cast(pl.Int64())
                    .cum_sum()
                    .over(DIMENSION_VALUE, "period_start")
                    .alias("within")
                )
                .select(DIMENSION_VALUE, "period_start", "end", "within")
                .sort("end")
            )
            parts.append(
                grouped.sort("period_end")
                .join_asof(
                    running,
                    left_on="period_end",
                    right_on="end",
                    by=[DIMENSION_VALUE, "period_start"],
                    strategy="backward",
                    check_sortedness=False,  # both sorted just above
                )
                .select(*keys, pl.col("within").fill_null(0))
            )
            continue
        # Other windows (an objective's period to date) share few starts: per start, the rows started
        # on or after it, by end day.
        for (period_start,), windows in grouped.group_by("period_start"):
            started = ordered.filter(pl.col("start") >= period_start)
            parts.append(_counts_by(started, pl.col("end"), "within", windows, "period_end"))
    within = pl.concat(parts) if parts else queries.select(keys).with_columns(within=pl.lit(0))
    if not reversed_rows.is_empty():
        extra = (
            queries.join(reversed_rows, on=DIMENSION_VALUE)
            .filter(pl.col("start") >= pl.col("period_start"), pl.col("end") <= pl.col("period_end"))
            .group_by(*PERIOD_KEY, DIMENSION_VALUE)
            .len()
        )
        within = (
            within.join(extra, on=[*PERIOD_KEY, DIMENSION_VALUE], how="left")
            .with_columns(within=pl.col("within") + pl.col("len").fill_null(0))
            .drop("len")
        )
    return within.with_columns(pl.col("within").cast(pl.Int64()))


def _no_measures(periods: pl.DataFrame, measures: Sequence[Measure], dimension: str | None) -> pl.LazyFrame:
    """The measures frame of no period: the key columns and a null column per measure, no rows."""
    frame = periods.clear().lazy().select(PERIOD_KEY)
    if dimension is not None:
        frame = frame.with_columns(pl.lit(None, pl.String()).alias(DIMENSION_VALUE))
    return frame.with_columns(pl.lit(None, pl.Float64()).alias(measure.name) for measure in measures)


def period_measures(
    entities: Mapping[str, pl.LazyFrame],
    periods: pl.DataFrame,
    measures: Sequence[Measure],
    catalog: Catalog,
    calendar: Calendar,
    covered_days: Sequence[date] | None = None,
    dimension: str | None = None,
    flows: Mapping[str, Flows] | None = None,
) -> pl.DataFrame:
    """One row per period (PERIOD_KEY, is_complete; with `dimension`, per period and dimension_value)
    with `measures` over the entities' rows (`entities`: frames of the catalog's entities by name), and
    `days_covered` (Int64): the days of [period_start, period_end] in `covered_days`.

    `covered_days` are the days every dated entity given was loaded for (None: every day). Dated rows
    of other days are left out, so measures over two entities never mix one's day without the other's;
    a period holding none of the covered days has null dated measures (no data is not zero), where a
    covered day without rows gives zeros. Span measures do not depend on loaded days.

    `flows` (by entity name): a dated entity's per-day partials and first day counts, kept in the
    warehouse (`store.py`), used instead of its rows.

    Raises CatalogError when `dimension` has more than MAX_DIMENSION_VALUES values.
    """
    by_entity: dict[str, list[Measure]] = {}
    for measure in measures:
        by_entity.setdefault(measure.entity, []).append(measure)
    if covered_days is not None:
        covered = pl.Series("day", sorted(set(covered_days)), dtype=pl.Date())
        entities = {
            name: entities[name].filter(pl.col(date_column).is_in(covered.implode()))
            if (date_column := catalog.entities[name].date_column) is not None
            else entities[name]
            for name in by_entity
            if flows is None or name not in flows
        }
        days_covered = pl.Series(
            "days_covered",
            covered.search_sorted(periods["period_end"], side="right")
            - covered.search_sorted(periods["period_start"], side="left"),
            dtype=pl.Int64(),
        )
    else:
        days_covered = periods.select(_calendar_days(pl.col("period_start"), pl.col("period_end")))["days"]
    base = periods.with_columns(days_covered=days_covered.cast(pl.Int64())).lazy()
    keys = PERIOD_KEY + ([DIMENSION_VALUE] if dimension else [])
    frames = []
    for name, entity_measures in by_entity.items():
        entity = catalog.entities[name]
        if flows is not None and name in flows:
            partials = flows[name].partials
            if covered_days is not None:
                partials = partials.filter(pl.col("day").is_in(covered.implode()))
            frames.append(
                flow_measures_from(
                    partials, flows[name].counts, periods, entity_measures, calendar, dimension
                )
            )
        elif entity.is_dated:
            frames.append(
                flow_measures(entities[name], periods, entity, entity_measures, calendar, dimension)
            )
        else:
            frames.append(
                span_measures(entities[name], periods, entity, entity_measures, calendar, dimension)
            )
    if dimension is None:
        joined = base
        for frame in frames:
            joined = joined.join(frame, on=PERIOD_KEY, how="left")
    else:
        values = frames[0]
        for frame in frames[1:]:
            values = values.join(frame, on=keys, how="full", coalesce=True)
        joined = base.join(values, on=PERIOD_KEY, how="inner").with_columns(
            pl.col(measure.name).fill_null(measure.empty_value)
            for measure in measures
            if measure.empty_value is not None
        )
    # A dated measure over a period none of whose days is covered has no value.
    joined = joined.with_columns(
        pl.when(pl.col("days_covered") > 0).then(pl.col(measure.name)).alias(measure.name)
        for measure in measures
        if catalog.entities[measure.entity].is_dated
    )
    result = joined.collect()
    if dimension is not None:
        count = result[DIMENSION_VALUE].n_unique()
        if count > MAX_DIMENSION_VALUES:
            raise CatalogError(
                f"dimension {dimension!r} has {count} values in the rows read (more than {MAX_DIMENSION_VALUES}): "
                "a dimension is for grouping into a few labelled rows; remove it from the KPI's dimensions"
            )
    return result


def _calendar_days(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    return ((end - start).dt.total_days() + 1).cast(pl.Int64()).alias("days")


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
    entities: Mapping[str, pl.LazyFrame],
    periods: pl.DataFrame,
    kpis: Sequence[KpiDefinition],
    catalog: Catalog,
    calendar: Calendar,
    loaded_days: dict[str, list[date]] | None = None,
    kpi_days: Sequence[date] = (),
    with_dimensions: bool = True,
    flows: Mapping[str, Flows] | None = None,
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA; previous and year-ago values still null) of `kpis` over
    `periods`: a total row per KPI and period, and with `with_dimensions` a row per dimension value
    of each KPI dimension. Each KPI is computed over the days all its dated inputs cover
    (`loaded_days` by entity; None: every day; `kpi_days`: the days the runs covered, for KPIs over
    snapshots only).

    KPIs that share their dated inputs share one pass over the rows. `flows` (by entity name): the
    per-day partials kept in the warehouse, used instead of the entity's rows, except for a distinct
    count over days some of which another input does not cover (read from `entities`, which may then
    read the rows on demand). Raises CatalogError when a dimension has more than MAX_DIMENSION_VALUES
    values.
    """
    groups: dict[tuple[str, ...], list[KpiDefinition]] = {}
    for kpi in kpis:
        groups.setdefault(catalog.dated_inputs(kpi), []).append(kpi)
    parts = []
    for dated, members in groups.items():
        days = None if loaded_days is None else covered_days(dated, loaded_days, kpi_days)
        group_flows = _usable_flows(flows, members, catalog, days)
        measures = period_measures(
            entities, periods, catalog.measures_of(members), catalog, calendar, days, flows=group_flows
        )
        parts.append(kpi_values(measures, members))
        if not with_dimensions:
            continue
        for dimension in dict.fromkeys(d for kpi in members for d in kpi.dimensions):
            # KPIs over the same entities share a pass; a KPI's values of a dimension are those of
            # its own entities' rows, never of another KPI's entity.
            by_inputs: dict[tuple[str, ...], list[KpiDefinition]] = {}
            for kpi in members:
                if dimension in kpi.dimensions:
                    by_inputs.setdefault(tuple(sorted(kpi.inputs)), []).append(kpi)
            for users in by_inputs.values():
                measures = period_measures(
                    entities,
                    periods,
                    catalog.measures_of(users),
                    catalog,
                    calendar,
                    days,
                    dimension,
                    group_flows,
                )
                parts.append(kpi_values(measures, users, dimension))
    if not parts:
        return pl.DataFrame(schema=KPI_VALUE_SCHEMA)
    return pl.concat(parts)


def _usable_flows(
    flows: Mapping[str, Flows] | None,
    kpis: Sequence[KpiDefinition],
    catalog: Catalog,
    covered: Sequence[date] | None,
) -> dict[str, Flows] | None:
    """The `flows` that give `kpis` their measures over the `covered` days: all, but an entity's whose
    distinct counts would count a day that is not covered (its rows are read instead)."""
    if flows is None:
        return None
    distinct = {
        measure.entity for measure in catalog.measures_of(list(kpis)) if measure.agg == "count_distinct"
    }
    return {
        name: entity_flows
        for name, entity_flows in flows.items()
        if name not in distinct or covered is None or not entity_flows.uncovered(covered)
    }


def kpi_values(
    measures: pl.DataFrame, kpis: Sequence[KpiDefinition], dimension: str | None = None
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA; previous and year-ago values still null) for each KPI and
    row of `measures` (from `period_measures`, by `dimension` if given): value = numerator /
    denominator * scale over the row's own measures (as Float64). A value is complete when its
    calendar period has ended and every one of its days is covered; a ratio with a zero denominator
    is null."""
    days_covered = (
        pl.col("days_covered")
        if "days_covered" in measures.columns
        else _calendar_days(pl.col("period_start"), pl.col("period_end"))
    )
    is_complete = pl.col("is_complete") & (
        days_covered == _calendar_days(pl.col("period_start"), pl.col("period_end"))
    )
    names = [kpi_measure for kpi in kpis for kpi_measure in kpi.measures]
    measures = measures.with_columns(pl.col(name).cast(pl.Float64()) for name in dict.fromkeys(names))
    frames = []
    for kpi in kpis:
        numerator = kpi.numerator_expression()
        denominator = kpi.denominator_expression()
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
                pl.lit(dimension or TOTAL).alias("dimension"),
                (pl.col(DIMENSION_VALUE) if dimension else pl.lit(TOTAL)).alias("dimension_value"),
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
LOOKUP = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]


def attach_previous_values(rows: pl.DataFrame, known: pl.DataFrame, calendar: Calendar) -> pl.DataFrame:
    """Fill previous_value (the same KPI and dimension value over the calendar-aligned previous period)
    and year_ago_value (over the period a year earlier: 364 days for a day or week, 12 months for the
    others), looked up in `rows` themselves and in `known` (LOOKUP, value, is_complete: values already
    loaded). A period that is not complete (partly covered) gives no comparison: null."""
    columns = [*LOOKUP, "value", "is_complete"]
    values = (
        pl.concat([known.select(columns), rows.select(columns)])
        .unique(LOOKUP, keep="last", maintain_order=True)
        .select(*LOOKUP, pl.when(pl.col("is_complete")).then(pl.col("value")).alias("compared_value"))
    )
    matched = ["kpi_id", "grain", "earlier_start", "dimension", "dimension_value"]
    attached = rows
    for column, shift in COMPARISONS.items():
        earlier = values.rename({"period_start": "earlier_start", "compared_value": column})
        attached = (
            attached.drop(column)
            .with_columns(
                earlier_start=calendar.shifted_period_start(pl.col("grain"), pl.col("period_start"), shift)
            )
            .join(earlier, on=matched, how="left")
            .drop("earlier_start")
        )
    return attached.select(list(KPI_VALUE_SCHEMA))


def compared_periods(periods: pl.DataFrame, calendar: Calendar) -> pl.DataFrame:
    """(grain, period_start) of the periods `periods` are compared with: the previous one and the one
    a year earlier."""
    return pl.concat(
        periods.select("grain", calendar.shifted_period_start(pl.col("grain"), pl.col("period_start"), shift))
        for shift in COMPARISONS.values()
    ).drop_nulls()


def following_periods(rows: pl.DataFrame, calendar: Calendar) -> pl.DataFrame:
    """(kpi_id, grain, period_start, dimension, dimension_value, column, compared_value) for the
    periods that compare themselves with `rows`: the next period (its previous_value) and the one a
    year later (its year_ago_value). Loaded earlier, they must now hold the value just computed (null
    when it is not complete)."""
    return pl.concat(
        rows.select(
            "kpi_id",
            "grain",
            calendar.shifted_period_start(pl.col("grain"), pl.col("period_start"), f"following_{shift}"),
            "dimension",
            "dimension_value",
            pl.lit(column).alias("column"),
            pl.when(pl.col("is_complete")).then(pl.col("value")).alias("compared_value"),
        )
        for column, shift in COMPARISONS.items()
    ).drop_nulls("period_start")
