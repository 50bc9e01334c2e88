"""Key results and objective progress from hand-worked KPI values: every type, every measure at its
boundaries, every status, weights, status rules and status changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import polars as pl
import pytest

from assets.okr.transforms import (
    as_of_windows,
    key_result_frame,
    key_results,
    measured_windows,
    objective_progress,
    status_changes,
)
from kpi.config import KeyResultConfig, ObjectiveConfig, StatusRules
from kpi.periods import Calendar

# A 10-day objective: expected progress on day k is k / 10.
START, END = date(2026, 1, 1), date(2026, 1, 10)
Window = tuple[str, date, date]
"""(grain, first day, last day) of a window a KPI is computed over."""


def kr(kr_id: str = "kr", kpi_id: str = "revenue", **settings) -> KeyResultConfig:
    return KeyResultConfig(id=kr_id, description=kr_id, kpi_id=kpi_id, **settings)


def objective(*key_results: KeyResultConfig, start: date = START, end: date = END, id: str = "objective"):
    return ObjectiveConfig(
        id=id, title=id, owner="owner", start=start, end=end, key_results=list(key_results)
    )


def increase(kr_id: str = "kr", kpi_id: str = "revenue", baseline: float = 0, target: float = 1000):
    return kr(kr_id, kpi_id, baseline=baseline, target=target)


def evaluate_all(
    objectives: list[ObjectiveConfig],
    as_of: date,
    value: Callable[[str, Window], float | None],
    days_missing: int = 0,
    rules: StatusRules | None = None,
    dimension_rows: bool = False,
) -> tuple[dict[str, dict], dict[str, dict], list[Window]]:
    """Key results and objective progress as of one day, the KPI `kpi_id` over each window being
    value(kpi_id, window), covered but for `days_missing` days. Also the windows asked for."""
    rules = rules or StatusRules()
    definitions = key_result_frame(objectives)
    windows = as_of_windows(definitions, [as_of], Calendar())
    periods = measured_windows(windows)
    asked = [
        (grain, start, end)
        for grain, start, end in periods.select("grain", "period_start", "period_end").iter_rows()
    ]
    dimensions = [("", "")] + ([("segment", "enterprise"), ("segment", "smb")] if dimension_rows else [])
    values = pl.DataFrame(
        [
            (
                kpi_id,
                grain,
                start,
                end,
                dimension,
                dimension_value,
                value(f"{kpi_id}{dimension_value and '/' + dimension_value}", (grain, start, end)),
                (end - start).days + 1 - days_missing,
            )
            for kpi_id in definitions["kpi_id"].unique()
            for grain, start, end in asked
            for dimension, dimension_value in dimensions
        ],
        schema={
            "kpi_id": pl.String(),
            "grain": pl.String(),
            "period_start": pl.Date(),
            "period_end": pl.Date(),
            "dimension": pl.String(),
            "dimension_value": pl.String(),
            "value": pl.Float64(),
            "days_covered": pl.Int64(),
        },
        orient="row",
    )
    rows = key_results(windows, values, rules)
    progress = objective_progress(rows, definitions, rules)
    return (
        {row["key_result_id"]: row for row in rows.iter_rows(named=True)},
        {row["objective_id"]: row for row in progress.iter_rows(named=True)},
        asked,
    )


def evaluate(
    objectives: list[ObjectiveConfig],
    as_of: date,
    actuals: dict[str, float | None],
    days_missing: int = 0,
    rules: StatusRules | None = None,
) -> dict[str, dict]:
    """Key results as of one day, the KPI over whatever window being `actuals[kpi_id]`."""
    return evaluate_all(objectives, as_of, lambda kpi, _: actuals[kpi], days_missing, rules)[0]


# ----------------------------------------------------------------------------------------------------
# increase / decrease over the objective's period to date


def test_progress_and_expected_progress_inside_the_period() -> None:
    rows = evaluate([objective(increase())], date(2026, 1, 4), {"revenue": 350.0})
    row = rows["kr"]
    assert row["actual"] == 350.0
    assert row["progress_raw"] == pytest.approx(350 / 1000)
    assert row["progress"] == pytest.approx(0.35)
    assert row["expected_progress"] == pytest.approx(4 / 10)  # days 1..4 of 10
    assert row["status"] == "on_track"  # 0.35 >= 0.40 - 0.10
    assert (row["period_start"], row["period_end"], row["as_of"]) == (START, END, date(2026, 1, 4))
    assert (row["window_start"], row["window_end"]) == (START, date(2026, 1, 4))


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
    rows = evaluate([objective(increase())], date(2026, 1, 4), {"revenue": actual})
    assert rows["kr"]["status"] == status


@pytest.mark.parametrize(
    ("actual", "status"),
    [
        (350.0, "at_risk"),  # 0.35 < 0.40 - 0.02, >= 0.40 - 0.05
        (380.0, "on_track"),  # 0.38 >= 0.40 - 0.02
        (349.0, "off_track"),  # 0.349 < 0.35
    ],
)
def test_status_rules_set_the_slacks(actual: float, status: str) -> None:
    rules = StatusRules(on_track_slack=0.02, at_risk_slack=0.05)
    rows = evaluate([objective(increase())], date(2026, 1, 4), {"revenue": actual}, rules=rules)
    assert rows["kr"]["status"] == status


def test_a_falling_target_works_the_same_way() -> None:
    # churn down from 5% to 3%: 4.5% is a quarter of the way, 2.5% is past the target.
    churn = increase("kr-churn", "customer_churn_rate", 0.05, 0.03)
    assert churn.kind == "decrease"
    rows = evaluate([objective(churn)], date(2026, 1, 5), {"customer_churn_rate": 0.045})
    assert rows["kr-churn"]["progress_raw"] == pytest.approx((0.045 - 0.05) / (0.03 - 0.05))
    assert rows["kr-churn"]["progress"] == pytest.approx(0.25)
    assert rows["kr-churn"]["status"] == "at_risk"  # 0.25 < 0.5 - 0.10, >= 0.5 - 0.25
    rows = evaluate([objective(churn)], date(2026, 1, 5), {"customer_churn_rate": 0.06})
    assert rows["kr-churn"]["progress_raw"] == pytest.approx(-0.5)
    assert rows["kr-churn"]["progress"] == 0.0
    assert rows["kr-churn"]["status"] == "off_track"


def test_an_actual_past_the_target_is_clamped_and_achieved() -> None:
    rows = evaluate([objective(increase())], date(2026, 1, 2), {"revenue": 1500.0})
    assert rows["kr"]["progress_raw"] == pytest.approx(1.5)
    assert rows["kr"]["progress"] == 1.0
    assert rows["kr"]["status"] == "achieved"


def test_after_the_period_a_key_result_is_achieved_or_missed() -> None:
    after = date(2026, 2, 20)
    rows = evaluate([objective(increase())], after, {"revenue": 999.0})
    assert rows["kr"]["status"] == "missed"
    assert rows["kr"]["expected_progress"] == 1.0
    rows = evaluate([objective(increase())], after, {"revenue": 1000.0})
    assert rows["kr"]["status"] == "achieved"
    rows = evaluate([objective(increase())], after, {"revenue": None})
    assert rows["kr"]["status"] == "unknown"


def test_the_actual_after_the_period_covers_only_the_period() -> None:
    windows = as_of_windows(
        key_result_frame([objective(increase())]),
        [date(2025, 12, 31), date(2026, 1, 3), date(2026, 3, 1)],
        Calendar(),
    )
    # No row before the period starts; inside it the window ends on the as-of day; after it, on END.
    assert windows.select("as_of", "window_start", "window_end").rows() == [
        (date(2026, 1, 3), START, date(2026, 1, 3)),
        (date(2026, 3, 1), START, END),
    ]
    assert measured_windows(windows).select("period_start", "period_end", "is_complete").rows() == [
        (START, date(2026, 1, 3), False),
        (START, END, True),
    ]


def test_on_the_periods_last_day_the_key_result_is_still_inside_it() -> None:
    # Expected progress is 10/10 on END; 0.95 >= 1.0 - 0.10 is on track, not yet missed.
    rows = evaluate([objective(increase())], END, {"revenue": 950.0})
    assert rows["kr"]["expected_progress"] == 1.0
    assert rows["kr"]["status"] == "on_track"
    rows = evaluate([objective(increase())], date(2026, 1, 11), {"revenue": 950.0})
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
    rows = evaluate([objective(increase())], as_of, {"revenue": 350.0}, days_missing)
    row = rows["kr"]
    window_days = (min(as_of, END) - START).days + 1
    assert row["days_covered"] == window_days - days_missing
    assert row["actual"] == 350.0  # the partial actual is still shown
    assert row["status"] == status


def test_an_achieved_target_on_a_partly_covered_window_is_unknown() -> None:
    # 1000 of 1000 over 3 of the 4 days: the target looks met, but a missing day could be a refund.
    rows = evaluate([objective(increase())], date(2026, 1, 4), {"revenue": 1000.0}, 1)
    assert rows["kr"]["status"] == "unknown"


# ----------------------------------------------------------------------------------------------------
# stay_above / stay_below


@pytest.mark.parametrize(
    ("kind", "actual", "progress", "status"),
    [
        ("stay_below", 0.03, 1.0, "on_track"),  # exactly at the target is on its side
        ("stay_below", 0.1 + 0.2 - 0.27, 1.0, "on_track"),  # 0.030000000000000027: the same, in floats
        ("stay_below", 0.0301, 0.0, "off_track"),
        ("stay_below", 0.0, 1.0, "on_track"),
        ("stay_above", 0.03, 1.0, "on_track"),
        ("stay_above", 0.0299, 0.0, "off_track"),
        ("stay_above", None, None, "unknown"),
    ],
)
def test_stay_key_results_are_on_one_side_of_the_target(
    kind: str, actual: float | None, progress: float | None, status: str
) -> None:
    rows = evaluate(
        [objective(kr("kr", "customer_churn_rate", type=kind, target=0.03))],
        date(2026, 1, 4),
        {"customer_churn_rate": actual},
    )
    row = rows["kr"]
    assert row["progress_raw"] == progress
    assert row["progress"] == progress
    assert row["expected_progress"] == 1.0  # the whole target, every day
    assert row["baseline"] is None
    assert row["status"] == status


@pytest.mark.parametrize(
    ("as_of", "actual", "status"),
    [
        (END, 0.03, "on_track"),  # the period's last day: still inside it
        (END, 0.04, "off_track"),
        (END + timedelta(days=1), 0.03, "achieved"),  # after it: achieved or missed by the last actual
        (END + timedelta(days=1), 0.04, "missed"),
        (date(2026, 6, 1), 0.04, "missed"),
    ],
)
def test_stay_key_results_after_the_period(as_of: date, actual: float, status: str) -> None:
    seen: list[Window] = []

    def value(_: str, window: Window) -> float:
        seen.append(window)
        return actual

    rows, _, _ = evaluate_all(
        [objective(kr("kr", "customer_churn_rate", type="stay_below", target=0.03))], as_of, value
    )
    assert rows["kr"]["status"] == status
    assert seen == [("window", START, END)]  # the last actual is the period's, to date


# ----------------------------------------------------------------------------------------------------
# measures: latest_complete GRAIN and trailing_days N

QUARTER = (date(2026, 1, 1), date(2026, 3, 31))
MONTHLY_CHURN = {
    ("month", date(2026, 1, 1), date(2026, 1, 31)): 0.02,
    ("month", date(2026, 2, 1), date(2026, 2, 28)): 0.04,
    ("month", date(2026, 3, 1), date(2026, 3, 31)): 0.03,
}


def monthly(as_of: date, start: date = QUARTER[0]) -> dict:
    """The churn key result "monthly churn at or below 3%" as of `as_of`, with the window it read."""
    rows, _, asked = evaluate_all(
        [
            objective(
                kr(
                    "kr",
                    "customer_churn_rate",
                    type="stay_below",
                    target=0.03,
                    measure={"latest_complete": "month"},
                ),
                start=start,
                end=QUARTER[1],
            )
        ],
        as_of,
        lambda _, window: MONTHLY_CHURN.get(window),
    )
    return rows["kr"] | {"asked": asked}


def test_latest_complete_month_before_a_month_has_ended_is_unknown() -> None:
    row = monthly(date(2026, 1, 30))
    assert row["asked"] == []  # nothing to compute
    assert (row["window_start"], row["window_end"], row["actual"]) == (None, None, None)
    assert row["status"] == "unknown"


@pytest.mark.parametrize(
    ("as_of", "month", "status"),
    [
        (date(2026, 1, 31), date(2026, 1, 1), "on_track"),  # a month's last day completes it
        (date(2026, 2, 1), date(2026, 1, 1), "on_track"),  # the first day of a month: the month before
        (date(2026, 2, 27), date(2026, 1, 1), "on_track"),
        (date(2026, 2, 28), date(2026, 2, 1), "off_track"),  # February: 4%
        (date(2026, 3, 15), date(2026, 2, 1), "off_track"),
        (date(2026, 3, 31), date(2026, 3, 1), "on_track"),  # March: exactly 3%
        (date(2026, 4, 1), date(2026, 3, 1), "achieved"),  # after the end, by the last month
        (date(2026, 5, 1), date(2026, 3, 1), "achieved"),  # not April: it is outside the objective
    ],
)
def test_latest_complete_month(as_of: date, month: date, status: str) -> None:
    row = monthly(as_of)
    assert (row["window_start"], row["window_end"]) == (month, Calendar().period_end(month, "month"))
    assert row["asked"] == [("month", row["window_start"], row["window_end"])]
    assert row["status"] == status


def test_latest_complete_month_starting_before_the_objective_does_not_count() -> None:
    # An objective from 15 January: January is not inside it, so until February ends there is none.
    row = monthly(date(2026, 2, 1), start=date(2026, 1, 15))
    assert (row["window_start"], row["status"]) == (None, "unknown")
    row = monthly(date(2026, 2, 28), start=date(2026, 1, 15))
    assert (row["window_start"], row["status"]) == (date(2026, 2, 1), "off_track")


def test_latest_complete_week_is_an_iso_week() -> None:
    # 2026-01-11 is a Sunday: the ISO week Monday 5 .. Sunday 11 January is complete that day.
    weekly = kr("kr", "nps", type="stay_above", target=30, measure={"latest_complete": "week"})
    rows, _, asked = evaluate_all(
        [objective(weekly, start=date(2026, 1, 1), end=date(2026, 3, 31))], date(2026, 1, 11), lambda *_: 31.0
    )
    assert asked == [("week", date(2026, 1, 5), date(2026, 1, 11))]
    assert rows["kr"]["status"] == "on_track"
    rows, _, asked = evaluate_all(
        [objective(weekly, start=date(2026, 1, 1), end=date(2026, 3, 31))], date(2026, 1, 10), lambda *_: 31.0
    )
    assert asked == []  # 29 December .. 4 January starts before the objective
    assert rows["kr"]["status"] == "unknown"


@pytest.mark.parametrize(
    ("as_of", "window", "days_missing", "status"),
    [
        # Reaching before the objective's start: days before it count when they were loaded ...
        (date(2026, 1, 3), (date(2025, 12, 28), date(2026, 1, 3)), 0, "on_track"),
        # ... and a window not covered (days before the first loaded day) is unknown.
        (date(2026, 1, 3), (date(2025, 12, 28), date(2026, 1, 3)), 4, "unknown"),
        (date(2026, 1, 10), (date(2026, 1, 4), date(2026, 1, 10)), 0, "on_track"),
        # After the end: the last 7 days of the period, and the status by them.
        (date(2026, 2, 1), (date(2026, 1, 4), date(2026, 1, 10)), 0, "achieved"),
    ],
)
def test_trailing_days(as_of: date, window: tuple[date, date], days_missing: int, status: str) -> None:
    trailing = kr("kr", "nps", type="stay_above", target=30, measure={"trailing_days": 7})
    rows, _, asked = evaluate_all([objective(trailing)], as_of, lambda *_: 30.0, days_missing)
    assert asked == [("window", *window)]
    assert (rows["kr"]["window_start"], rows["kr"]["window_end"]) == window
    assert rows["kr"]["days_covered"] == 7 - days_missing
    assert rows["kr"]["status"] == status


def test_an_increase_over_trailing_days_keeps_the_periods_expected_progress() -> None:
    # NPS up from 20 to 40, over the last 7 days: 30 on day 4 is half way, 4/10 expected.
    trailing = kr("kr", "nps", baseline=20, target=40, measure={"trailing_days": 7})
    rows, _, _ = evaluate_all([objective(trailing)], date(2026, 1, 4), lambda *_: 30.0)
    assert rows["kr"]["progress"] == pytest.approx(0.5)
    assert rows["kr"]["expected_progress"] == pytest.approx(0.4)
    assert rows["kr"]["status"] == "on_track"


def test_a_dimension_key_result_reads_that_dimension_values_row() -> None:
    values = {"revenue": 900.0, "revenue/enterprise": 250.0, "revenue/smb": 650.0}
    rows, _, _ = evaluate_all(
        [
            objective(
                increase("kr-total"),
                kr("kr-enterprise", baseline=0, target=1000, dimension={"segment": "enterprise"}),
            )
        ],
        date(2026, 1, 4),
        lambda kpi, _: values[kpi],
        dimension_rows=True,
    )
    assert rows["kr-total"]["actual"] == 900.0
    assert rows["kr-enterprise"]["actual"] == 250.0
    assert rows["kr-enterprise"]["status"] == "at_risk"  # 0.25 < 0.40 - 0.10


def test_a_dimension_value_without_rows_is_unknown() -> None:
    rows, _, _ = evaluate_all(
        [objective(kr("kr", baseline=0, target=1000, dimension={"segment": "public_sector"}))],
        date(2026, 1, 4),
        lambda *_: 500.0,
        dimension_rows=True,
    )
    assert (rows["kr"]["actual"], rows["kr"]["status"]) == (None, "unknown")


# ----------------------------------------------------------------------------------------------------
# objective progress


def test_objective_progress_is_the_weighted_mean_of_known_key_results() -> None:
    # revenue 0.5 of the way (weight 2), churn on target (stay_below, weight 1), NPS unknown (weight 3):
    # (2 * 0.5 + 1 * 1.0) / (2 + 1) = 2/3, against 4/10 expected: on track.
    key_results_ = [
        kr("kr-revenue", "revenue", baseline=0, target=1000, weight=2),
        kr("kr-churn", "customer_churn_rate", type="stay_below", target=0.03),
        kr("kr-nps", "nps", baseline=20, target=40, weight=3),
    ]
    actuals = {"revenue": 500.0, "customer_churn_rate": 0.02, "nps": None}
    _, objectives, _ = evaluate_all([objective(*key_results_)], date(2026, 1, 4), lambda kpi, _: actuals[kpi])
    row = objectives["objective"]
    assert row["progress"] == pytest.approx(2 / 3)
    assert row["expected_progress"] == pytest.approx(0.4)
    assert (row["key_results_known"], row["key_results_total"]) == (2, 3)
    assert row["status"] == "on_track"


@pytest.mark.parametrize(
    ("revenue", "as_of", "status"),
    [
        (200.0, date(2026, 1, 8), "off_track"),  # (0.2 * 1 + 0 * 1) / 2 = 0.1 < 0.8 - 0.25
        (1000.0, date(2026, 1, 7), "at_risk"),  # (1 + 0) / 2 = 0.5 < 0.7 - 0.10, >= 0.7 - 0.25
        (1000.0, date(2026, 1, 8), "off_track"),  # 0.5 < 0.8 - 0.25
        (1000.0, date(2026, 1, 11), "missed"),  # after the end, 0.5 < 1
    ],
)
def test_objective_status_follows_the_increase_rule(revenue: float, as_of: date, status: str) -> None:
    key_results_ = [
        increase("kr-revenue"),
        kr("kr-churn", "customer_churn_rate", type="stay_below", target=0.03),
    ]
    actuals = {"revenue": revenue, "customer_churn_rate": 0.05}
    _, objectives, _ = evaluate_all([objective(*key_results_)], as_of, lambda kpi, _: actuals[kpi])
    assert objectives["objective"]["status"] == status


def test_an_objective_whose_key_results_are_all_unknown_is_unknown() -> None:
    _, objectives, _ = evaluate_all([objective(increase())], date(2026, 1, 4), lambda *_: None)
    row = objectives["objective"]
    assert (row["progress"], row["status"], row["key_results_known"]) == (None, "unknown", 0)
    assert row["expected_progress"] == pytest.approx(0.4)


def test_an_objective_achieved_when_every_key_result_is() -> None:
    _, objectives, _ = evaluate_all(
        [objective(increase("a"), increase("b", target=10))], date(2026, 1, 2), lambda *_: 1000.0
    )
    assert (objectives["objective"]["progress"], objectives["objective"]["status"]) == (1.0, "achieved")


# ----------------------------------------------------------------------------------------------------
# status changes (what alerts are raised for)


def test_status_changes_against_the_day_before() -> None:
    def row(kr_id: str, day: int, status: str) -> dict:
        return {"key_result_id": kr_id, "as_of": date(2026, 1, day), "status": status}

    rows = pl.DataFrame(
        [
            row("a", 3, "on_track"),  # same as published on the 2nd: no change
            row("a", 4, "at_risk"),  # change
            row("a", 5, "at_risk"),
            row("b", 3, "off_track"),  # b's first day: a change from nothing
            row("b", 4, "on_track"),
        ]
    )
    published = pl.DataFrame([row("a", 2, "on_track"), row("a", 3, "missed")])  # (the 3rd is replaced)
    changes = status_changes(rows, published)
    assert changes.select("key_result_id", "as_of", "previous_status", "status").rows() == [
        ("a", date(2026, 1, 4), "on_track", "at_risk"),
        ("b", date(2026, 1, 3), None, "off_track"),
        ("b", date(2026, 1, 4), "off_track", "on_track"),
    ]
