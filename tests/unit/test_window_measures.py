"""Flow measures over an objective's windows (its start to every as-of day), rolled up as running
totals from the start, equal each window's rows aggregated directly (`Measure.aggregation` over the
rows the window spans), on generated transactions: every aggregation, a `where`, a dimension, windows
sharing a start and windows of different starts."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.kpis.transforms import PERIOD_KEY, flow_measures
from kpi.catalog import EntityDeclaration, MeasureDeclaration, build_catalog
from kpi.periods import Calendar

FIRST = date(2026, 1, 1)
DECLARED = {
    "tickets": {"agg": "count"},
    "urgent": {"agg": "count", "where": "priority = 'urgent'"},
    "replied": {"agg": "count", "column": "hours"},
    "hours_total": {"agg": "sum", "column": "hours", "where": "priority <> 'low'"},
    "hours_mean": {"agg": "mean", "column": "hours"},
    "hours_min": {"agg": "min", "column": "hours"},
    "hours_max": {"agg": "max", "column": "hours * 2", "where": "priority = 'urgent'"},
    "agents": {"agg": "count_distinct", "column": "agent"},
    "urgent_agents": {"agg": "count_distinct", "column": "agent", "where": "priority = 'urgent'"},
}
CATALOG = build_catalog(
    entities={
        "tickets": EntityDeclaration.model_validate(
            {
                "key": "ticket_id",
                "date": "opened_on",
                "columns": {
                    "ticket_id": "str",
                    "opened_on": "date",
                    "priority": "str",
                    "agent": "str",
                    "hours": "int",
                },
            }
        )
    },
    measures={
        name: MeasureDeclaration.model_validate({"entity": "tickets", **declaration})
        for name, declaration in DECLARED.items()
    },
)
ENTITY = CATALOG.entities["tickets"]
MEASURES = [CATALOG.measures[name] for name in DECLARED]


@st.composite
def tickets(draw) -> pl.DataFrame:
    rows = draw(st.integers(0, 30))
    return pl.DataFrame(
        {
            "ticket_id": [f"t{index}" for index in range(rows)],
            "opened_on": [FIRST + timedelta(days=draw(st.integers(0, 40))) for _ in range(rows)],
            "priority": draw(
                st.lists(st.sampled_from(["urgent", "low", "normal", None]), min_size=rows, max_size=rows)
            ),
            "agent": draw(
                st.lists(st.sampled_from(["ann", "bob", "cy", None]), min_size=rows, max_size=rows)
            ),
            "hours": draw(st.lists(st.one_of(st.none(), st.integers(0, 50)), min_size=rows, max_size=rows)),
        },
        schema=ENTITY.schema,
    )


def windows(ends: list[int], second_start: int) -> pl.DataFrame:
    rows = [("window", FIRST, FIRST + timedelta(days=end)) for end in ends]
    rows += [
        ("window", FIRST + timedelta(days=second_start), FIRST + timedelta(days=second_start + end))
        for end in ends
    ]
    return pl.DataFrame(
        rows, schema={"grain": pl.String(), "period_start": pl.Date(), "period_end": pl.Date()}, orient="row"
    )


def directly(rows: pl.DataFrame, periods: pl.DataFrame, dimension: str | None) -> pl.DataFrame:
    """Each window's rows aggregated on their own: the reference."""
    frames = []
    aggregations = [measure.aggregation() for measure in MEASURES]
    for grain, start, end in periods.iter_rows():
        window = rows.filter(pl.col("opened_on").is_between(start, end))
        if dimension is None:
            counted = window.select(aggregations)
        else:
            counted = window.group_by(pl.col(dimension).fill_null("(none)").alias("dimension_value")).agg(
                aggregations
            )
        frames.append(
            counted.with_columns(grain=pl.lit(grain), period_start=pl.lit(start), period_end=pl.lit(end))
        )
    keys = PERIOD_KEY + (["dimension_value"] if dimension else [])
    result = pl.concat(frames, how="diagonal_relaxed").select(keys + [m.name for m in MEASURES])
    if dimension is None:  # a window without rows: sums and counts 0 (the caller's fill)
        result = result.with_columns(
            pl.col(m.name).fill_null(m.empty_value) for m in MEASURES if m.empty_value is not None
        )
    return result


@settings(max_examples=50, deadline=None)
@given(
    rows=tickets(),
    ends=st.lists(st.integers(0, 45), min_size=1, max_size=6, unique=True),
    second_start=st.integers(0, 30),
    dimension=st.sampled_from([None, "priority"]),
)
def test_running_totals_equal_each_window_aggregated_directly(
    rows: pl.DataFrame, ends: list[int], second_start: int, dimension: str | None
) -> None:
    periods = windows(ends, second_start).unique(maintain_order=True)
    keys = PERIOD_KEY + (["dimension_value"] if dimension else [])
    expected = directly(rows, periods, dimension).sort(keys)
    actual = flow_measures(rows.lazy(), periods, ENTITY, MEASURES, Calendar(), dimension).collect().sort(keys)
    assert_frame_equal(actual, expected, check_dtypes=False)
