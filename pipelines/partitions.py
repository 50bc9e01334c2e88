"""The daily partitions every dated asset shares: one per reporting day, in the reporting time zone."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from kpi.config import PipelineConfig


def daily_partitions(config: PipelineConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat(), timezone=config.timezone)


# A range of days is run as one run (a single-run backfill, `kpi run --single-run`): every dated
# asset reads and writes the whole range at once.
SINGLE_RUN = dg.BackfillPolicy.single_run()


def partition_label(context: dg.AssetExecutionContext) -> str:
    """The partition a run covers, for dq_results and quarantine: a day, or `first..last` for a range."""
    first, last = partition_days(context)
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def partition_days(context: dg.AssetExecutionContext) -> tuple[date, date]:
    """The first and last reporting day a run covers: one partition, or a range in a single-run backfill."""
    window = context.partition_time_window
    return window.start.date(), window.end.date() - timedelta(days=1)
