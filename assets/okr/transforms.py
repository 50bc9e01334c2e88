"""Pure Polars: key results as of a day, from the KPI over the objective's period to that day.

A key result whose window [start, min(T, end)] is not covered by every day of the KPI's inputs is
`unknown`, whatever its partial actual: `days_covered` says how many days were.

On an as-of date T inside or after an objective's period [start, end]:
actual = the KPI over [start, min(T, end)]; progress_raw = (actual - baseline) / (target - baseline)
(a falling target works the same way); progress = progress_raw clamped to [0, 1]; expected progress =
days of the period elapsed up to T, inclusive / days in the period; status as DESIGN.md says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from kpi.config import ObjectiveConfig
from kpi.schema import KEY_RESULT_SCHEMA as KEY_RESULT_SCHEMA

WINDOW_GRAIN = "window"
ON_TRACK_SLACK = 0.10
AT_RISK_SLACK = 0.25
# Progress and expected progress are fractions of floats: on a boundary (0.30 vs 0.40 - 0.10) they may
# differ in the last bit. Compare with a tolerance far below anything a person reads.
TOLERANCE = 1e-9


def key_result_frame(objectives: Sequence[ObjectiveConfig]) -> pl.DataFrame:
    """One row per key result with its objective's period."""
    return pl.DataFrame(
        [
            (objective.id, kr.id, kr.kpi_id, objective.start, objective.end, kr.baseline, kr.target)
            for objective in objectives
            for kr in objective.key_results
        ],
        schema={
            "objective_id": pl.String(),
            "key_result_id": pl.String(),
            "kpi_id": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "baseline": pl.Float64(),
            "target": pl.Float64(),
        },
        orient="row",
    )


def as_of_windows(key_results: pl.DataFrame, as_of_days: Sequence[date]) -> pl.DataFrame:
    """Each key result on each as-of day inside or after its period, with the window its actual covers."""
    days = pl.DataFrame({"as_of": list(as_of_days)}, schema={"as_of": pl.Date()})
    return (
        key_results.join(days, how="cross")
        .filter(pl.col("as_of") >= pl.col("period_start"))
        .with_columns(window_end=pl.min_horizontal("as_of", "period_end"))
    )


def measured_windows(windows: pl.DataFrame) -> pl.DataFrame:
    """The distinct windows to compute KPIs over, as periods (grain "window")."""
    return (
        windows.select(
            pl.lit(WINDOW_GRAIN).alias("grain"),
            "period_start",
            pl.col("window_end").alias("period_end"),
            (pl.col("window_end") == pl.col("period_end")).alias("is_complete"),
        )
        .unique(["period_start", "period_end"], maintain_order=True)
        .select("grain", "period_start", "period_end", "is_complete")
    )


def key_results(windows: pl.DataFrame, window_values: pl.DataFrame) -> pl.DataFrame:
    """key_results rows: `window_values` are kpi_values rows over the windows (grain "window")."""
    actuals = window_values.select(
        "kpi_id",
        "period_start",
        pl.col("period_end").alias("window_end"),
        pl.col("value").alias("actual"),
        "days_covered",
    )
    progress_raw = (pl.col("actual") - pl.col("baseline")) / (pl.col("target") - pl.col("baseline"))
    period_days = (pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1
    elapsed_days = (pl.col("window_end") - pl.col("period_start")).dt.total_days() + 1
    progress = pl.col("progress")
    expected = pl.col("expected_progress")
    # No data is not zero, and half the data is not a trend: a window not fully covered is unknown.
    status = (
        pl.when(pl.col("actual").is_null() | (pl.col("days_covered").fill_null(0) < elapsed_days))
        .then(pl.lit("unknown"))
        .when(progress >= 1 - TOLERANCE)
        .then(pl.lit("achieved"))
        .when(pl.col("as_of") > pl.col("period_end"))
        .then(pl.lit("missed"))
        .when(progress >= expected - ON_TRACK_SLACK - TOLERANCE)
        .then(pl.lit("on_track"))
        .when(progress >= expected - AT_RISK_SLACK - TOLERANCE)
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("off_track"))
    )
    return (
        windows.join(actuals, on=["kpi_id", "period_start", "window_end"], how="left")
        .with_columns(progress_raw=progress_raw, expected_progress=elapsed_days / period_days)
        .with_columns(progress=pl.col("progress_raw").clip(0.0, 1.0))
        .with_columns(status=status)
        .select(list(KEY_RESULT_SCHEMA))
        .cast(KEY_RESULT_SCHEMA)  # type: ignore[arg-type]
        .sort("as_of", "objective_id", "key_result_id")
    )
