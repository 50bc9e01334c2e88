"""KPI values from the warehouse's loaded rows, for the kpi_values and key_results assets alike.

No Dagster here: it reads the warehouse and calls the pure transforms of `transforms.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl

from assets.kpis.store import measure_set, stored_flows
from assets.kpis.transforms import attach_previous_values, compared_periods, compute_kpi_rows
from kpi.catalog import KpiDefinition
from kpi.config import PipelineConfig
from kpi.periods import days_between
from kpi.warehouse import KPI_VALUES_DAYS, Warehouse, loaded_days_of, read_kpi_values


class EntityRows(Mapping[str, pl.LazyFrame]):
    """The rows of the config's sources of each entity of `names` in [first, last] (a span entity: its
    whole snapshot), read from the warehouse when first asked for."""

    def __init__(
        self, warehouse: Warehouse, config: PipelineConfig, names: set[str], first: date, last: date
    ) -> None:
        self._warehouse, self._config, self._names = warehouse, config, sorted(names)
        self._first, self._last = first, last
        self._read: dict[str, pl.LazyFrame] = {}

    def __getitem__(self, name: str) -> pl.LazyFrame:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._read:
            sources = self._config.sources_by_entity()[name]
            entity = self._config.catalog.entities[name]
            self._read[name] = self._warehouse.read_entity(entity, self._first, self._last, sources).lazy()
        return self._read[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def kpi_rows_over(
    warehouse: Warehouse,
    config: PipelineConfig,
    periods: pl.DataFrame,
    kpis: Sequence[KpiDefinition],
    run_days: Sequence[date],
    with_dimensions: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA) of `kpis` over `periods` (calendar periods or an objective's
    windows) from what the config's sources loaded, each KPI over the days all of its dated inputs'
    sources loaded; a KPI over snapshots only covers the days kpi_values was computed for, `run_days`
    included. Dated entities' flow measures come from the per-day measures the warehouse keeps
    (`store.py`, brought up to date first), span entities' from their snapshot."""
    catalog = config.catalog
    first, last = cast(date, periods["period_start"].min()), cast(date, periods["period_end"].max())
    used = {name for kpi in kpis for name in kpi.inputs}
    sources_by_entity = {
        name: sources for name, sources in config.sources_by_entity().items() if name in used
    }
    latest = max(warehouse.latest_loaded_day() or last, max(run_days, default=last))
    flows = {
        name: stored_flows(warehouse, measure_set(config, catalog.entities[name]), periods, latest, log)
        for name in sorted(sources_by_entity)
        if catalog.entities[name].is_dated
    }
    kpi_days = [*warehouse.loaded_days(KPI_VALUES_DAYS), *run_days]
    return compute_kpi_rows(
        EntityRows(warehouse, config, set(sources_by_entity), first, last),
        periods,
        kpis,
        catalog,
        config.reporting_calendar,
        loaded_days_of(warehouse, sources_by_entity, catalog.entities),
        kpi_days,
        with_dimensions,
        flows,
    )


@dataclass(frozen=True)
class ComputedValues:
    rows: pl.DataFrame
    """kpi_values rows with their previous and year-ago values."""
    periods: pl.DataFrame
    """The periods recomputed (PERIOD_SCHEMA): their rows are replaced."""
    days: list[date]
    """The days computed for: the run's, and earlier days whose rows changed since (recorded as such)."""
    latest: date
    """The latest loaded day: periods after it cannot be in the warehouse yet."""
    vanished: pl.DataFrame
    """kpi_values rows of the recomputed periods that the recomputation no longer has (a dimension
    value whose rows all moved away): the periods comparing themselves with them lose that value."""


def compute_kpi_values(
    warehouse: Warehouse,
    config: PipelineConfig,
    first_day: date,
    last_day: date,
    log: Callable[[str], None],
) -> ComputedValues:
    """Every period holding a day of [first_day, last_day], or an earlier day whose rows changed since
    kpi_values were computed for it (a row its source moved away, a day whose KPIs failed), each over
    all its loaded days."""
    latest = max(warehouse.latest_loaded_day() or last_day, last_day)
    calendar = config.reporting_calendar
    stale = [
        day
        for day in warehouse.days_to_recompute(KPI_VALUES_DAYS, config.provided_entities)
        if not first_day <= day <= last_day and day <= latest
    ]
    if stale:
        log(f"recomputing the periods of {', '.join(map(str, stale))}: their rows changed since")
    periods = calendar.periods_containing(first_day, last_day, latest, stale)
    kpis, skipped = config.catalog.computable(config.provided_entities)
    for kpi_id, missing in skipped.items():
        log(f"kpi {kpi_id} skipped: no source provides {', '.join(missing)}")
    run_days = days_between(first_day, last_day)
    rows = kpi_rows_over(warehouse, config, periods, kpis, run_days, log=log)
    recomputed = periods.select("grain", "period_start")
    loaded = read_kpi_values(warehouse, pl.concat([compared_periods(periods, calendar), recomputed]).unique())
    # What the warehouse holds for the periods compared with, but not for those recomputed now: their
    # rows are about to be replaced, and a value they no longer have must not be compared with.
    known = loaded.join(recomputed, on=["grain", "period_start"], how="anti")
    rows = attach_previous_values(rows, known, calendar)
    key = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]
    vanished = loaded.join(recomputed, on=["grain", "period_start"], how="semi").join(
        rows.select(key), on=key, how="anti"
    )
    return ComputedValues(rows, periods, sorted({*run_days, *stale}), latest, vanished)
