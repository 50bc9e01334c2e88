"""The nightly schedule: 02:00 in the reporting time zone, for the previous day's partition."""

from __future__ import annotations

import dagster as dg

NIGHTLY_HOUR = 2


def build_nightly_schedule(job: dg.UnresolvedAssetJobDefinition):  # returns one of Dagster's schedule types
    # A daily-partitioned job's schedule targets the last complete partition: yesterday.
    return dg.build_schedule_from_partitioned_job(
        job,
        name="nightly",
        hour_of_day=NIGHTLY_HOUR,
        minute_of_hour=0,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every night at 02:00 (reporting time zone): yesterday's partition.",
    )
