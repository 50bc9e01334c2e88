"""The report's words and charts from hand-made scorecard rows: why a key result is unknown, the
summary line, the expected-progress line and the stay_* threshold."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from kpi.report import key_result_chart, summary, why_unknown


def row(**values) -> dict:
    base = {
        "unit": "ratio",
        "type": "increase",
        "measure": "to_date",
        "baseline": 0.02,
        "target": 0.08,
        "actual": 0.05,
        "window_start": date(2026, 1, 1),
        "window_end": date(2026, 1, 10),
        "days_covered": 7,
    }
    return base | values


def test_why_a_key_result_is_unknown() -> None:
    assert why_unknown(row()) == (
        "only 7 of the 10 days of 2026-01-01 to 2026-01-10 loaded: half the data is not a trend"
    )
    assert why_unknown(row(actual=None)) == "no data for 2026-01-01 to 2026-01-10"
    assert why_unknown(row(window_start=None, window_end=None, measure="latest_complete: month")) == (
        "no complete month inside the objective yet"
    )


def test_the_summary_counts_objectives_once_and_key_results_each() -> None:
    scorecard = pl.DataFrame(
        {
            "objective_id": ["a", "a", "b"],
            "objective_status": ["on_track", "on_track", None],
            "status": ["on_track", "off_track", "unknown"],
        }
    )
    assert (
        summary(scorecard)
        == "2 objectives: 1 on track, 1 unknown. 3 key results: 1 on track, 1 off track, 1 unknown."
    )


def test_the_chart_of_an_increase_draws_the_expected_progress_between_baseline_and_target() -> None:
    history = pl.DataFrame(
        {
            "as_of": [date(2026, 1, 1), date(2026, 1, 2)],
            "actual": [0.03, None],
            "expected_progress": [0.1, 0.2],
            "status": ["on_track", "unknown"],
        }
    )
    traces = {trace["name"]: trace for trace in key_result_chart(row(), history)["data"]}
    assert traces["actual"]["y"] == [pytest.approx(3.0), None]  # a ratio reads as a percentage
    # 2% + 0.1 * (8% - 2%) = 2.6%, then 3.2%
    assert traces["expected by then"]["y"] == [pytest.approx(2.6), pytest.approx(3.2)]
    assert traces["target"]["y"] == [pytest.approx(8.0)] * 2
    assert traces["baseline"]["y"] == [pytest.approx(2.0)] * 2


def test_the_chart_of_a_stay_below_draws_its_threshold_only() -> None:
    history = pl.DataFrame(
        {"as_of": [date(2026, 1, 31)], "actual": [0.025], "expected_progress": [1.0], "status": ["on_track"]}
    )
    figure = key_result_chart(row(type="stay_below", baseline=None, target=0.03), history)
    assert [trace["name"] for trace in figure["data"]] == ["actual", "threshold (at most)"]
    assert figure["data"][1]["y"] == [pytest.approx(3.0)]


def test_a_tile_compares_with_what_was_loaded_only() -> None:
    from kpi.report import _compared

    assert _compared("previous month", 0.05, 0.04, "ratio") == "previous month 4.0% (+1.0 pts)"
    assert _compared("previous month", 110.0, 100.0, "currency") == "previous month 100.00 (+10.0%)"
    assert _compared("a year ago", 110.0, None, "currency") == "a year ago: not loaded"
