"""Span measures counted for every period at once (`span_measures`, from start and end counts) equal
DESIGN.md's row rule applied period by period (`Measure.span_aggregation`), on generated snapshots:
open and closed spans, spans that end where they start, spans ending before they start, a `where`
condition, a dimension, calendar periods (fiscal too, to date too) and other windows."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.kpis.transforms import PERIOD_KEY, span_measures
from kpi.catalog import EntityDeclaration, MeasureDeclaration, build_catalog
from kpi.periods import Calendar

FIRST = date(2026, 1, 1)
AGGREGATIONS = ["active_at_start", "active_at_end", "started", "ended", "retained", "ended_from_start"]
CATALOG = build_catalog(
    entities={
        "contracts": EntityDeclaration.model_validate(
            {
                "key": "contract_id",
                "span": ["started_on", "ended_on"],
                "columns": {"contract_id": "str", "started_on": "date", "ended_on": "date", "plan": "str"},
            }
        )
    },
    measures={
        f"{agg}_{suffix}": MeasureDeclaration.model_validate({"entity": "contracts", "agg": agg, **where})
        for agg in AGGREGATIONS
        for suffix, where in (("all", {}), ("pro", {"where": "plan = 'pro'"}))
    },
)
ENTITY = CATALOG.entities["contracts"]
MEASURES = [measure for measure in CATALOG.measures.values() if measure.entity == "contracts"]


def day(offset: int) -> date:
    return FIRST + timedelta(days=offset)


@st.composite
def snapshots(draw) -> pl.DataFrame:
    rows = draw(st.integers(0, 25))
    starts = draw(st.lists(st.integers(-40, 120), min_size=rows, max_size=rows))
    ends = [
        draw(st.one_of(st.none(), st.integers(start - 5, start + 60))) for start in starts
    ]  # some end before they start
    plans = draw(st.lists(st.sampled_from(["pro", "basic", None]), min_size=rows, max_size=rows))
    return pl.DataFrame(
        {
            "contract_id": [f"c{index}" for index in range(rows)],
            "started_on": [day(start) for start in starts],
            "ended_on": [None if end is None else day(end) for end in ends],
            "plan": plans,
        },
        schema=ENTITY.schema,
    )


def row_by_row(snapshot: pl.DataFrame, periods: pl.DataFrame, dimension: str | None) -> pl.DataFrame:
    """Each period's measures by DESIGN.md's row rule over the whole snapshot, one period at a time."""
    frames = []
    for grain, start, end in periods.select(PERIOD_KEY).unique(maintain_order=True).iter_rows():
        aggregations = [measure.span_aggregation(ENTITY, start, end) for measure in MEASURES]
        if dimension is None:
            counted = snapshot.select(aggregations)
        else:
            counted = snapshot.group_by(
                pl.col(dimension).cast(pl.String()).fill_null("(none)").alias("dimension_value")
            ).agg(aggregations)
        frames.append(
            counted.with_columns(grain=pl.lit(grain), period_start=pl.lit(start), period_end=pl.lit(end))
        )
    keys = PERIOD_KEY + (["dimension_value"] if dimension else [])
    return pl.concat(frames).select(keys + [measure.name for measure in MEASURES])


def periods_of(calendar: Calendar, latest: int) -> pl.DataFrame:
    calendar_periods = calendar.periods_containing(day(0), day(latest), day(latest))
    windows = pl.DataFrame(
        {
            "grain": ["window"] * 3,
            "period_start": [day(0), day(0), day(latest // 2)],
            "period_end": [day(10), day(latest), day(latest)],
            "is_complete": [False] * 3,
        },
        schema=calendar_periods.schema,
    )
    return pl.concat([calendar_periods, windows])


@settings(max_examples=40, deadline=None)
@given(
    snapshot=snapshots(),
    fiscal_start=st.sampled_from([1, 4, 11]),
    latest=st.integers(20, 95),
    dimension=st.sampled_from([None, "plan"]),
)
def test_counted_at_once_equals_the_row_rule_period_by_period(
    snapshot: pl.DataFrame, fiscal_start: int, latest: int, dimension: str | None
) -> None:
    calendar = Calendar(fiscal_start)
    periods = periods_of(calendar, latest)
    keys = PERIOD_KEY + (["dimension_value"] if dimension else [])
    expected = (
        row_by_row(snapshot, periods, dimension).cast({m.name: pl.Int64() for m in MEASURES}).sort(keys)
    )
    actual = (
        span_measures(snapshot.lazy(), periods, ENTITY, MEASURES, calendar, dimension).collect().sort(keys)
    )
    assert_frame_equal(actual, expected)
