"""Declared measures and KPIs (kpi.catalog.build_catalog) through assets.kpis.transforms: every flow and
span aggregation with `where` and `column` expressions, a declared dated and a declared span entity,
KPIs by dimension (the total row and one row per value), fiscal quarters and years, an ISO week across
a year boundary, previous and year-ago values per dimension value, and the cap on dimension values.

Every expected number is worked out by hand from the rows written in this file (the arithmetic is in
the comments), never computed with the code under test. Calendar facts used: 2026-12-28 and
2025-12-29 are Mondays, 2027-01-03 is a Sunday; February 2026 has 28 days.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets.kpis.transforms import attach_previous_values, compute_kpi_rows
from kpi.catalog import (
    Catalog,
    CatalogError,
    EntityDeclaration,
    KpiDeclaration,
    MeasureDeclaration,
    build_catalog,
)
from kpi.periods import PERIOD_SCHEMA, Calendar
from kpi.schema import KPI_VALUE_SCHEMA

ROW_KEY = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]
TOTAL = ("", "")  # (dimension, dimension_value) of a KPI's total row
KNOWN_SCHEMA = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "value": pl.Float64(),
    "is_complete": pl.Boolean(),
}


# --- helpers ----------------------------------------------------------------------------------------


def catalog(
    entities: dict | None = None, measures: dict | None = None, kpis: list[dict] | None = None
) -> Catalog:
    """build_catalog over declarations written as the YAML would parse them."""
    return build_catalog(
        entities={name: EntityDeclaration.model_validate(value) for name, value in (entities or {}).items()},
        measures={name: MeasureDeclaration.model_validate(value) for name, value in (measures or {}).items()},
        kpis=[KpiDeclaration.model_validate(value) for value in (kpis or [])],
    )


def kpi(kpi_id: str, numerator: str, unit: str, denominator: str | None = None, **more: object) -> dict:
    return {
        "id": kpi_id,
        "name": kpi_id.replace("_", " ").capitalize(),
        "numerator": numerator,
        "denominator": denominator,
        "unit": unit,
        "direction": "higher_is_better",
        **more,
    }


def frame(built: Catalog, entity_name: str, rows: list[tuple]) -> pl.LazyFrame:
    """Rows of an entity of `built`, in the order of its schema (a built-in's added dimensions last)."""
    return pl.LazyFrame(rows, schema=built.entities[entity_name].schema, orient="row")


def periods_frame(rows: list[tuple[str, date, date, bool]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PERIOD_SCHEMA, orient="row")


def kpi_rows(rows: list[tuple]) -> pl.DataFrame:
    """Expected kpi_values rows: (kpi_id, grain, start, end, dimension, dimension_value, value,
    numerator, denominator, previous, year_ago, unit, days_covered, is_complete), sorted by ROW_KEY."""
    return pl.DataFrame(rows, schema=KPI_VALUE_SCHEMA, orient="row").sort(ROW_KEY)


def compute(
    built: Catalog,
    entities: dict[str, pl.LazyFrame],
    periods: pl.DataFrame,
    kpi_ids: list[str],
    calendar: Calendar | None = None,
) -> pl.DataFrame:
    """compute_kpi_rows of `kpi_ids` of `built`, every day loaded, sorted by ROW_KEY."""
    kpis = [built.kpis[kpi_id] for kpi_id in kpi_ids]
    return compute_kpi_rows(entities, periods, kpis, built, calendar or Calendar()).sort(ROW_KEY)


def values(rows: pl.DataFrame) -> dict[tuple, float | None]:
    """value by (kpi_id, grain, period_start, dimension_value)."""
    return {
        (kpi_id, grain, start, dimension_value): value
        for kpi_id, grain, start, dimension_value, value in rows.select(
            "kpi_id", "grain", "period_start", "dimension_value", "value"
        ).iter_rows()
    }


# --- 1. flow aggregations, with `where` and `column` expressions ------------------------------------

FLOW_CATALOG = catalog(
    entities={
        "support_tickets": {
            "key": "ticket_id",
            "date": "opened_on",
            "columns": {
                "ticket_id": "str",
                "opened_on": "date",
                "priority": "str",
                "first_reply_hours": "float",
            },
        }
    },
    measures={
        "transactions": {"entity": "revenue_transactions", "agg": "count"},
        "refunds": {
            "entity": "revenue_transactions",
            "agg": "sum",
            "column": "-amount",
            "where": "amount < 0",
        },
        "refund_count": {"entity": "revenue_transactions", "agg": "count", "where": "amount < 0"},
        "identified_sales": {
            "entity": "revenue_transactions",
            "agg": "count",
            "column": "customer_id",
            "where": "amount > 0",
        },
        "refunding_customers": {
            "entity": "revenue_transactions",
            "agg": "count_distinct",
            "column": "customer_id",
            "where": "amount < 0",
        },
        "average_refund": {
            "entity": "revenue_transactions",
            "agg": "mean",
            "column": "-amount",
            "where": "amount < 0",
        },
        "smallest_refund": {
            "entity": "revenue_transactions",
            "agg": "min",
            "column": "-amount",
            "where": "amount < 0",
        },
        "largest_refund": {
            "entity": "revenue_transactions",
            "agg": "max",
            "column": "-amount",
            "where": "amount < 0",
        },
        "urgent_tickets": {"entity": "support_tickets", "agg": "count", "where": "priority = 'urgent'"},
        "mean_first_reply_hours": {"entity": "support_tickets", "agg": "mean", "column": "first_reply_hours"},
    },
    kpis=[
        kpi("transactions", "transactions", "count"),
        kpi("refunds", "refunds", "currency"),
        kpi("refund_count", "refund_count", "count"),
        kpi("identified_sales", "identified_sales", "count"),
        kpi("refunding_customers", "refunding_customers", "count"),
        kpi("average_refund", "average_refund", "currency"),
        kpi("smallest_refund", "smallest_refund", "currency"),
        kpi("largest_refund", "largest_refund", "currency"),
        kpi("urgent_tickets", "urgent_tickets", "count"),
        kpi("mean_first_reply_hours", "mean_first_reply_hours", "score"),
    ],
)

FLOW_TRANSACTIONS = [
    # (transaction_id, booked_on, customer_id, amount)
    ("t1", date(2026, 3, 1), "c1", 120.0),
    ("t2", date(2026, 3, 1), "c2", -30.0),  # a refund
    ("t3", date(2026, 3, 1), None, 50.0),  # a sale without a customer
    ("t4", date(2026, 3, 3), "c1", 80.0),
    ("t5", date(2026, 3, 3), "c1", -20.0),
    ("t6", date(2026, 3, 3), "c3", -5.0),
    ("t7", date(2026, 3, 20), "c2", 200.0),  # 03-20: rows, but no refund
    ("t8", date(2026, 3, 31), None, -45.0),  # a refund without a customer
    ("t9", date(2026, 4, 1), "c9", -999.0),  # in no period
]
TICKETS = [
    # (ticket_id, opened_on, priority, first_reply_hours)
    ("k1", date(2026, 3, 1), "urgent", 2.0),
    ("k2", date(2026, 3, 1), "low", 10.0),
    ("k3", date(2026, 3, 1), "urgent", None),  # not replied yet: urgent, but no reply time
    ("k4", date(2026, 3, 3), "normal", 4.0),
    ("k5", date(2026, 3, 20), "urgent", 1.0),
    ("k6", date(2026, 3, 20), None, 3.0),  # no priority: the where is null, not counted
    ("k7", date(2026, 4, 1), "urgent", 100.0),  # after March: in no period
]
# Every period complete, every day loaded. 03-02 and February have no rows at all; 03-20 has rows but
# no refund.
FLOW_PERIODS = [
    ("day", date(2026, 3, 1), date(2026, 3, 1), True),
    ("day", date(2026, 3, 2), date(2026, 3, 2), True),
    ("day", date(2026, 3, 3), date(2026, 3, 3), True),
    ("day", date(2026, 3, 20), date(2026, 3, 20), True),
    ("month", date(2026, 2, 1), date(2026, 2, 28), True),
    ("month", date(2026, 3, 1), date(2026, 3, 31), True),
]
FLOW_DAYS = [1, 1, 1, 1, 28, 31]
# Value per period, in FLOW_PERIODS order: 03-01, 03-02, 03-03, 03-20, February, March.
#   refunds (-amount where amount < 0): 03-01 t2 30; 03-03 t5 + t6 20 + 5 = 25; March 30 + 25 + 45 = 100
#   refund_count: 03-01 {t2} 1; 03-03 {t5, t6} 2; March {t2, t5, t6, t8} 4
#   identified_sales (customer_id not null, amount > 0): 03-01 {t1} 1 (t3 has none); 03-03 {t4} 1;
#       03-20 {t7} 1; March {t1, t4, t7} 3
#   refunding_customers (distinct customer_id, amount < 0): 03-01 {c2} 1; 03-03 {c1, c3} 2;
#       March {c2, c1, c3} 3 (t8's null customer is not a value)
#   average_refund: 03-01 30; 03-03 25 / 2 = 12.5; March 100 / 4 = 25
#   smallest_refund: 03-01 30; 03-03 5; March 5.   largest_refund: 03-01 30; 03-03 20; March 45
#   no row (03-02, February) or no refund (03-20): sums and counts 0, mean, min and max null
#   urgent_tickets: 03-01 {k1, k3} 2; 03-20 {k5} 1 (k6 has no priority); March 3
#   mean_first_reply_hours: 03-01 (2 + 10) / 2 = 6 (k3's null left out); 03-03 4; 03-20 (1 + 3) / 2 = 2;
#       March (2 + 10 + 4 + 1 + 3) / 5 = 4
FLOW_EXPECTED: dict[str, tuple[str, list[float | None]]] = {
    "transactions": ("count", [3, 0, 3, 1, 0, 8]),
    "refunds": ("currency", [30, 0, 25, 0, 0, 100]),
    "refund_count": ("count", [1, 0, 2, 0, 0, 4]),
    "identified_sales": ("count", [1, 0, 1, 1, 0, 3]),
    "refunding_customers": ("count", [1, 0, 2, 0, 0, 3]),
    "average_refund": ("currency", [30, None, 12.5, None, None, 25]),
    "smallest_refund": ("currency", [30, None, 5, None, None, 5]),
    "largest_refund": ("currency", [30, None, 20, None, None, 45]),
    "urgent_tickets": ("count", [2, 0, 0, 1, 0, 3]),
    "mean_first_reply_hours": ("score", [6, None, 4, 2, None, 4]),
}


def test_every_flow_aggregation_with_a_where_and_a_column_expression_at_day_and_month_grain() -> None:
    entities = {
        "revenue_transactions": frame(FLOW_CATALOG, "revenue_transactions", FLOW_TRANSACTIONS),
        "support_tickets": frame(FLOW_CATALOG, "support_tickets", TICKETS),
    }
    rows = compute(FLOW_CATALOG, entities, periods_frame(FLOW_PERIODS), list(FLOW_EXPECTED))
    expected = kpi_rows(
        [
            (kpi_id, grain, start, end, *TOTAL, value, value, None, None, None, unit, days, complete)
            for kpi_id, (unit, by_period) in FLOW_EXPECTED.items()
            for (grain, start, end, complete), days, value in zip(
                FLOW_PERIODS, FLOW_DAYS, by_period, strict=True
            )
        ]
    )
    assert_frame_equal(rows, expected)


def test_the_declared_dated_entity_is_dated_by_its_date_column() -> None:
    tickets = FLOW_CATALOG.entities["support_tickets"]
    assert (tickets.key, tickets.date_column, tickets.span) == ("ticket_id", "opened_on", None)
    assert tickets.schema == {
        "ticket_id": pl.String(),
        "opened_on": pl.Date(),
        "priority": pl.String(),
        "first_reply_hours": pl.Float64(),
    }
    assert FLOW_CATALOG.kpis["urgent_tickets"].inputs == ("support_tickets",)


# --- 2. span aggregations over a declared span entity ---------------------------------------------------

SPAN_CATALOG_ENTITIES = {
    "contracts": {
        "key": "contract_id",
        "span": ["started_on", "ended_on"],
        "columns": {"contract_id": "str", "started_on": "date", "ended_on": "date", "plan": "str"},
    }
}
SPAN_CATALOG = catalog(
    entities=SPAN_CATALOG_ENTITIES,
    measures={
        "contracts_at_start": {"entity": "contracts", "agg": "active_at_start"},
        "pro_at_start": {"entity": "contracts", "agg": "active_at_start", "where": "plan = 'pro'"},
        "pro_at_end": {"entity": "contracts", "agg": "active_at_end", "where": "plan = 'pro'"},
        "pro_started": {"entity": "contracts", "agg": "started", "where": "plan = 'pro'"},
        "pro_ended": {"entity": "contracts", "agg": "ended", "where": "plan = 'pro'"},
        "pro_retained": {"entity": "contracts", "agg": "retained", "where": "plan = 'pro'"},
        "pro_ended_from_start": {"entity": "contracts", "agg": "ended_from_start", "where": "plan = 'pro'"},
    },
    kpis=[
        kpi("contracts_at_start", "contracts_at_start", "count"),
        kpi("pro_at_start", "pro_at_start", "count"),
        kpi("pro_at_end", "pro_at_end", "count"),
        kpi("pro_started", "pro_started", "count"),
        kpi("pro_ended", "pro_ended", "count"),
        kpi("pro_retained", "pro_retained", "count"),
        kpi("pro_ended_from_start", "pro_ended_from_start", "count"),
        kpi("pro_retention", "pro_retained", "ratio", "pro_at_start"),
        kpi("pro_churn", "pro_ended_from_start", "ratio", "pro_at_start", direction="lower_is_better"),
    ],
)

SPAN_KPIS = [
    "contracts_at_start",
    "pro_at_start",
    "pro_at_end",
    "pro_started",
    "pro_ended",
    "pro_retained",
    "pro_ended_from_start",
    "pro_retention",
    "pro_churn",
]

CONTRACTS = [
    # (contract_id, started_on, ended_on, plan); March 2026: start-1 = 02-28, end = 03-31
    ("k1", date(2025, 1, 1), None, "pro"),  # active throughout: at start, at end, retained
    ("k2", date(2025, 1, 1), date(2026, 2, 28), "pro"),  # ends on start-1: not active then; nowhere
    ("k3", date(2025, 1, 1), date(2026, 3, 31), "pro"),  # ends on the last day: at start, ended, not at end
    ("k4", date(2026, 3, 1), None, "pro"),  # starts on the first day: started, at end, not at start
    ("k5", date(2026, 3, 5), date(2026, 3, 10), "pro"),  # starts and ends in March: started, ended
    ("k6", date(2025, 6, 1), date(2026, 3, 1), "pro"),  # ends on the first day: at start, ended
    ("k7", date(2026, 2, 28), None, "pro"),  # starts on start-1: at start, at end, retained, not started
    ("k8", date(2026, 4, 1), None, "pro"),  # starts after the month: nowhere
    ("k9", date(2026, 3, 31), None, "pro"),  # starts on the last day: started, at end
    ("b1", date(2025, 1, 1), date(2026, 3, 15), "basic"),  # another plan: only in contracts_at_start
    ("n1", date(2026, 3, 2), None, None),  # no plan: the where is null, in no pro measure
]
# pro at start (02-28):     {k1, k3, k6, k7} = 4
# pro at end (03-31):       {k1, k4, k7, k9} = 4
# pro started in March:     {k4, k5, k9} = 3
# pro ended in March:       {k3, k5, k6} = 3
# pro retained:             {k1, k7} = 2 (at start and at end)
# pro ended from start:     {k3, k6} = 2
# check: at end = at start - ended from start + started and still active (k4, k9) = 4 - 2 + 2 = 4
# every plan at start:      {k1, k3, k6, k7, b1} = 5 (n1 starts in March)
MARCH = ("month", date(2026, 3, 1), date(2026, 3, 31), True)


def test_every_span_aggregation_with_a_where_on_the_boundaries_of_a_month() -> None:
    rows = compute(
        SPAN_CATALOG,
        {"contracts": frame(SPAN_CATALOG, "contracts", CONTRACTS)},
        periods_frame([MARCH]),
        SPAN_KPIS,
    )
    month = (date(2026, 3, 1), date(2026, 3, 31))

    def count(kpi_id: str, value: float) -> tuple:
        return (kpi_id, "month", *month, *TOTAL, value, value, None, None, None, "count", 31, True)

    expected = kpi_rows(
        [
            count("contracts_at_start", 5),
            count("pro_at_start", 4),
            count("pro_at_end", 4),
            count("pro_started", 3),
            count("pro_ended", 3),
            count("pro_retained", 2),
            count("pro_ended_from_start", 2),
            ("pro_retention", "month", *month, *TOTAL, 2 / 4, 2, 4, None, None, "ratio", 31, True),
            ("pro_churn", "month", *month, *TOTAL, 2 / 4, 2, 4, None, None, "ratio", 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_the_declared_span_entity_needs_only_its_key_and_start() -> None:
    contracts = SPAN_CATALOG.entities["contracts"]
    assert (contracts.key, contracts.date_column, contracts.span) == (
        "contract_id",
        None,
        ("started_on", "ended_on"),
    )
    assert contracts.required_columns == ["contract_id", "started_on"]


# --- 3. a ratio by dimension: a total row and a row per value ------------------------------------------

REGION_CATALOG = catalog(
    entities={"revenue_transactions": {"dimensions": {"region": "str"}}},
    measures={
        "positive_sales": {
            "entity": "revenue_transactions",
            "agg": "sum",
            "column": "amount",
            "where": "amount > 0",
        },
        "orders": {"entity": "revenue_transactions", "agg": "count", "where": "amount > 0"},
        "refunds": {
            "entity": "revenue_transactions",
            "agg": "sum",
            "column": "-amount",
            "where": "amount < 0",
        },
    },
    kpis=[
        kpi("average_order_value", "positive_sales", "currency", "orders", dimensions=["region"]),
        kpi(
            "refund_rate",
            "refunds",
            "ratio",
            "positive_sales",
            dimensions=["region"],
            direction="lower_is_better",
        ),
    ],
)
REGION_KPIS = ["average_order_value", "refund_rate"]

MARCH_SALES = [
    # (transaction_id, booked_on, customer_id, amount, region)
    ("m1", date(2026, 3, 2), "c1", 100.0, "north"),
    ("m2", date(2026, 3, 5), "c2", 300.0, "north"),
    ("m3", date(2026, 3, 6), "c1", -50.0, "north"),
    ("m4", date(2026, 3, 7), "c3", 60.0, "south"),
    ("m5", date(2026, 3, 8), "c4", -6.0, "south"),
    ("m6", date(2026, 3, 9), "c5", -20.0, "west"),  # west: a refund, no sale
    ("m7", date(2026, 3, 10), "c6", 40.0, None),  # no region: '(none)'
    ("m8", date(2026, 3, 31), "c6", 20.0, None),
    ("m9", date(2026, 4, 1), "c1", 1000.0, "north"),  # April: in no period
]
# March, total:  positive sales 100 + 300 + 60 + 40 + 20 = 520 over 5 orders = 104;
#                refunds 50 + 6 + 20 = 76, refund rate 76 / 520
# north:         sales 100 + 300 = 400 over 2 orders = 200; refunds 50 / 400 = 0.125
# south:         sales 60 over 1 order = 60; refunds 6 / 60 = 0.1
# west:          sales 0 over 0 orders: null; refunds 20 over sales 0: null
# (none):        sales 40 + 20 = 60 over 2 orders = 30; refunds 0 / 60 = 0
MARCH_BY_REGION = {
    # dimension_value: (positive_sales, orders, refunds)
    "": (520, 5, 76),
    "north": (400, 2, 50),
    "south": (60, 1, 6),
    "west": (0, 0, 20),
    "(none)": (60, 2, 0),
}


def region_row(
    kpi_id: str,
    start: date,
    end: date,
    region: str,
    numerator: float,
    denominator: float,
    days: int,
    previous: float | None = None,
    year_ago: float | None = None,
) -> tuple:
    """A month row of a region KPI; the value numerator / denominator from hand-given literals."""
    value = numerator / denominator if denominator != 0 else None
    dimension = "region" if region else ""
    unit = {"average_order_value": "currency", "refund_rate": "ratio"}[kpi_id]
    return (
        kpi_id,
        "month",
        start,
        end,
        dimension,
        region,
        value,
        numerator,
        denominator,
        previous,
        year_ago,
        unit,
        days,
        True,
    )


def test_a_ratio_by_dimension_has_a_total_row_and_a_row_per_value_over_that_values_rows() -> None:
    rows = compute(
        REGION_CATALOG,
        {"revenue_transactions": frame(REGION_CATALOG, "revenue_transactions", MARCH_SALES)},
        periods_frame([MARCH]),
        REGION_KPIS,
    )
    march = (date(2026, 3, 1), date(2026, 3, 31))
    expected = kpi_rows(
        [
            row
            for region, (sales, orders, refunds) in MARCH_BY_REGION.items()
            for row in (
                region_row("average_order_value", *march, region, sales, orders, 31),
                region_row("refund_rate", *march, region, refunds, sales, 31),
            )
        ]
    )
    assert_frame_equal(rows, expected)
    # the values written out: west has no sale, so no order value and no refund rate
    assert values(rows.filter(pl.col("kpi_id") == "refund_rate")) == {
        ("refund_rate", "month", date(2026, 3, 1), ""): 76 / 520,
        ("refund_rate", "month", date(2026, 3, 1), "north"): 0.125,
        ("refund_rate", "month", date(2026, 3, 1), "south"): 0.1,
        ("refund_rate", "month", date(2026, 3, 1), "west"): None,
        ("refund_rate", "month", date(2026, 3, 1), "(none)"): 0.0,
    }


def test_without_dimensions_only_the_total_rows_are_computed() -> None:
    kpis = [REGION_CATALOG.kpis[kpi_id] for kpi_id in REGION_KPIS]
    rows = compute_kpi_rows(
        {"revenue_transactions": frame(REGION_CATALOG, "revenue_transactions", MARCH_SALES)},
        periods_frame([MARCH]),
        kpis,
        REGION_CATALOG,
        Calendar(),
        with_dimensions=False,
    )
    assert rows.select("kpi_id", "dimension", "dimension_value", "value").sort("kpi_id").rows() == [
        ("average_order_value", "", "", 520 / 5),
        ("refund_rate", "", "", 76 / 520),
    ]


def test_a_span_ratio_by_dimension_counts_each_values_rows_on_both_days() -> None:
    # contract retention by plan over CONTRACTS in March: retained (active on 02-28 and on 03-31) over
    # active on 02-28, whatever the plan
    by_plan = catalog(
        entities=SPAN_CATALOG_ENTITIES,
        measures={
            "at_start": {"entity": "contracts", "agg": "active_at_start"},
            "retained": {"entity": "contracts", "agg": "retained"},
        },
        kpis=[kpi("contract_retention", "retained", "ratio", "at_start", dimensions=["plan"])],
    )
    rows = compute(
        by_plan,
        {"contracts": frame(by_plan, "contracts", CONTRACTS)},
        periods_frame([MARCH]),
        ["contract_retention"],
    )
    # total: at start {k1, k3, k6, k7, b1} = 5, retained {k1, k7} = 2
    # pro: 2 of {k1, k3, k6, k7} = 4; basic: b1 ends 03-15, 0 of 1; (none): n1 starts in March, 0 of 0
    assert rows.select("dimension", "dimension_value", "value", "numerator", "denominator").rows() == [
        ("", "", 2 / 5, 2.0, 5.0),
        ("plan", "(none)", None, 0.0, 0.0),
        ("plan", "basic", 0.0, 0.0, 1.0),
        ("plan", "pro", 2 / 4, 2.0, 4.0),
    ]


# --- 4. fiscal quarters and years across the calendar year ------------------------------------------------

FISCAL_SALES = [
    ("f1", date(2026, 12, 31), "c1", 10.0),
    ("f2", date(2027, 1, 1), "c1", 20.0),
    ("f3", date(2027, 3, 31), "c1", 40.0),
    ("f4", date(2027, 4, 1), "c1", 80.0),
]


def fiscal_revenue(fiscal_year_start_month: int) -> dict[tuple[str, date], tuple[date, float, bool]]:
    """revenue by (grain, period_start): (period_end, value, is_complete), for the quarters and years
    holding 2026-12-31 .. 2027-04-01, 2027-04-01 the latest loaded day."""
    calendar = Calendar(fiscal_year_start_month=fiscal_year_start_month, grains=("quarter", "year"))
    built = build_catalog()
    periods = calendar.periods_containing(date(2026, 12, 31), date(2027, 4, 1), date(2027, 4, 1))
    rows = compute(
        built,
        {"revenue_transactions": frame(built, "revenue_transactions", FISCAL_SALES)},
        periods,
        ["revenue"],
        calendar,
    )
    return {
        (grain, start): (end, value, complete)
        for grain, start, end, value, complete in rows.select(
            "grain", "period_start", "period_end", "value", "is_complete"
        ).iter_rows()
    }


def test_a_fiscal_year_from_april_holds_december_to_march_and_its_last_quarter_january_to_march() -> None:
    # FY2026 is 2026-04-01 .. 2027-03-31; its quarters start in April, July, October and January
    assert fiscal_revenue(4) == {
        ("quarter", date(2026, 10, 1)): (date(2026, 12, 31), 10.0, True),  # f1
        ("quarter", date(2027, 1, 1)): (date(2027, 3, 31), 20.0 + 40.0, True),  # f2, f3: the middle two
        ("quarter", date(2027, 4, 1)): (date(2027, 4, 1), 80.0, False),  # f4, to date
        ("year", date(2026, 4, 1)): (date(2027, 3, 31), 10.0 + 20.0 + 40.0, True),  # f1, f2, f3
        ("year", date(2027, 4, 1)): (date(2027, 4, 1), 80.0, False),  # FY2027 to date: f4
    }


def test_a_fiscal_quarter_from_november_to_january_crosses_the_calendar_year() -> None:
    # from February: quarters start in February, May, August and November; FY2026 is 2026-02-01 ..
    # 2027-01-31, so 2026-12-31 and 2027-01-01 share both a quarter and a year
    assert fiscal_revenue(2) == {
        ("quarter", date(2026, 11, 1)): (date(2027, 1, 31), 10.0 + 20.0, True),  # f1, f2
        ("quarter", date(2027, 2, 1)): (date(2027, 4, 1), 40.0 + 80.0, False),  # f3, f4, to date
        ("year", date(2026, 2, 1)): (date(2027, 1, 31), 10.0 + 20.0, True),
        ("year", date(2027, 2, 1)): (date(2027, 4, 1), 40.0 + 80.0, False),
    }


# --- 5. an ISO week across a year boundary, and its year-ago week -------------------------------------------

WEEK_SALES = [
    ("w0", date(2026, 12, 27), "c1", 1000.0),  # Sunday: the week before
    ("w1", date(2026, 12, 28), "c1", 10.0),  # Monday, the week's first day
    ("w2", date(2026, 12, 31), "c2", 20.0),
    ("w3", date(2027, 1, 1), "c1", 40.0),
    ("w4", date(2027, 1, 3), "c3", 80.0),  # Sunday, the week's last day
    ("w5", date(2027, 1, 4), "c1", 2000.0),  # Monday: the week after
]


def test_an_iso_week_across_the_year_boundary_and_its_year_ago_week() -> None:
    calendar = Calendar(grains=("week",))
    periods = calendar.periods_containing(date(2026, 12, 28), date(2027, 1, 3), date(2027, 1, 3))
    assert_frame_equal(periods, periods_frame([("week", date(2026, 12, 28), date(2027, 1, 3), True)]))
    built = build_catalog()
    rows = compute(
        built,
        {"revenue_transactions": frame(built, "revenue_transactions", WEEK_SALES)},
        periods,
        ["revenue", "active_customers"],
        calendar,
    )
    known = pl.DataFrame(
        [
            # previous week: Monday 2026-12-21
            ("revenue", "week", date(2026, 12, 21), *TOTAL, 7.0, True),
            # a year ago: 364 days (52 weeks) before Monday 2026-12-28 is Monday 2025-12-29
            ("revenue", "week", date(2025, 12, 29), *TOTAL, 99.0, True),
            ("active_customers", "week", date(2025, 12, 29), *TOTAL, 5.0, True),
            # decoys: the week before the year-ago one, the same start at day grain, and the calendar
            # year before (2025-12-28, a Sunday: no week starts there)
            ("revenue", "week", date(2025, 12, 22), *TOTAL, 98.0, True),
            ("revenue", "day", date(2025, 12, 29), *TOTAL, 97.0, True),
            ("revenue", "week", date(2025, 12, 28), *TOTAL, 96.0, True),
        ],
        schema=KNOWN_SCHEMA,
        orient="row",
    )
    week = (date(2026, 12, 28), date(2027, 1, 3))
    # revenue w1 + w2 + w3 + w4 = 10 + 20 + 40 + 80 = 150; active customers {c1, c2, c3} = 3
    expected = kpi_rows(
        [
            ("revenue", "week", *week, *TOTAL, 150.0, 150.0, None, 7.0, 99.0, "currency", 7, True),
            ("active_customers", "week", *week, *TOTAL, 3.0, 3.0, None, None, 5.0, "count", 7, True),
        ]
    )
    assert_frame_equal(attach_previous_values(rows, known, calendar).sort(ROW_KEY), expected)


def test_the_default_calendar_has_the_week_between_the_day_and_the_month() -> None:
    periods = Calendar().periods_containing(date(2027, 1, 1), date(2027, 1, 1), date(2027, 1, 3))
    assert_frame_equal(
        periods,
        periods_frame(
            [
                ("day", date(2027, 1, 1), date(2027, 1, 1), True),
                ("week", date(2026, 12, 28), date(2027, 1, 3), True),
                ("month", date(2027, 1, 1), date(2027, 1, 3), False),
                ("quarter", date(2027, 1, 1), date(2027, 1, 3), False),
                ("year", date(2027, 1, 1), date(2027, 1, 3), False),
            ]
        ),
    )


# --- 6. previous_value and year_ago_value per dimension value -------------------------------------------

FEBRUARY_SALES = [
    ("e1", date(2026, 2, 10), "c1", 150.0, "north"),
    ("e2", date(2026, 2, 11), "c7", 90.0, "south"),
]
# February: total 240 over 2 orders = 120; north 150 / 1 = 150; south 90 / 1 = 90 (no west, no '(none)')


def test_previous_and_year_ago_values_come_from_the_same_dimension_value() -> None:
    periods = periods_frame([("month", date(2026, 2, 1), date(2026, 2, 28), True), MARCH])
    rows = compute(
        REGION_CATALOG,
        {"revenue_transactions": frame(REGION_CATALOG, "revenue_transactions", FEBRUARY_SALES + MARCH_SALES)},
        periods,
        ["average_order_value"],
    )
    known = pl.DataFrame(
        [
            # January 2026: north only, for February's previous value
            ("average_order_value", "month", date(2026, 1, 1), "region", "north", 7.0, True),
            # March 2025: the year-ago values of March 2026 (no west, no '(none)')
            ("average_order_value", "month", date(2025, 3, 1), "", "", 2000.0, True),
            ("average_order_value", "month", date(2025, 3, 1), "region", "north", 44.0, True),
            ("average_order_value", "month", date(2025, 3, 1), "region", "south", 55.0, True),
            # decoys: stale February values recomputed now, and another dimension with a value 'north'
            ("average_order_value", "month", date(2026, 2, 1), "", "", 1000.0, True),
            ("average_order_value", "month", date(2026, 2, 1), "region", "north", 11.0, True),
            ("average_order_value", "month", date(2026, 2, 1), "channel", "north", 999.0, True),
            ("average_order_value", "month", date(2025, 3, 1), "channel", "north", 998.0, True),
        ],
        schema=KNOWN_SCHEMA,
        orient="row",
    )
    february = (date(2026, 2, 1), date(2026, 2, 28))
    march = (date(2026, 3, 1), date(2026, 3, 31))
    aov = "average_order_value"
    expected = kpi_rows(
        [
            region_row(aov, *february, "", 240, 2, 28),  # January's total is not known
            region_row(aov, *february, "north", 150, 1, 28, previous=7.0),
            region_row(aov, *february, "south", 90, 1, 28),
            # March's previous: February's rows just computed (120, 150, 90), not the stale known ones
            region_row(aov, *march, "", 520, 5, 31, previous=120.0, year_ago=2000.0),
            region_row(aov, *march, "north", 400, 2, 31, previous=150.0, year_ago=44.0),
            region_row(aov, *march, "south", 60, 1, 31, previous=90.0, year_ago=55.0),
            region_row(aov, *march, "west", 0, 0, 31),  # no February or March 2025 west row: null
            region_row(aov, *march, "(none)", 60, 2, 31),  # likewise, not the total's 120 or 2000
        ]
    )
    assert_frame_equal(attach_previous_values(rows, known, Calendar()).sort(ROW_KEY), expected)


# --- 7. a dimension with more than 1000 values --------------------------------------------------------------


def many_regions(count: int) -> pl.LazyFrame:
    return frame(
        REGION_CATALOG,
        "revenue_transactions",
        [(f"t{k}", date(2026, 3, 2), "c1", 1.0, f"region {k}") for k in range(count)],
    )


def test_more_than_1000_values_of_a_dimension_is_an_error_naming_it() -> None:
    with pytest.raises(CatalogError, match=r"dimension 'region' has 1001 values"):
        compute(
            REGION_CATALOG, {"revenue_transactions": many_regions(1001)}, periods_frame([MARCH]), REGION_KPIS
        )


def test_1000_values_of_a_dimension_are_allowed() -> None:
    rows = compute(
        REGION_CATALOG,
        {"revenue_transactions": many_regions(1000)},
        periods_frame([MARCH]),
        ["average_order_value"],
    )
    # a total row and one per region, each 1.0 over 1 order (the total 1000 over 1000)
    assert rows.height == 1 + 1000
    assert rows["value"].to_list() == [1.0] * 1001
