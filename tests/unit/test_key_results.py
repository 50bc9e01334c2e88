"""Key results from hand-worked KPI values: progress, expected progress and every status."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from assets.okr.transforms import as_of_windows, key_results, measured_windows
from kpi.config import KeyResultConfig, ObjectiveConfig

# A 10-day objective: expected progress on day k is k / 10.
START, END = date(2026, 1, 1), date(2026, 1, 10)


def objective(*key_results: tuple[str, str, float, float]) -> ObjectiveConfig:
    return ObjectiveConfig(
        id="objective",
        title="Objective",
        owner="owner",
        start=START,
        end=END,
        key_results=[
            KeyResultConfig(id=kr_id, description=kr_id, kpi_id=kpi_id, baseline=baseline, target=target)
            for kr_id, kpi_id, baseline, target in key_results
        ],
    )


def evaluate(
    objectives: list[ObjectiveConfig],
    as_of: date,
    actuals: dict[str, float | None],
    days_missing: int = 0,
) -> dict[str, dict]:
    """Key results as of one day, the KPI over [START, min(as_of, END)] being `actuals[kpi_id]`, its
    window covered but for `days_missing` days."""
    from assets.okr.transforms import key_result_frame

    windows = as_of_windows(key_result_frame(objectives), [as_of])
    periods = measured_windows(windows)
    values = pl.DataFrame(
        [
            (kpi_id, start, end, value, (end - start).days + 1 - days_missing)
            for kpi_id, value in actuals.items()
            for start, end in periods.select("period_start", "period_end").iter_rows()
        ],
        schema={
            "kpi_id": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "value": pl.Float64(),
            "days_covered": pl.Int64(),
        },
        orient="row",
    )
    rows = key_results(windows, values)
    return {row["key_result_id"]: row for row in rows.iter_rows(named=True)}


def test_progress_and_expected_progress_inside_the_period() -> None:
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], date(2026, 1, 4), {"revenue": 350.0})
    row = rows["kr"]
    assert row["actual"] == 350.0
    assert row["progress_raw"] == pytest.approx(350 / 1000)
    assert row["progress"] == pytest.approx(0.35)
    assert row["expected_progress"] == pytest.approx(4 / 10)  # days 1..4 of 10
    assert row["status"] == "on_track"  # 0.35 >= 0.40 - 0.10
    assert (row["period_start"], row["period_end"], row["as_of"]) == (START, END, date(2026, 1, 4))


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (300.0, "on_track"),  # 0.30 >= 0.40 - 0.10 (the boundary is on track)
        (299.0, "at_risk"),  # 0.299 < 0.30 but >= 0.40 - 0.25
        (150.0, "at_risk"),  # 0.15 >= 0.15
        (149.0, "off_track"),
        (1000.0, "achieved"),
        (None, "unknown"),
    ],
)
def test_status_before_the_period_ends(actual: float | None, status: str) -> None:
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], date(2026, 1, 4), {"revenue": actual})
    assert rows["kr"]["status"] == status


def test_a_falling_target_works_the_same_way() -> None:
    # churn down from 5% to 3%: 4.5% is a quarter of the way, 2.5% is past the target.
    rows = evaluate(
        [objective(("kr-churn", "customer_churn_rate", 0.05, 0.03))],
        date(2026, 1, 5),
        {"customer_churn_rate": 0.045},
    )
    assert rows["kr-churn"]["progress_raw"] == pytest.approx((0.045 - 0.05) / (0.03 - 0.05))
    assert rows["kr-churn"]["progress"] == pytest.approx(0.25)
    assert rows["kr-churn"]["status"] == "at_risk"  # 0.25 < 0.5 - 0.10, >= 0.5 - 0.25
    rows = evaluate(
        [objective(("kr-churn", "customer_churn_rate", 0.05, 0.03))],
        date(2026, 1, 5),
        {"customer_churn_rate": 0.06},
    )
    assert rows["kr-churn"]["progress_raw"] == pytest.approx(-0.5)
    assert rows["kr-churn"]["progress"] == 0.0
    assert rows["kr-churn"]["status"] == "off_track"


def test_an_actual_past_the_target_is_clamped_and_achieved() -> None:
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], date(2026, 1, 2), {"revenue": 1500.0})
    assert rows["kr"]["progress_raw"] == pytest.approx(1.5)
    assert rows["kr"]["progress"] == 1.0
    assert rows["kr"]["status"] == "achieved"


def test_after_the_period_a_key_result_is_achieved_or_missed() -> None:
    after = date(2026, 2, 20)
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], after, {"revenue": 999.0})
    assert rows["kr"]["status"] == "missed"
    assert rows["kr"]["expected_progress"] == 1.0
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], after, {"revenue": 1000.0})
    assert rows["kr"]["status"] == "achieved"
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], after, {"revenue": None})
    assert rows["kr"]["status"] == "unknown"


def test_the_actual_after_the_period_covers_only_the_period() -> None:
    windows = as_of_windows(
        pl.DataFrame(
            {
                "objective_id": ["o"],
                "key_result_id": ["kr"],
                "kpi_id": ["revenue"],
                "period_start": [START],
                "period_end": [END],
                "baseline": [0.0],
                "target": [1.0],
            }
        ),
        [date(2025, 12, 31), date(2026, 1, 3), date(2026, 3, 1)],
    )
    # No row before the period starts; inside it the window ends on the as-of day; after it, on END.
    assert windows.select("as_of", "window_end").rows() == [
        (date(2026, 1, 3), date(2026, 1, 3)),
        (date(2026, 3, 1), END),
    ]
    assert measured_windows(windows).select("period_start", "period_end", "is_complete").rows() == [
        (START, date(2026, 1, 3), False),
        (START, END, True),
    ]


def test_on_the_periods_last_day_the_key_result_is_still_inside_it() -> None:
    # Expected progress is 10/10 on END; 0.95 >= 1.0 - 0.10 is on track, not yet missed.
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], END, {"revenue": 950.0})
    assert rows["kr"]["expected_progress"] == 1.0
    assert rows["kr"]["status"] == "on_track"
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], date(2026, 1, 11), {"revenue": 950.0})
    assert rows["kr"]["status"] == "missed"


@pytest.mark.parametrize(
    ("as_of", "days_missing", "status"),
    [
        (date(2026, 1, 4), 0, "on_track"),  # 4 of 4 days: 0.35 >= 0.40 - 0.10
        (date(2026, 1, 4), 1, "unknown"),  # 3 of 4 days: half the data is not a trend
        (date(2026, 1, 12), 1, "unknown"),  # after the end, 9 of 10 days: not missed, unknown
        (date(2026, 1, 12), 0, "missed"),  # after the end, all 10 days: 0.35 < 1
    ],
)
def test_a_window_not_fully_covered_is_unknown(as_of: date, days_missing: int, status: str) -> None:
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], as_of, {"revenue": 350.0}, days_missing)
    row = rows["kr"]
    window_days = (min(as_of, END) - START).days + 1
    assert row["days_covered"] == window_days - days_missing
    assert row["actual"] == 350.0  # the partial actual is still shown
    assert row["status"] == status


def test_an_achieved_target_on_a_partly_covered_window_is_unknown() -> None:
    # 1000 of 1000 over 3 of the 4 days: the target looks met, but a missing day could be a refund.
    rows = evaluate([objective(("kr", "revenue", 0, 1000))], date(2026, 1, 4), {"revenue": 1000.0}, 1)
    assert rows["kr"]["status"] == "unknown"
