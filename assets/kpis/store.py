"""Flow measures kept per day in the warehouse, so a run reads its new days' rows and not the year's.

For each dated entity the KPIs use, `stored_flows` brings `measure_days` (per-day partials) and
`measure_first_days` (each distinct value's first day in each calendar period) up to date for the
days a run needs, then returns them for `partials.rollup`:

- a day is summarized again when its rows were loaded after it was summarized (loaded_partitions),
  or when it never was;
- a period's first days are extended with the new days' values when those days all come after the
  days it already holds (a nightly run), and recomputed from all its rows otherwise (late data, a
  restated day);
- what the entity's measures were computed under (measures, dimensions, sources, calendar) is kept in
  `measure_sets`: when the config changes it, everything kept for the entity is dropped and computed
  again.

An objective's window from its start is counted from the calendar period that starts with it and
holds it (a quarter's objective from the quarter's first days); another window reads its rows.

No Dagster here: the kpi_values and key_results assets call it through `compute.py`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

import polars as pl
import sqlalchemy as sa

from assets.kpis.partials import (
    FIRST_DAY_COUNT_SCHEMA,
    PARTIAL_SCHEMA,
    TOTAL,
    Flows,
    day_partials,
    first_day_counts,
    first_days,
    scopes_of,
)
from kpi.catalog import Measure
from kpi.config import PipelineConfig
from kpi.entities import Entity
from kpi.periods import GRAINS, Calendar
from kpi.schema import loaded_partitions, measure_days, measure_first_days, measure_sets
from kpi.warehouse import Warehouse, keys_match


@dataclass(frozen=True)
class MeasureSet:
    """An entity's flow measures as kept: the measures, the dimensions they are kept by, and the
    definition that says whether what is kept still holds."""

    entity: Entity
    measures: list[Measure]
    dimensions: list[str]
    """'' (the total) first, then the dimension columns of the KPIs over the measures."""
    sources: list[str]
    calendar: Calendar

    @property
    def definition(self) -> str:
        return json.dumps(
            {
                "measures": [[m.name, m.agg, m.column, m.where] for m in self.measures],
                "dimensions": self.dimensions,
                "sources": sorted(self.sources),
                "fiscal_year_start_month": self.calendar.fiscal_year_start_month,
                "grains": list(self.calendar.grains),
            },
            sort_keys=True,
        )

    @property
    def distinct(self) -> list[Measure]:
        return [measure for measure in self.measures if measure.agg == "count_distinct"]


def measure_set(config: PipelineConfig, entity: Entity) -> MeasureSet:
    """The flow measures of `entity` that the config's computable KPIs use, with those KPIs'
    dimensions: the same set whichever asset computes, so what one keeps the other reads."""
    catalog = config.catalog
    kpis, _ = catalog.computable(config.provided_entities)
    measures = [
        measure
        for measure in catalog.measures_of(kpis)
        if measure.entity == entity.name and not measure.is_span
    ]
    names = {measure.name for measure in measures}
    dimensions = sorted({d for kpi in kpis if names & set(kpi.measures) for d in kpi.dimensions})
    return MeasureSet(
        entity,
        measures,
        [TOTAL, *dimensions],
        config.sources_by_entity().get(entity.name, []),
        config.reporting_calendar,
    )


def stored_flows(
    warehouse: Warehouse,
    kept: MeasureSet,
    periods: pl.DataFrame,
    latest: date,
    log: Callable[[str], None],
) -> Flows:
    """The partials and first day counts of `kept`'s entity for `periods` (PERIOD_KEY), after bringing
    what the warehouse keeps up to date (see the module) from the periods' first day through `latest`,
    the latest loaded day. Reads the rows of the days summarized now, and of the periods whose first
    days are recomputed."""
    entity = kept.entity
    first = cast(date, periods["period_start"].min())
    # Kept up to date through the latest day, whatever the periods' ends: a period's first days are
    # then never written from a day that is not summarized too.
    last = latest
    if first > last or not kept.measures:
        return Flows(pl.DataFrame(schema=PARTIAL_SCHEMA), pl.DataFrame(schema=FIRST_DAY_COUNT_SCHEMA))
    _check_definition(warehouse, kept, log)
    scopes, aliases, windows = _scopes(periods.filter(pl.col("period_start") <= last), kept.calendar, latest)
    if not kept.distinct:
        scopes, aliases, windows = scopes.clear(), aliases.clear(), windows.clear()
    needed = set(pl.date_range(first, last, eager=True).to_list())
    # Every calendar period holding a day summarized keeps its first days up to date, whichever periods
    # a run asks for: what the warehouse keeps of a period always holds exactly its summarized days.
    holding = _periods_holding(needed, kept.calendar, latest) if kept.distinct else scopes.clear()
    updated = pl.concat([scopes, holding]).unique(["grain", "period_start"]).sort("grain", "period_start")
    through = max([last, *updated["period_end"]])
    earliest = min([first, *updated["period_start"]])
    summarized, stale = _summarized_days(warehouse, kept, earliest, through)
    to_summarize = sorted((needed - summarized) | (stale & needed))
    # A period's first days from its earliest new day on are those of days summarized now: when every
    # day it holds from there on is summarized again (a new day after the others, the latest day
    # loaded again), they are replaced from those days' rows alone; otherwise (late data, an earlier
    # day restated) they are recomputed from all its rows.
    again = set(to_summarize)
    fresh, extended, recomputed = [], [], []
    for grain, period_start, period_end in updated.iter_rows():
        new = [day for day in to_summarize if period_start <= day <= period_end]
        if not new:
            continue
        held = [day for day in summarized if period_start <= day <= period_end]
        since = min(new)
        if not held:
            fresh.append((grain, period_start, period_end))
        elif all(day in again for day in held if day >= since):
            extended.append((grain, period_start, period_end, since))
        else:
            recomputed.append((grain, period_start, period_end))
    read_days = set(to_summarize)
    for _, period_start, period_end in [*fresh, *recomputed, *windows.iter_rows()]:
        read_days |= set(pl.date_range(period_start, period_end, eager=True).to_list())
    if read_days:
        log(f"{entity.name}: summarizing {len(to_summarize)} day(s) from the rows of {len(read_days)}")
        rows = warehouse.read_entity(entity, sources=kept.sources, days=sorted(read_days)).lazy()
    else:
        rows = pl.LazyFrame(schema=entity.schema)
    if to_summarize:
        # a scope new to the warehouse is written like a recomputed one: all its rows, no key to skip
        recomputed = [*fresh, *recomputed]
        _keep(
            warehouse,
            kept,
            rows,
            to_summarize,
            _frame(extended, {**scopes.schema, "since": pl.Date()}),
            _frame(recomputed, scopes.schema),
        )
    partials = warehouse.read(
        sa.select(*(measure_days.c[column] for column in PARTIAL_SCHEMA)).where(
            measure_days.c.measure.in_([measure.name for measure in kept.measures]),
            measure_days.c.day.between(first, last),
        ),
        PARTIAL_SCHEMA,
    )
    counts = _kept_counts(warehouse, kept, scopes)
    parts = [counts, counts.join(aliases, on=["grain", "period_start"]).with_columns(grain=pl.lit("window"))]
    date_column = cast(str, entity.date_column)
    for measure in kept.distinct if not windows.is_empty() else []:
        parts.append(first_day_counts(rows, date_column, measure, kept.dimensions, windows, kept.calendar))
    return Flows(partials, pl.concat(parts).select(list(FIRST_DAY_COUNT_SCHEMA)))


def _periods_holding(days: set[date], calendar: Calendar, latest: date) -> pl.DataFrame:
    """(grain, period_start, period_end: its calendar end or `latest`) of the calendar periods but days
    holding one of `days`."""
    starts = {
        (grain, calendar.period_start(day, grain))
        for day in days
        for grain in calendar.grains
        if grain != "day"
    }
    return pl.DataFrame(
        [(grain, start, min(calendar.period_end(start, grain), latest)) for grain, start in sorted(starts)],
        schema={"grain": pl.String(), "period_start": pl.Date(), "period_end": pl.Date()},
        orient="row",
    )


def _frame(scopes: list[tuple], schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(scopes, schema=schema, orient="row")


def _check_definition(warehouse: Warehouse, kept: MeasureSet, log: Callable[[str], None]) -> None:
    """Drop what is kept for the entity when it was computed under another definition."""
    name, definition = kept.entity.name, kept.definition
    with warehouse.transaction() as connection:
        held = connection.execute(
            sa.select(measure_sets.c.definition).where(measure_sets.c.entity == name)
        ).scalar()
        if held == definition:
            return
        if held is not None:
            log(f"{name}: its measures, dimensions, sources or calendar changed: summarizing its days again")
        connection.execute(measure_days.delete().where(measure_days.c.entity == name))
        connection.execute(measure_first_days.delete().where(measure_first_days.c.entity == name))
        warehouse.replace(
            connection,
            measure_sets,
            pl.DataFrame(
                {"entity": [name], "definition": [definition], "defined_at": [datetime.now(UTC)]},
                schema={
                    "entity": pl.String(),
                    "definition": pl.String(),
                    "defined_at": pl.Datetime("us", "UTC"),
                },
            ),
            measure_sets.c.entity == name,
        )


def _summarized_days(
    warehouse: Warehouse, kept: MeasureSet, first: date, last: date
) -> tuple[set[date], set[date]]:
    """The days of [first, last] summarized, and those of them whose rows were loaded since."""
    totals = (
        (measure_days.c.measure == kept.measures[0].name)
        & (measure_days.c.dimension == TOTAL)
        & measure_days.c.day.between(first, last)
    )
    with warehouse.engine.connect() as connection:
        summarized = {day for (day,) in connection.execute(sa.select(measure_days.c.day).where(totals))}
        stale = {
            day
            for (day,) in connection.execute(
                sa.select(measure_days.c.day)
                .join(
                    loaded_partitions,
                    (loaded_partitions.c.partition_date == measure_days.c.day)
                    & (loaded_partitions.c.entity == kept.entity.name),
                )
                # loaded in the very microsecond it was summarized in counts as after
                .where(totals, loaded_partitions.c.loaded_at >= measure_days.c.computed_at)
            )
        }
    return summarized, stale


def _scopes(
    periods: pl.DataFrame, calendar: Calendar, latest: date
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The scopes of `periods`' distinct counts, as (grain, period_start, period_end):
    - the calendar periods whose first days the warehouse keeps, each to its calendar end or `latest`;
    - aliases (grain, period_start: a kept calendar period) of the windows that start the calendar
      period holding them: counted from its first days;
    - the other windows, to their latest end: counted from their rows."""
    scopes = scopes_of(periods)
    kept: list[tuple[str, date]] = [
        (grain, start) for grain, start, _ in scopes.filter(pl.col("grain").is_in(GRAINS)).iter_rows()
    ]
    aliases, windows = [], []
    for grain, start, end in scopes.filter(~pl.col("grain").is_in(GRAINS)).iter_rows():
        holding = [
            period_grain
            for period_grain in calendar.grains
            if period_grain != "day"
            and calendar.period_start(start, period_grain) == start
            and calendar.period_end(start, period_grain) >= end
        ]
        if holding:
            kept.append((holding[0], start))
            aliases.append((holding[0], start))
        else:
            windows.append((grain, start, end))
    kept_scopes = pl.DataFrame(
        [
            (grain, start, min(calendar.period_end(start, grain), latest))  # type: ignore[arg-type]
            for grain, start in sorted(set(kept))
        ],
        schema=scopes.schema,
        orient="row",
    )
    alias_frame = pl.DataFrame(
        aliases, schema={"grain": pl.String(), "period_start": pl.Date()}, orient="row"
    )
    return kept_scopes, alias_frame.unique(), pl.DataFrame(windows, schema=scopes.schema, orient="row")


def _keep(
    warehouse: Warehouse,
    kept: MeasureSet,
    rows: pl.LazyFrame,
    days: list[date],
    extended: pl.DataFrame,
    recomputed: pl.DataFrame,
) -> None:
    """Write the partials of `days` and the first days of the scopes `extended` (grain, period_start,
    period_end, since: those from `since` on replaced by the values of the new days' rows not held
    from before) and `recomputed` (all of them, from all their days' rows: a scope new to the
    warehouse, or one with a day changed before days that did not), in one transaction."""
    name = kept.entity.name
    date_column = cast(str, kept.entity.date_column)
    now = datetime.now(UTC)
    partials = day_partials(rows, date_column, kept.measures, kept.dimensions, days).with_columns(
        entity=pl.lit(name), computed_at=pl.lit(now, pl.Datetime("us", "UTC"))
    )
    new_rows = rows.filter(pl.col(date_column).is_in(pl.Series(days, dtype=pl.Date()).implode()))
    with warehouse.transaction() as connection:
        warehouse.replace(
            connection,
            measure_days,
            partials,
            measure_days.c.measure.in_([measure.name for measure in kept.measures])
            & measure_days.c.day.in_(days),
        )
        for measure in kept.distinct:
            if not extended.is_empty():
                connection.execute(
                    measure_first_days.delete().where(
                        measure_first_days.c.measure == measure.name,
                        sa.or_(
                            *(
                                (measure_first_days.c.grain == grain)
                                & (measure_first_days.c.period_start == period_start)
                                & (measure_first_days.c.first_day >= since)
                                for grain, period_start, _, since in extended.iter_rows()
                            )
                        ),
                    )
                )
                found = first_days(
                    new_rows, date_column, measure, kept.dimensions, extended.drop("since"), kept.calendar
                )
                warehouse.insert_new(connection, measure_first_days, _stored(found, name, warehouse))
            if not recomputed.is_empty():
                connection.execute(
                    measure_first_days.delete().where(
                        measure_first_days.c.measure == measure.name,
                        keys_match(measure_first_days, recomputed.select("grain", "period_start")),
                    )
                )
                found = first_days(rows, date_column, measure, kept.dimensions, recomputed, kept.calendar)
                warehouse.insert(connection, measure_first_days, _stored(found, name, warehouse))


def _stored(found: pl.LazyFrame, entity: str, warehouse: Warehouse) -> pl.DataFrame:
    """`first_days` rows as measure_first_days rows: the value as text, as its UTF-8 bytes on
    MySQL/MariaDB (a binary column: see kpi/schema.py)."""
    value = pl.col("value").cast(pl.String())
    if warehouse.engine.dialect.name in ("mysql", "mariadb"):
        value = value.cast(pl.Binary())
    return found.with_columns(value, entity=pl.lit(entity)).collect()


def _kept_counts(warehouse: Warehouse, kept: MeasureSet, scopes: pl.DataFrame) -> pl.DataFrame:
    """FIRST_DAY_COUNT_SCHEMA of the kept scopes (grain, period_start), counted in the warehouse."""
    if scopes.is_empty():
        return pl.DataFrame(schema=FIRST_DAY_COUNT_SCHEMA)
    table = measure_first_days
    keys = [table.c[column] for column in FIRST_DAY_COUNT_SCHEMA if column != "new_values"]
    statement = (
        sa.select(*keys, sa.func.count().label("new_values"))
        .where(
            table.c.measure.in_([measure.name for measure in kept.distinct]),
            keys_match(table, scopes.select("grain", "period_start")),
        )
        .group_by(*keys)
    )
    return warehouse.read(statement, FIRST_DAY_COUNT_SCHEMA)
