"""Pure Polars: key results and objective progress as of a day (DESIGN.md "Key results").

On an as-of date T inside or after an objective's period [start, end], with E = min(T, end):
- a key result's actual is the KPI (its total row, or its row for one dimension value) over the
  window its `measure` names: `to_date` [start, E]; `trailing_days: N` [E - N + 1, E] (which may reach
  before the start); `latest_complete: GRAIN` the latest calendar period of that grain that ends on or
  before E and starts on or after the start (none yet: no actual).
- increase / decrease: progress_raw = (actual - baseline) / (target - baseline), progress = progress_raw
  clamped to [0, 1], expected progress = days of the period elapsed up to T, inclusive / days in the
  period; `achieved` at progress 1, else after the period `missed`, before it `on_track` within
  on_track_slack of expected, `at_risk` within at_risk_slack, else `off_track`.
- stay_above / stay_below: progress 1 when the actual is on the target's side (the target itself
  included), else 0; expected progress 1; `on_track` / `off_track` until the period ends, then
  `achieved` / `missed` by the last actual.
- `unknown` whenever the actual is null or its window is not covered by every day of the KPI's inputs
  (no data is not zero, and half the data is not a trend): `days_covered` says how many days were.
- an objective's progress is the weight-weighted mean of the progress of its key results that are not
  unknown, its expected progress and status by the increase rule; `unknown` when all of them are.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import polars as pl

from kpi.config import ObjectiveConfig, StatusRules
from kpi.periods import Calendar
from kpi.schema import KEY_RESULT_SCHEMA as KEY_RESULT_SCHEMA
from kpi.schema import OBJECTIVE_PROGRESS_SCHEMA as OBJECTIVE_PROGRESS_SCHEMA

WINDOW_GRAIN = "window"
"""The grain of a window that is no calendar period (to_date, trailing_days) among KPI periods."""
# Progress and expected progress are fractions of floats: on a boundary (0.30 vs 0.40 - 0.10) they may
# differ in the last bit. Compare with a tolerance far below anything a person reads; an actual against
# a stay_* target with the same tolerance relative to the target.
TOLERANCE = 1e-9
STAY_TYPES = ("stay_above", "stay_below")

KEY_RESULT_DEFINITION_SCHEMA: dict[str, pl.DataType] = {
    "objective_id": pl.String(),
    "key_result_id": pl.String(),
    "kpi_id": pl.String(),
    "type": pl.String(),
    "measure": pl.String(),
    "measure_grain": pl.String(),
    "trailing_days": pl.Int64(),
    "weight": pl.Float64(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "baseline": pl.Float64(),
    "target": pl.Float64(),
}


def key_result_frame(objectives: Sequence[ObjectiveConfig]) -> pl.DataFrame:
    """One row per key result (KEY_RESULT_DEFINITION_SCHEMA): its type (the default worked out), its
    measure (kind, grain, days), weight, dimension ('' for the KPI's total) and its objective's period."""
    return pl.DataFrame(
        [
            (
                objective.id,
                kr.id,
                kr.kpi_id,
                kr.kind,
                kr.measure.kind,
                kr.measure.grain,
                kr.measure.days,
                kr.weight,
                *kr.dimension_key,
                objective.start,
                objective.end,
                kr.baseline,
                kr.target,
            )
            for objective in objectives
            for kr in objective.key_results
        ],
        schema=KEY_RESULT_DEFINITION_SCHEMA,
        orient="row",
    )


def latest_complete_period(calendar: Calendar, grain: str, day: date) -> tuple[date, date]:
    """(start, end) of the latest `grain` period of the calendar that has ended by `day` (inclusive)."""
    end = calendar.period_start(day + timedelta(days=1), grain) - timedelta(days=1)  # type: ignore[arg-type]
    return calendar.period_start(end, grain), end  # type: ignore[arg-type]


def as_of_windows(key_results: pl.DataFrame, as_of_days: Sequence[date], calendar: Calendar) -> pl.DataFrame:
    """Each key result (KEY_RESULT_DEFINITION_SCHEMA) on each as-of day inside or after its period, with
    `as_of`, `measured_to` (min(as_of, period_end)) and the window its actual covers: `window_grain`
    (WINDOW_GRAIN, or the calendar grain of a latest_complete measure), `window_start`, `window_end`
    (both null when no complete period of the grain lies inside the objective's period yet)."""
    days = pl.DataFrame({"as_of": list(as_of_days)}, schema={"as_of": pl.Date()})
    windows = (
        key_results.join(days, how="cross")
        .filter(pl.col("as_of") >= pl.col("period_start"))
        .with_columns(measured_to=pl.min_horizontal("as_of", "period_end"))
    )
    complete = windows.filter(pl.col("measure") == "latest_complete").select("measure_grain", "measured_to")
    periods = pl.DataFrame(
        [
            (grain, day, *latest_complete_period(calendar, grain, day))
            for grain, day in complete.unique().iter_rows()
        ],
        schema={
            "measure_grain": pl.String(),
            "measured_to": pl.Date(),
            "complete_start": pl.Date(),
            "complete_end": pl.Date(),
        },
        orient="row",
    )
    measure = pl.col("measure")
    return (
        windows.join(periods, on=["measure_grain", "measured_to"], how="left")
        .with_columns(
            window_grain=pl.when(measure == "latest_complete")
            .then(pl.col("measure_grain"))
            .otherwise(pl.lit(WINDOW_GRAIN)),
            window_start=pl.when(measure == "to_date")
            .then(pl.col("period_start"))
            .when(measure == "trailing_days")
            .then(pl.col("measured_to") - pl.duration(days=pl.col("trailing_days") - 1))
            .when(pl.col("complete_start") >= pl.col("period_start"))
            .then(pl.col("complete_start")),
            window_end=pl.when(measure != "latest_complete")
            .then(pl.col("measured_to"))
            .when(pl.col("complete_start") >= pl.col("period_start"))
            .then(pl.col("complete_end")),
        )
        .drop("complete_start", "complete_end")
    )


def measured_windows(windows: pl.DataFrame) -> pl.DataFrame:
    """The distinct windows to compute KPIs over, as periods (grain, period_start, period_end,
    is_complete): a latest_complete measure's under its calendar grain, the others as WINDOW_GRAIN."""
    return (
        windows.filter(pl.col("window_start").is_not_null())
        .select(
            pl.col("window_grain").alias("grain"),
            pl.col("window_start").alias("period_start"),
            pl.col("window_end").alias("period_end"),
            (pl.col("window_end") < pl.col("as_of")).alias("is_complete"),
        )
        .group_by("grain", "period_start", "period_end", maintain_order=True)
        .agg(pl.col("is_complete").any())
    )


def _status(rules: StatusRules, progress: pl.Expr, expected: pl.Expr, after_end: pl.Expr) -> pl.Expr:
    """The increase/decrease rule: achieved at 1; after the period missed; before it on_track, at_risk
    or off_track by how far progress lags expected progress (`rules`' slacks, boundaries included)."""
    return (
        pl.when(progress >= 1 - TOLERANCE)
        .then(pl.lit("achieved"))
        .when(after_end)
        .then(pl.lit("missed"))
        .when(progress >= expected - rules.on_track_slack - TOLERANCE)
        .then(pl.lit("on_track"))
        .when(progress >= expected - rules.at_risk_slack - TOLERANCE)
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("off_track"))
    )


def _expected_progress() -> pl.Expr:
    """Days of the period elapsed up to as_of, inclusive, over the period's days (1 after its end)."""
    period_days = (pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1
    elapsed = (pl.min_horizontal("as_of", "period_end") - pl.col("period_start")).dt.total_days() + 1
    return elapsed / period_days


def key_results(windows: pl.DataFrame, window_values: pl.DataFrame, rules: StatusRules) -> pl.DataFrame:
    """key_results rows (KEY_RESULT_SCHEMA) of `windows` (as_of_windows), sorted by as_of, objective and
    key result. `window_values`: kpi_values rows (kpi_id, grain, period_start, period_end, dimension,
    dimension_value, value, days_covered) over the windows' periods (measured_windows)."""
    actuals = window_values.select(
        "kpi_id",
        pl.col("grain").alias("window_grain"),
        pl.col("period_start").alias("window_start"),
        pl.col("period_end").alias("window_end"),
        "dimension",
        "dimension_value",
        pl.col("value").alias("actual"),
        "days_covered",
    )
    kind, actual, target = pl.col("type"), pl.col("actual"), pl.col("target")
    stays = kind.is_in(STAY_TYPES)
    slack = TOLERANCE * pl.max_horizontal(pl.lit(1.0), target.abs())
    on_its_side = (
        pl.when(kind == "stay_above").then(actual >= target - slack).otherwise(actual <= target + slack)
    )
    window_days = (pl.col("window_end") - pl.col("window_start")).dt.total_days() + 1
    after_end = pl.col("as_of") > pl.col("period_end")
    progress, expected = pl.col("progress"), pl.col("expected_progress")
    status = (
        pl.when(actual.is_null() | (pl.col("days_covered").fill_null(0) < window_days))
        .then(pl.lit("unknown"))
        .when(stays & after_end)
        .then(pl.when(progress >= 1).then(pl.lit("achieved")).otherwise(pl.lit("missed")))
        .when(stays)
        .then(pl.when(progress >= 1).then(pl.lit("on_track")).otherwise(pl.lit("off_track")))
        .otherwise(_status(rules, progress, expected, after_end))
    )
    return (
        windows.join(
            actuals,
            on=["kpi_id", "window_grain", "window_start", "window_end", "dimension", "dimension_value"],
            how="left",
        )
        .with_columns(
            progress_raw=pl.when(stays)
            .then(on_its_side.cast(pl.Float64))
            .otherwise((actual - pl.col("baseline")) / (target - pl.col("baseline"))),
            expected_progress=pl.when(stays).then(pl.lit(1.0)).otherwise(_expected_progress()),
        )
        .with_columns(progress=pl.col("progress_raw").clip(0.0, 1.0))
        .with_columns(status=status)
        .select(list(KEY_RESULT_SCHEMA))
        .cast(KEY_RESULT_SCHEMA)  # type: ignore[arg-type]
        .sort("as_of", "objective_id", "key_result_id")
    )


def objective_progress(
    key_result_rows: pl.DataFrame, definitions: pl.DataFrame, rules: StatusRules
) -> pl.DataFrame:
    """objective_progress rows (OBJECTIVE_PROGRESS_SCHEMA), one per objective and as-of day of
    `key_result_rows` (KEY_RESULT_SCHEMA): the weight-weighted mean of the progress of its key results
    whose status is not unknown (weights from `definitions`, KEY_RESULT_DEFINITION_SCHEMA), expected
    progress and status by the increase rule; progress null and status unknown when every key result
    is unknown. Sorted by as_of and objective."""
    known = pl.col("status") != "unknown"
    weight = pl.col("weight")
    rows = (
        key_result_rows.join(definitions.select("key_result_id", "weight"), on="key_result_id", how="left")
        .group_by("objective_id", "as_of")
        .agg(
            pl.col("period_start").first(),
            pl.col("period_end").first(),
            ((pl.col("progress") * weight).filter(known).sum() / weight.filter(known).sum()).alias(
                "progress"
            ),
            known.sum().cast(pl.Int64).alias("key_results_known"),
            pl.len().cast(pl.Int64).alias("key_results_total"),
        )
        .with_columns(
            progress=pl.when(pl.col("key_results_known") > 0).then(pl.col("progress")),
            expected_progress=_expected_progress(),
        )
    )
    progress = pl.col("progress")
    status = (
        pl.when(progress.is_null())
        .then(pl.lit("unknown"))
        .otherwise(
            _status(rules, progress, pl.col("expected_progress"), pl.col("as_of") > pl.col("period_end"))
        )
    )
    return (
        rows.with_columns(status=status)
        .select(list(OBJECTIVE_PROGRESS_SCHEMA))
        .cast(OBJECTIVE_PROGRESS_SCHEMA)  # type: ignore[arg-type]
        .sort("as_of", "objective_id")
    )


def status_changes(rows: pl.DataFrame, previous: pl.DataFrame) -> pl.DataFrame:
    """Each key result row (KEY_RESULT_SCHEMA) with `previous_status`: its status on the as-of day
    before, from `rows` themselves or `previous` (key_result_id, as_of, status: rows already published,
    for the day before the first of `rows`); null on an objective's first day. Only rows whose status
    differs from the day before's (a first day counts as a change from nothing)."""
    statuses = pl.concat(
        [rows.select("key_result_id", "as_of", "status"), previous.select("key_result_id", "as_of", "status")]
    ).unique(["key_result_id", "as_of"], keep="first", maintain_order=True)
    before = statuses.select(
        "key_result_id",
        (pl.col("as_of") + pl.duration(days=1)).alias("as_of"),
        pl.col("status").alias("previous_status"),
    )
    return rows.join(before, on=["key_result_id", "as_of"], how="left").filter(
        pl.col("previous_status").is_null() | (pl.col("previous_status") != pl.col("status"))
    )
