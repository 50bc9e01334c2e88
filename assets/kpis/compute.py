"""KPI values from the warehouse's loaded rows, for the kpi_values and key_results assets alike.

No Dagster here: it reads the warehouse and calls the pure transforms of `transforms.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import cast

import polars as pl

from assets.kpis.definitions import KpiDefinition, computable_kpis
from assets.kpis.transforms import attach_previous_values, compared_periods, compute_kpi_rows
from kpi.periods import days_between, periods_containing
from kpi.warehouse import KPI_VALUES_DAYS, Warehouse, loaded_days_of, read_kpi_values


def kpi_rows_over(
    warehouse: Warehouse,
    sources_by_entity: dict[str, list[str]],
    periods: pl.DataFrame,
    kpis: Sequence[KpiDefinition],
    run_days: Sequence[date],
) -> pl.DataFrame:
    """kpi_values rows (KPI_VALUE_SCHEMA) of `kpis` over `periods` (calendar periods or an objective's
    windows) from the rows the configured sources (`sources_by_entity`) loaded, each KPI over the days
    all of its dated inputs' sources loaded; a KPI over snapshots only covers the days kpi_values was
    computed for, `run_days` included."""
    first, last = cast(date, periods["period_start"].min()), cast(date, periods["period_end"].max())
    frames = {
        name: warehouse.read_entity(name, first, last, sources).lazy()
        for name, sources in sources_by_entity.items()
    }
    kpi_days = [*warehouse.loaded_days(KPI_VALUES_DAYS), *run_days]
    return compute_kpi_rows(frames, periods, kpis, loaded_days_of(warehouse, sources_by_entity), kpi_days)


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


def compute_kpi_values(
    warehouse: Warehouse,
    sources_by_entity: dict[str, list[str]],
    first_day: date,
    last_day: date,
    log: Callable[[str], None],
) -> ComputedValues:
    """Every period holding a day of [first_day, last_day], or an earlier day whose rows changed since
    kpi_values were computed for it (a row its source moved away, a day whose KPIs failed), each over
    all its loaded days."""
    latest = max(warehouse.latest_loaded_day() or last_day, last_day)
    stale = [
        day
        for day in warehouse.days_to_recompute(KPI_VALUES_DAYS, list(sources_by_entity))
        if not first_day <= day <= last_day and day <= latest
    ]
    if stale:
        log(f"recomputing the periods of {', '.join(map(str, stale))}: their rows changed since")
    periods = periods_containing(first_day, last_day, latest, stale)
    kpis, skipped = computable_kpis(list(sources_by_entity))
    for kpi_id, missing in skipped.items():
        log(f"kpi {kpi_id} skipped: no source provides {', '.join(missing)}")
    run_days = days_between(first_day, last_day)
    rows = kpi_rows_over(warehouse, sources_by_entity, periods, kpis, run_days)
    rows = attach_previous_values(rows, read_kpi_values(warehouse, compared_periods(periods)))
    return ComputedValues(rows, periods, sorted({*run_days, *stale}), latest)
