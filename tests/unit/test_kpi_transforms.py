"""assets.kpis.transforms over the built-in catalog (kpi/catalog.yaml): canonical entities -> period
measures -> kpi_values.

Every expected number is worked out by hand from the rows written in this file; the arithmetic is in
the comments or written as an expression of small literals. DESIGN.md's "KPIs" section is the
contract, with one deliberate deviation documented in catalog.yaml: customer_retention_rate is
(E - N') / S where N' counts only the new customers of P still active at P's end (the measure
retained_customers, the customers active on start-1 and on end, is exactly E - N').

The numbers are the ones pinned when the catalog was Python (assets/kpis/definitions.py): the YAML
catalog must give them unchanged. The periods are those of the day, month, quarter and year grains
(CALENDAR); week rows are covered in test_declared_kpis.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets.kpis.transforms import (
    attach_previous_values,
    compared_periods,
    compute_kpi_rows,
    following_periods,
    kpi_values,
    period_measures,
)
from kpi.catalog import built_in_catalog
from kpi.entities import ENTITIES
from kpi.periods import PERIOD_SCHEMA, Calendar

CATALOG = built_in_catalog()
KPI_LIST = list(CATALOG.kpis.values())
KPIS = CATALOG.kpis
computable_kpis = CATALOG.computable
# The four grains these tests were worked out for: no week rows in the expected frames.
CALENDAR = Calendar(grains=("day", "month", "quarter", "year"))
periods_containing = CALENDAR.periods_containing

# --- helpers ----------------------------------------------------------------------------------------

ROW_SCHEMA = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "value": pl.Float64(),
    "numerator": pl.Float64(),
    "denominator": pl.Float64(),
    "previous_value": pl.Float64(),
    "year_ago_value": pl.Float64(),
    "unit": pl.String(),
    "days_covered": pl.Int64(),
    "is_complete": pl.Boolean(),
}
ROW_KEY = ["kpi_id", "grain", "period_start"]
TOTAL = ("", "")  # (dimension, dimension_value) of a KPI's total row: every row of these tests

# DESIGN.md's unit column, copied by hand
UNITS = {
    "revenue": "currency",
    "expenses": "currency",
    "gross_profit": "currency",
    "net_profit": "currency",
    "net_profit_margin": "ratio",
    "active_customers": "count",
    "average_revenue_per_customer": "currency",
    "new_customers": "count",
    "churned_customers": "count",
    "customer_retention_rate": "ratio",
    "customer_churn_rate": "ratio",
    "csat": "percent",
    "nps": "score",
    "headcount": "count",
    "hires": "count",
    "terminations": "count",
    "employee_turnover_rate": "ratio",
    "employee_retention_rate": "ratio",
    "revenue_per_employee": "currency",
}
ALL_ENTITIES = ["revenue_transactions", "expenses", "customers", "survey_responses", "employees"]


def entity(name: str, rows: list[tuple]) -> pl.LazyFrame:
    return pl.LazyFrame(rows, schema=ENTITIES[name].schema, orient="row")


def compute(entities: dict[str, pl.LazyFrame], first: date, last: date, latest: date) -> pl.DataFrame:
    """kpi_values rows of every KPI whose inputs are given, sorted by key."""
    periods = periods_containing(first, last, latest)
    kpis = [kpi for kpi in KPI_LIST if all(name in entities for name in kpi.inputs)]
    return kpi_values(catalog_measures(entities, periods, kpis), kpis).sort(ROW_KEY)


def catalog_measures(
    entities: dict[str, pl.LazyFrame],
    periods: pl.DataFrame,
    kpis: list,
    covered_days: list[date] | None = None,
) -> pl.DataFrame:
    """period_measures of the catalog measures `kpis` name."""
    return period_measures(entities, periods, CATALOG.measures_of(kpis), CATALOG, CALENDAR, covered_days)


def count(value: float) -> tuple[float, float, None]:
    """(value, numerator, denominator) of a KPI that is not a ratio: no denominator."""
    return value, value, None


def ratio(numerator: float, denominator: float, scale: float = 1) -> tuple[float | None, float, float]:
    """(value, numerator, denominator) of a ratio KPI, the value from hand-given literals."""
    return (numerator / denominator * scale if denominator != 0 else None), numerator, denominator


def expected_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (kpi_id, grain, period_start, period_end, (value, numerator, denominator), days_covered,
    is_complete[, previous[, year_ago]]); days_covered is written by hand (a whole period: its days)."""
    records = []
    for kpi_id, grain, start, end, (value, numerator, denominator), days, complete, *compared in rows:
        previous, year_ago = (*compared, None, None)[:2]
        records.append(
            (
                kpi_id,
                grain,
                start,
                end,
                *TOTAL,
                value,
                numerator,
                denominator,
                previous,
                year_ago,
                UNITS[kpi_id],
                days,
                complete,
            )
        )
    return pl.DataFrame(records, schema=ROW_SCHEMA, orient="row").sort(ROW_KEY)


def select(rows: pl.DataFrame, kpi_ids: list[str] | None = None, grain: str | None = None) -> pl.DataFrame:
    if kpi_ids is not None:
        rows = rows.filter(pl.col("kpi_id").is_in(kpi_ids))
    if grain is not None:
        rows = rows.filter(pl.col("grain") == grain)
    return rows.sort(ROW_KEY)


def one(rows: pl.DataFrame, kpi_id: str, grain: str) -> dict:
    found = rows.filter(pl.col("kpi_id") == kpi_id, pl.col("grain") == grain)
    assert found.height == 1, found
    return found.row(0, named=True)


# --- the worked example: every KPI at every grain -----------------------------------------------------
#
# The run computes 2026-05-10 with 2026-05-31 the latest loaded day, so the periods are
#   day      [2026-05-10, 2026-05-10] complete    S/H0 on 2026-05-09, E/H1 on 2026-05-10    1 day
#   month    [2026-05-01, 2026-05-31] complete    S/H0 on 2026-04-30, E/H1 on 2026-05-31   31 days
#   quarter  [2026-04-01, 2026-05-31] to date     S/H0 on 2026-03-31, E/H1 on 2026-05-31   30 + 31 = 61
#   year     [2026-01-01, 2026-05-31] to date     S/H0 on 2025-12-31, E/H1 on 2026-05-31
#                                                          31 + 28 + 31 + 30 + 31 = 151 days
# Rows after 2026-05-31 (still inside Q2 and 2026) must not count: the quarter and year are to date.

RUN_DAY = date(2026, 5, 10)
LATEST = date(2026, 5, 31)
PERIODS = {  # (start, end, days_covered: every day counts, is_complete)
    "day": (date(2026, 5, 10), date(2026, 5, 10), 1, True),
    "month": (date(2026, 5, 1), date(2026, 5, 31), 31, True),
    "quarter": (date(2026, 4, 1), date(2026, 5, 31), 30 + 31, False),
    "year": (date(2026, 1, 1), date(2026, 5, 31), 31 + 28 + 31 + 30 + 31, False),
}

TRANSACTIONS = [
    ("t0", date(2025, 12, 31), "c1", 500.0),  # last year: nowhere
    ("t1", date(2026, 2, 15), "c5", 300.0),  # year
    ("t2", date(2026, 4, 30), "c4", 100.0),  # quarter, year
    ("t3", date(2026, 5, 1), "c2", 100.0),  # month, quarter, year
    ("t4", date(2026, 5, 10), "c1", 200.0),  # day ...
    ("t5", date(2026, 5, 10), None, 50.0),  # day, no customer: revenue but not an active customer
    ("t6", date(2026, 5, 10), "c2", -40.0),  # day, a refund
    ("t7", date(2026, 5, 31), "c3", 80.0),  # month's last day
    ("t8", date(2026, 6, 1), "c6", 1000.0),  # after the latest loaded day: nowhere
]
# revenue   day 200 + 50 - 40 = 210; month 100 + 210 + 80 = 390; quarter 100 + 390 = 490; year 300 + 490 = 790
# active    day {c1, c2} = 2; month {c1, c2, c3} = 3; quarter + c4 = 4; year + c5 = 5

EXPENSE_ROWS = [
    ("e0", date(2025, 12, 31), "cogs", 999.0),  # nowhere
    ("e1", date(2026, 3, 1), "operating", 100.0),  # year
    ("e2", date(2026, 4, 15), "cogs", 60.0),  # quarter, year
    ("e3", date(2026, 5, 10), "cogs", 30.0),  # day ...
    ("e4", date(2026, 5, 10), "tax", 20.0),  # day ...
    ("e5", date(2026, 5, 20), "operating", 50.0),  # month ...
    ("e6", date(2026, 6, 15), "cogs", 500.0),  # after the latest loaded day: nowhere
]
# expenses  day 30 + 20 = 50; month 50 + 50 = 100; quarter 100 + 60 = 160; year 160 + 100 = 260
# cogs      day 30; month 30; quarter 30 + 60 = 90; year 90

CUSTOMER_ROWS = [
    ("a", date(2025, 6, 1), None, "smb"),  # active throughout
    ("b", date(2025, 1, 1), date(2025, 12, 31), None),  # churned on the year's start-1: not in S(year)
    ("c", date(2025, 3, 1), date(2026, 5, 10), "smb"),  # in every S, churns on the run day
    ("d", date(2026, 5, 3), date(2026, 5, 20), None),  # signs up and churns inside the month
    ("e", date(2026, 5, 10), None, None),  # new on the run day, still active
    ("f", date(2026, 4, 30), None, None),  # signs up on the month's start-1: in S(month)
    ("g", date(2026, 2, 1), date(2026, 4, 1), None),  # new in the year, in S(quarter), churns in the quarter
    ("h", date(2026, 6, 5), None, None),  # signs up after the latest loaded day: nowhere
    ("i", date(2025, 1, 1), date(2026, 6, 10), None),  # churns after the latest loaded day: still active
]
# day:     S(05-09) = {a,c,d,f,i} = 5, E(05-10) = {a,d,e,f,i} = 5, N = {e} = 1, N' = {e} = 1,
#          churned = {c} = 1, of them in S = {c} = 1
# month:   S(04-30) = {a,c,f,i} = 4, E(05-31) = {a,e,f,i} = 4, N = {d,e} = 2, N' = {e} = 1,
#          churned = {c,d} = 2, of them in S = {c} = 1
# quarter: S(03-31) = {a,c,g,i} = 4, E = 4, N = {d,e,f} = 3, N' = {e,f} = 2,
#          churned = {c,d,g} = 3, of them in S = {c,g} = 2
# year:    S(2025-12-31) = {a,c,i} = 3, E = 4, N = {d,e,f,g} = 4, N' = {e,f} = 2,
#          churned = {c,d,g} = 3 (b churned in 2025), of them in S = {c} = 1

SURVEY_ROWS = [
    ("r11", "a", date(2025, 12, 31), "nps", 0),  # nowhere
    ("r1", "a", date(2026, 1, 15), "csat", 5),  # year
    ("r14", "a", date(2026, 2, 10), "csat", 4),  # year
    ("r15", "a", date(2026, 3, 5), "nps", 9),  # year
    ("r2", "a", date(2026, 4, 20), "nps", 10),  # quarter, year
    ("r13", "a", date(2026, 4, 21), "nps", 10),  # quarter, year
    ("r3", "a", date(2026, 5, 10), "csat", 4),  # day ...: satisfied (>= 4, the boundary)
    ("r4", "a", date(2026, 5, 10), "csat", 3),  # day ...: not satisfied
    ("r5", "a", date(2026, 5, 10), "nps", 9),  # day ...: promoter (>= 9, the boundary)
    ("r6", "a", date(2026, 5, 10), "nps", 6),  # day ...: detractor (<= 6, the boundary)
    ("r7", "a", date(2026, 5, 10), "nps", 7),  # day ...: passive
    ("r8", "a", date(2026, 5, 25), "nps", 8),  # month ...: passive
    ("r9", "a", date(2026, 5, 25), "csat", 2),  # month ...
    ("r12", "a", date(2026, 5, 28), "nps", 3),  # month ...: detractor
    ("r10", "a", date(2026, 6, 2), "csat", 5),  # after the latest loaded day: nowhere
]
# csat: day {r3 r4} 1 of 2; month {r3 r4 r9} 1 of 3; quarter the same; year {r1 r14 r3 r4 r9} 3 of 5
# nps:  day {r5 r6 r7} promoters 1, detractors 1, of 3; month + {r8 r12}: 1 - 2 of 5;
#       quarter + {r2 r13}: 3 - 2 of 7; year + {r15}: 4 - 2 of 8

EMPLOYEE_ROWS = [
    ("p", date(2020, 1, 1), None, "ops", None),  # employed throughout
    ("q", date(2024, 1, 1), date(2026, 5, 31), "ops", "voluntary"),  # leaves on the month's last day
    ("r", date(2026, 5, 5), date(2026, 5, 20), "ops", "involuntary"),  # hired and leaves in the month
    ("s", date(2026, 5, 10), None, "ops", None),  # hired on the run day
    ("t", date(2025, 6, 1), date(2026, 5, 10), "ops", "voluntary"),  # leaves on the run day
    ("u", date(2025, 1, 1), date(2025, 12, 31), "ops", "voluntary"),  # left on the year's start-1
    ("v", date(2026, 2, 1), date(2026, 4, 15), "ops", "voluntary"),  # hired in the year, leaves in Q2
    ("w", date(2026, 6, 3), None, "ops", None),  # hired after the latest loaded day: nowhere
    ("x", date(2023, 1, 1), date(2026, 6, 20), "ops", "voluntary"),  # leaves after the latest loaded day
    ("y", date(2026, 4, 30), None, "ops", None),  # hired on the month's start-1: in H0(month)
]
# day:     H0(05-09) = {p,q,r,t,x,y} = 6, H1(05-10) = {p,q,r,s,x,y} = 6, hires {s} = 1, terminations {t} = 1,
#          retained = {p,q,r,x,y} = 5
# month:   H0(04-30) = {p,q,t,x,y} = 5, H1(05-31) = {p,s,x,y} = 4, hires {r,s} = 2, terminations {q,r,t} = 3,
#          retained = {p,x,y} = 3
# quarter: H0(03-31) = {p,q,t,v,x} = 5, H1 = 4, hires {r,s,y} = 3, terminations {q,r,t,v} = 4, retained {p,x} = 2
# year:    H0(2025-12-31) = {p,q,t,x} = 4, H1 = 4, hires {r,s,v,y} = 4, terminations {q,r,t,v} = 4,
#          retained {p,x} = 2

EXPECTED: dict[str, dict[str, tuple]] = {
    "revenue": {"day": count(210), "month": count(390), "quarter": count(490), "year": count(790)},
    "expenses": {"day": count(50), "month": count(100), "quarter": count(160), "year": count(260)},
    "gross_profit": {
        "day": count(210 - 30),
        "month": count(390 - 30),
        "quarter": count(490 - 90),
        "year": count(790 - 90),
    },
    "net_profit": {
        "day": count(210 - 50),
        "month": count(390 - 100),
        "quarter": count(490 - 160),
        "year": count(790 - 260),
    },
    "net_profit_margin": {
        "day": ratio(210 - 50, 210),
        "month": ratio(390 - 100, 390),
        "quarter": ratio(490 - 160, 490),
        "year": ratio(790 - 260, 790),
    },
    "active_customers": {"day": count(2), "month": count(3), "quarter": count(4), "year": count(5)},
    "average_revenue_per_customer": {
        "day": ratio(210, 2),  # 105
        "month": ratio(390, 3),  # 130
        "quarter": ratio(490, 4),  # 122.5
        "year": ratio(790, 5),  # 158
    },
    "new_customers": {"day": count(1), "month": count(2), "quarter": count(3), "year": count(4)},
    "churned_customers": {"day": count(1), "month": count(2), "quarter": count(3), "year": count(3)},
    "customer_retention_rate": {
        "day": ratio(5 - 1, 5),  # (E - N') / S = 0.8
        "month": ratio(4 - 1, 4),  # 0.75 (DESIGN's literal (E - N) / S would give (4 - 2) / 4 = 0.5)
        "quarter": ratio(4 - 2, 4),  # 0.5
        "year": ratio(4 - 2, 3),  # 2/3
    },
    "customer_churn_rate": {
        "day": ratio(1, 5),
        "month": ratio(1, 4),
        "quarter": ratio(2, 4),
        "year": ratio(1, 3),
    },
    "csat": {
        "day": ratio(1, 2, 100),  # 50
        "month": ratio(1, 3, 100),  # 33.3
        "quarter": ratio(1, 3, 100),
        "year": ratio(3, 5, 100),  # 60
    },
    "nps": {
        "day": ratio(1 - 1, 3, 100),  # 0: a zero numerator is 0, not null
        "month": ratio(1 - 2, 5, 100),  # -20
        "quarter": ratio(3 - 2, 7, 100),  # 14.3
        "year": ratio(4 - 2, 8, 100),  # 25
    },
    "headcount": {"day": count(6), "month": count(4), "quarter": count(4), "year": count(4)},
    "hires": {"day": count(1), "month": count(2), "quarter": count(3), "year": count(4)},
    "terminations": {"day": count(1), "month": count(3), "quarter": count(4), "year": count(4)},
    "employee_turnover_rate": {
        "day": ratio(1, (6 + 6) / 2),
        "month": ratio(3, (5 + 4) / 2),
        "quarter": ratio(4, (5 + 4) / 2),
        "year": ratio(4, (4 + 4) / 2),
    },
    "employee_retention_rate": {
        "day": ratio(5, 6),
        "month": ratio(3, 5),
        "quarter": ratio(2, 5),
        "year": ratio(2, 4),
    },
    "revenue_per_employee": {
        "day": ratio(210, (6 + 6) / 2),  # 35
        "month": ratio(390, (5 + 4) / 2),
        "quarter": ratio(490, (5 + 4) / 2),
        "year": ratio(790, (4 + 4) / 2),
    },
}


@pytest.fixture(scope="module")
def worked_rows() -> pl.DataFrame:
    entities = {
        "revenue_transactions": entity("revenue_transactions", TRANSACTIONS),
        "expenses": entity("expenses", EXPENSE_ROWS),
        "customers": entity("customers", CUSTOMER_ROWS),
        "survey_responses": entity("survey_responses", SURVEY_ROWS),
        "employees": entity("employees", EMPLOYEE_ROWS),
    }
    return compute(entities, RUN_DAY, RUN_DAY, LATEST)


def test_the_worked_example_covers_every_kpi_of_the_catalog() -> None:
    assert set(EXPECTED) == set(KPIS) == set(UNITS)


def test_worked_example_has_one_row_per_kpi_and_period(worked_rows: pl.DataFrame) -> None:
    assert worked_rows.schema == pl.Schema(ROW_SCHEMA)
    assert worked_rows.height == 19 * 4
    assert worked_rows.select(ROW_KEY).is_unique().all()
    assert worked_rows["previous_value"].null_count() == worked_rows.height
    assert worked_rows["year_ago_value"].null_count() == worked_rows.height


@pytest.mark.parametrize("grain", ["day", "month", "quarter", "year"])
@pytest.mark.parametrize("kpi_id", list(UNITS))
def test_kpi_at_grain(worked_rows: pl.DataFrame, kpi_id: str, grain: str) -> None:
    start, end, days, complete = PERIODS[grain]
    expected = expected_frame([(kpi_id, grain, start, end, EXPECTED[kpi_id][grain], days, complete)])
    assert_frame_equal(select(worked_rows, [kpi_id], grain), expected)


def test_customer_retention_plus_churn_is_one_in_the_worked_example(worked_rows: pl.DataFrame) -> None:
    # N' makes E - N' exactly the customers of S still active at the end, so the two rates add up to 1
    for grain in PERIODS:
        retention = one(worked_rows, "customer_retention_rate", grain)["value"]
        churn = one(worked_rows, "customer_churn_rate", grain)["value"]
        assert retention + churn == pytest.approx(1.0)


# The same run with the default calendar adds the ISO week of 2026-05-10 (a Sunday): Monday 2026-05-04
# to Sunday 2026-05-10, complete, 7 days; S/H0 on 2026-05-03, E/H1 on 2026-05-10.
# revenue   t4 + t5 + t6 = 200 + 50 - 40 = 210 (t3 on 05-01 is the week before); active {c1, c2} = 2
# expenses  e3 + e4 = 30 + 20 = 50; cogs e3 = 30
# customers S(05-03) = {a, c, d, f, i} = 5 (d signed up on 05-03 itself), E(05-10) = {a, d, e, f, i} = 5,
#           N = {e} = 1, N' = {e} = 1, retained = S and E = {a, d, f, i} = 4 = E - N',
#           churned = {c} = 1, of them in S = {c} = 1
# surveys   only r3 .. r7 (05-10): csat 1 of 2; nps 1 promoter - 1 detractor of 3
# employees H0(05-03) = {p, q, t, x, y} = 5 (r is hired on 05-05), H1(05-10) = {p, q, r, s, x, y} = 6,
#           hires {r, s} = 2, terminations {t} = 1, retained = H0 and H1 = {p, q, x, y} = 4
WEEK = (date(2026, 5, 4), date(2026, 5, 10), 7, True)
EXPECTED_WEEK: dict[str, tuple] = {
    "revenue": count(210),
    "expenses": count(50),
    "gross_profit": count(210 - 30),
    "net_profit": count(210 - 50),
    "net_profit_margin": ratio(210 - 50, 210),
    "active_customers": count(2),
    "average_revenue_per_customer": ratio(210, 2),
    "new_customers": count(1),
    "churned_customers": count(1),
    "customer_retention_rate": ratio(5 - 1, 5),
    "customer_churn_rate": ratio(1, 5),
    "csat": ratio(1, 2, 100),
    "nps": ratio(1 - 1, 3, 100),
    "headcount": count(6),
    "hires": count(2),
    "terminations": count(1),
    "employee_turnover_rate": ratio(1, (5 + 6) / 2),
    "employee_retention_rate": ratio(4, 5),
    "revenue_per_employee": ratio(210, (5 + 6) / 2),
}


def test_the_default_calendar_adds_the_week_and_leaves_the_other_grains_as_they_were(
    worked_rows: pl.DataFrame,
) -> None:
    entities = {
        "revenue_transactions": entity("revenue_transactions", TRANSACTIONS),
        "expenses": entity("expenses", EXPENSE_ROWS),
        "customers": entity("customers", CUSTOMER_ROWS),
        "survey_responses": entity("survey_responses", SURVEY_ROWS),
        "employees": entity("employees", EMPLOYEE_ROWS),
    }
    calendar = Calendar()
    periods = calendar.periods_containing(RUN_DAY, RUN_DAY, LATEST)
    rows = compute_kpi_rows(entities, periods, KPI_LIST, CATALOG, calendar).sort(ROW_KEY)
    assert rows.height == 19 * 5
    assert_frame_equal(select(rows.filter(pl.col("grain") != "week")), worked_rows)
    expected = expected_frame(
        [(kpi_id, "week", *WEEK[:2], values, *WEEK[2:]) for kpi_id, values in EXPECTED_WEEK.items()]
    )
    assert_frame_equal(select(rows, grain="week"), expected)


# --- the traps, one at a time -------------------------------------------------------------------------

MARCH = (date(2026, 3, 1), date(2026, 3, 31), True)  # 31 days, all covered


def march_rows(entities: dict[str, pl.LazyFrame]) -> pl.DataFrame:
    """The month of March 2026, complete (latest loaded day 2026-03-31)."""
    return select(compute(entities, date(2026, 3, 31), date(2026, 3, 31), date(2026, 3, 31)), grain="month")


def test_refunds_are_negative_revenue() -> None:
    rows = march_rows(
        {
            "revenue_transactions": entity(
                "revenue_transactions",
                [
                    ("s1", date(2026, 3, 3), "c1", 120.0),
                    ("s2", date(2026, 3, 9), "c2", 80.0),
                    ("r1", date(2026, 3, 20), "c1", -50.0),  # refund
                    ("r2", date(2026, 3, 31), "c3", -30.0),  # a customer with only a refund
                ],
            )
        }
    )
    expected = expected_frame(
        [
            ("revenue", "month", *MARCH[:2], count(120 + 80 - 50 - 30), 31, True),
            ("active_customers", "month", *MARCH[:2], count(3), 31, True),  # c1, c2, c3
            ("average_revenue_per_customer", "month", *MARCH[:2], ratio(120 + 80 - 50 - 30, 3), 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_a_refund_only_day_has_negative_revenue_and_margin_from_its_own_numbers() -> None:
    rows = compute(
        {
            "revenue_transactions": entity("revenue_transactions", [("r1", date(2026, 3, 4), "c1", -40.0)]),
            "expenses": entity("expenses", [("x1", date(2026, 3, 4), "operating", 10.0)]),
        },
        date(2026, 3, 4),
        date(2026, 3, 4),
        date(2026, 3, 4),
    )
    day = (date(2026, 3, 4), date(2026, 3, 4))
    expected = expected_frame(
        [
            ("revenue", "day", *day, count(-40), 1, True),
            ("net_profit", "day", *day, count(-40 - 10), 1, True),
            ("net_profit_margin", "day", *day, ratio(-40 - 10, -40), 1, True),  # 1.25: the formula, as is
        ]
    )
    assert_frame_equal(select(rows, ["revenue", "net_profit", "net_profit_margin"], "day"), expected)


def test_transactions_without_a_customer_count_in_revenue_but_not_as_active_customers() -> None:
    transactions = [
        ("t1", date(2026, 3, 2), None, 70.0),
        ("t2", date(2026, 3, 2), None, 30.0),
        ("t3", date(2026, 3, 5), "c1", 50.0),
        ("t4", date(2026, 3, 6), "c1", 25.0),  # c1 counted once
    ]
    rows = compute(
        {"revenue_transactions": entity("revenue_transactions", transactions)},
        date(2026, 3, 2),
        date(2026, 3, 2),
        date(2026, 3, 31),
    )
    day = (date(2026, 3, 2), date(2026, 3, 2))
    expected = expected_frame(
        [
            # the day: only anonymous revenue, so no active customer and no revenue per customer
            ("active_customers", "day", *day, count(0), 1, True),
            ("average_revenue_per_customer", "day", *day, ratio(70 + 30, 0), 1, True),
            ("revenue", "day", *day, count(70 + 30), 1, True),
            ("active_customers", "month", *MARCH[:2], count(1), 31, True),
            ("average_revenue_per_customer", "month", *MARCH[:2], ratio(70 + 30 + 50 + 25, 1), 31, True),
            ("revenue", "month", *MARCH[:2], count(70 + 30 + 50 + 25), 31, True),
        ]
    )
    assert_frame_equal(select(rows, grain=None).filter(pl.col("grain").is_in(["day", "month"])), expected)


def test_a_customer_who_signs_up_and_churns_in_the_period_does_not_lower_retention() -> None:
    customers = [
        ("old1", date(2025, 1, 1), None, None),
        ("old2", date(2025, 1, 1), date(2026, 3, 15), None),  # in S, churns in March
        ("new1", date(2026, 3, 2), date(2026, 3, 20), None),  # signs up and churns in March
        ("new2", date(2026, 3, 5), None, None),  # signs up in March, still a customer
    ]
    rows = march_rows({"customers": entity("customers", customers)})
    # S = {old1, old2} = 2, E = {old1, new2} = 2, N = {new1, new2} = 2, N' = {new2} = 1
    expected = expected_frame(
        [
            ("churned_customers", "month", *MARCH[:2], count(2), 31, True),  # old2, new1
            ("customer_churn_rate", "month", *MARCH[:2], ratio(1, 2), 31, True),  # old2 of S
            ("customer_retention_rate", "month", *MARCH[:2], ratio(2 - 1, 2), 31, True),  # DESIGN literal: 0
            ("new_customers", "month", *MARCH[:2], count(2), 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_retention_stays_within_zero_and_one_when_many_new_customers_churn_at_once() -> None:
    # S = {old} = 1 retained; three sign-ups who all churn in March.
    # DESIGN's literal (E - N) / S would be (1 - 3) / 1 = -2; the implemented (E - N') / S is (1 - 0) / 1 = 1
    customers = [("old", date(2025, 1, 1), None, None)] + [
        (f"n{k}", date(2026, 3, k), date(2026, 3, k + 10), None) for k in (1, 2, 3)
    ]
    rows = march_rows({"customers": entity("customers", customers)})
    assert one(rows, "customer_retention_rate", "month")["value"] == 1.0
    assert one(rows, "customer_retention_rate", "month")["numerator"] == 1 - 0
    assert one(rows, "customer_churn_rate", "month")["value"] == 0.0  # 0 of 1: zero, not null


def test_a_customer_churned_on_the_day_before_the_period_is_not_in_s() -> None:
    customers = [
        ("a", date(2025, 1, 1), None, None),
        ("b", date(2025, 1, 1), date(2026, 2, 28), None),  # churned on start-1: not active on start-1
        ("c", date(2025, 1, 1), date(2026, 3, 1), None),  # churned on start: in S, churned in March
        ("d", date(2026, 2, 28), None, None),  # signed up on start-1: in S, not new
    ]
    rows = march_rows({"customers": entity("customers", customers)})
    # S = {a, c, d} = 3, E = {a, d} = 2, N = N' = 0, churned in March {c} = 1
    expected = expected_frame(
        [
            ("churned_customers", "month", *MARCH[:2], count(1), 31, True),
            ("customer_churn_rate", "month", *MARCH[:2], ratio(1, 3), 31, True),
            ("customer_retention_rate", "month", *MARCH[:2], ratio(2 - 0, 3), 31, True),
            ("new_customers", "month", *MARCH[:2], count(0), 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_an_employee_hired_and_terminated_in_the_same_month() -> None:
    employees = [
        ("p", date(2024, 1, 1), None, "ops", None),
        ("r", date(2026, 3, 5), date(2026, 3, 20), "ops", "involuntary"),
    ]
    rows = march_rows({"employees": entity("employees", employees)})
    # H0(02-28) = {p} = 1, H1(03-31) = {p} = 1, hires {r} = 1, terminations {r} = 1, retained {p} = 1
    expected = expected_frame(
        [
            ("employee_retention_rate", "month", *MARCH[:2], ratio(1, 1), 31, True),
            ("employee_turnover_rate", "month", *MARCH[:2], ratio(1, (1 + 1) / 2), 31, True),
            ("headcount", "month", *MARCH[:2], count(1), 31, True),
            ("hires", "month", *MARCH[:2], count(1), 31, True),
            ("terminations", "month", *MARCH[:2], count(1), 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_an_employee_terminated_on_the_periods_last_day_is_not_employed_at_its_end() -> None:
    employees = [
        ("p", date(2024, 1, 1), None, "ops", None),
        ("q", date(2024, 1, 1), date(2026, 3, 31), "ops", "voluntary"),  # last day of March
        ("z", date(2024, 1, 1), date(2026, 4, 1), "ops", "voluntary"),  # the day after: still employed
        ("n", date(2026, 3, 1), None, "ops", None),  # hired on the first day: not in H0
    ]
    rows = march_rows({"employees": entity("employees", employees)})
    # H0(02-28) = {p, q, z} = 3, H1(03-31) = {p, z, n} = 3, hires {n} = 1, terminations {q} = 1,
    # retained = {p, z} = 2
    expected = expected_frame(
        [
            ("employee_retention_rate", "month", *MARCH[:2], ratio(2, 3), 31, True),
            ("employee_turnover_rate", "month", *MARCH[:2], ratio(1, (3 + 3) / 2), 31, True),
            ("headcount", "month", *MARCH[:2], count(3), 31, True),
            ("hires", "month", *MARCH[:2], count(1), 31, True),
            ("terminations", "month", *MARCH[:2], count(1), 31, True),
        ]
    )
    assert_frame_equal(rows, expected)


def test_nps_with_more_detractors_than_promoters_is_negative() -> None:
    responses = [
        ("r1", "a", date(2026, 3, 2), "nps", 3),  # the day: one detractor only -> -100
        ("r2", "a", date(2026, 3, 3), "nps", 10),
        ("r3", "a", date(2026, 3, 3), "nps", 0),
        ("r4", "a", date(2026, 3, 3), "nps", 6),
    ]
    rows = compute(
        {"survey_responses": entity("survey_responses", responses)},
        date(2026, 3, 2),
        date(2026, 3, 2),
        date(2026, 3, 31),
    )
    expected = expected_frame(
        [
            ("nps", "day", date(2026, 3, 2), date(2026, 3, 2), ratio(0 - 1, 1, 100), 1, True),  # -100
            ("nps", "month", *MARCH[:2], ratio(1 - 3, 4, 100), 31, True),  # -50
        ]
    )
    assert_frame_equal(select(rows, ["nps"]).filter(pl.col("grain").is_in(["day", "month"])), expected)


def _no_data_expected(grain: str, start: date, end: date, days: int, complete: bool) -> pl.DataFrame:
    zero = count(0)
    return expected_frame(
        [
            (kpi_id, grain, start, end, values, days, complete)
            for kpi_id, values in {
                "revenue": zero,
                "expenses": zero,
                "gross_profit": zero,
                "net_profit": zero,
                "net_profit_margin": ratio(0, 0),
                "active_customers": zero,
                "average_revenue_per_customer": ratio(0, 0),
                "new_customers": zero,
                "churned_customers": zero,
                "customer_retention_rate": ratio(0, 0),
                "customer_churn_rate": ratio(0, 0),
                "csat": ratio(0, 0, 100),
                "nps": ratio(0, 0, 100),
                "headcount": zero,
                "hires": zero,
                "terminations": zero,
                "employee_turnover_rate": ratio(0, (0 + 0) / 2),
                "employee_retention_rate": ratio(0, 0),
                "revenue_per_employee": ratio(0, (0 + 0) / 2),
            }.items()
        ]
    )


def test_a_loaded_period_without_any_rows_gives_zeros_and_null_ratios() -> None:
    empty = {name: ENTITIES[name].empty_frame().lazy() for name in ALL_ENTITIES}
    rows = compute(empty, date(2026, 3, 4), date(2026, 3, 4), date(2026, 3, 4))
    assert_frame_equal(
        select(rows, grain="day"), _no_data_expected("day", date(2026, 3, 4), date(2026, 3, 4), 1, True)
    )
    assert_frame_equal(
        select(rows, grain="year"),
        _no_data_expected("year", date(2026, 1, 1), date(2026, 3, 4), 31 + 28 + 4, False),
    )


def test_a_day_without_rows_next_to_days_with_rows_gives_zeros_and_null_ratios() -> None:
    # every entity has rows, none of them on (or, for customers and employees, around) 2026-03-04
    entities = {
        "revenue_transactions": entity("revenue_transactions", [("t1", date(2026, 3, 3), "c1", 10.0)]),
        "expenses": entity("expenses", [("x1", date(2026, 3, 5), "cogs", 5.0)]),
        "customers": entity("customers", [("c1", date(2026, 3, 10), None, None)]),
        "survey_responses": entity("survey_responses", [("s1", "c1", date(2026, 3, 3), "nps", 10)]),
        "employees": entity("employees", [("e1", date(2026, 3, 10), None, "ops", None)]),
    }
    rows = compute(entities, date(2026, 3, 4), date(2026, 3, 4), date(2026, 3, 31))
    assert_frame_equal(
        select(rows, grain="day"), _no_data_expected("day", date(2026, 3, 4), date(2026, 3, 4), 1, True)
    )


def test_a_to_date_period_covers_only_start_to_the_latest_loaded_day() -> None:
    # March computed to 2026-03-10: anything dated later in March must not count
    entities = {
        "revenue_transactions": entity(
            "revenue_transactions",
            [
                ("t1", date(2026, 3, 1), "c1", 100.0),
                ("t2", date(2026, 3, 10), "c2", 20.0),
                ("t3", date(2026, 3, 11), "c3", 1000.0),  # after the latest loaded day
            ],
        ),
        "employees": entity(
            "employees",
            [
                ("p", date(2024, 1, 1), None, "ops", None),
                ("q", date(2024, 1, 1), date(2026, 3, 20), "ops", "voluntary"),  # leaves after the 10th
                ("n", date(2026, 3, 15), None, "ops", None),  # hired after the 10th
            ],
        ),
        "customers": entity(
            "customers",
            [
                ("a", date(2025, 1, 1), None, None),
                ("b", date(2025, 1, 1), date(2026, 3, 25), None),  # churns after the 10th
                ("c", date(2026, 3, 12), None, None),  # signs up after the 10th
            ],
        ),
    }
    rows = compute(entities, date(2026, 3, 10), date(2026, 3, 10), date(2026, 3, 10))
    march = (date(2026, 3, 1), date(2026, 3, 10))
    # H0(02-28) = {p, q} = 2, H1(03-10) = {p, q} = 2; S(02-28) = {a, b} = 2, E(03-10) = {a, b} = 2
    expected = expected_frame(
        [
            ("active_customers", "month", *march, count(2), 10, False),
            ("average_revenue_per_customer", "month", *march, ratio(100 + 20, 2), 10, False),
            ("churned_customers", "month", *march, count(0), 10, False),
            ("customer_churn_rate", "month", *march, ratio(0, 2), 10, False),
            ("customer_retention_rate", "month", *march, ratio(2 - 0, 2), 10, False),
            ("employee_retention_rate", "month", *march, ratio(2, 2), 10, False),
            ("employee_turnover_rate", "month", *march, ratio(0, (2 + 2) / 2), 10, False),
            ("headcount", "month", *march, count(2), 10, False),
            ("hires", "month", *march, count(0), 10, False),
            ("new_customers", "month", *march, count(0), 10, False),
            ("revenue", "month", *march, count(100 + 20), 10, False),
            ("revenue_per_employee", "month", *march, ratio(100 + 20, (2 + 2) / 2), 10, False),
            ("terminations", "month", *march, count(0), 10, False),
        ]
    )
    assert_frame_equal(select(rows, grain="month"), expected)


def test_a_ratio_is_the_periods_own_numerator_over_its_own_denominator_not_an_average_of_days() -> None:
    entities = {
        "revenue_transactions": entity(
            "revenue_transactions",
            [
                ("t1", date(2026, 3, 1), "c1", 100.0),  # day 1: 100 / 1 customer = 100
                ("t2", date(2026, 3, 2), "c1", 10.0),  # day 2: 20 / 2 customers = 10
                ("t3", date(2026, 3, 2), "c2", 10.0),
            ],
        ),
        "survey_responses": entity(
            "survey_responses",
            [
                ("s1", "c1", date(2026, 3, 1), "csat", 5),  # day 1: 1 of 1 = 100 %
                ("s2", "c1", date(2026, 3, 2), "csat", 1),  # day 2: 1 of 3 = 33.3 %
                ("s3", "c1", date(2026, 3, 2), "csat", 2),
                ("s4", "c2", date(2026, 3, 2), "csat", 5),
            ],
        ),
    }
    rows = compute(entities, date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2))
    # month: revenue 120 over {c1, c2} = 60 (the mean of the days would be 55); csat 2 of 4 = 50 % (not 66.7)
    assert one(rows, "average_revenue_per_customer", "month")["value"] == pytest.approx((100 + 10 + 10) / 2)
    assert one(rows, "csat", "month")["value"] == pytest.approx(100 * 2 / 4)


# --- previous_value, year_ago_value and the periods that follow -------------------------------------------

# revenue only, computed for 2025-12-31 and 2026-01-01 with 2026-01-01 the latest loaded day
YEAR_END_TRANSACTIONS = [
    ("t1", date(2025, 9, 30), "c1", 100.0),  # Q3 2025
    ("t2", date(2025, 10, 15), "c1", 200.0),  # Q4 2025, October
    ("t3", date(2025, 12, 31), "c2", 300.0),  # Q4 2025, December, the year's last day
    ("t4", date(2026, 1, 1), "c1", 50.0),  # 2026 Q1
]
KNOWN_SCHEMA = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "value": pl.Float64(),
    "is_complete": pl.Boolean(),
}


def known_frame(rows: list[tuple]) -> pl.DataFrame:
    """Values already loaded, of total rows: (kpi_id, grain, period_start, value, is_complete)."""
    return pl.DataFrame(
        [(kpi_id, grain, start, *TOTAL, value, complete) for kpi_id, grain, start, value, complete in rows],
        schema=KNOWN_SCHEMA,
        orient="row",
    )


KNOWN = known_frame(
    [
        ("revenue", "day", date(2025, 12, 30), 7.0, True),
        ("revenue", "month", date(2025, 11, 1), 11.0, True),
        ("revenue", "quarter", date(2025, 7, 1), 100.0, True),
        ("revenue", "year", date(2024, 1, 1), 13.0, True),  # 2025's previous year and its year ago
        # year-ago periods: 364 days before 2025-12-31 is 2025-01-01; 12 months before Dec 2025, Q4 2025
        # and Q1 2026 are Dec 2024, Q4 2024 and Q1 2025
        ("revenue", "day", date(2025, 1, 1), 17.0, True),
        ("revenue", "month", date(2024, 12, 1), 19.0, True),
        ("revenue", "quarter", date(2024, 10, 1), 23.0, True),
        ("revenue", "quarter", date(2025, 1, 1), 31.0, True),
        # not complete (partly covered): no comparison, null
        ("revenue", "day", date(2025, 1, 2), 29.0, False),  # 364 days before 2026-01-01
        ("revenue", "month", date(2025, 1, 1), 37.0, False),  # 12 months before January 2026
        # decoys: a stale value of a period recomputed now, the same start at another grain, another KPI,
        # and a calendar year (365 days) before 2025-12-31 instead of 364 days
        ("revenue", "quarter", date(2025, 10, 1), 1.0, True),
        ("revenue", "month", date(2025, 10, 1), 999.0, True),
        ("active_customers", "quarter", date(2025, 10, 1), 888.0, True),
        ("active_customers", "day", date(2025, 12, 30), 4.0, True),
        ("revenue", "day", date(2024, 12, 31), 41.0, True),
    ]
)
NOTHING_KNOWN = pl.DataFrame(schema=KNOWN_SCHEMA)


def year_end_rows() -> pl.DataFrame:
    return compute(
        {"revenue_transactions": entity("revenue_transactions", YEAR_END_TRANSACTIONS)},
        date(2025, 12, 31),
        date(2026, 1, 1),
        date(2026, 1, 1),
    )


def test_previous_and_year_ago_values_across_the_year_boundary() -> None:
    rows = attach_previous_values(year_end_rows(), KNOWN, CALENDAR)
    # days covered: a day 1; December 31; Jan 2026 to date 1; Q4 31 + 30 + 31 = 92; 2025 365
    expected = expected_frame(
        [
            # (kpi, grain, start, end, (value, numerator, denominator), days, complete, previous, year ago)
            ("revenue", "day", date(2025, 12, 31), date(2025, 12, 31), count(300), 1, True, 7.0, 17.0),
            # 2026-01-01: previous 2025-12-31 (300); its year ago, 2025-01-02, is known but not complete
            ("revenue", "day", date(2026, 1, 1), date(2026, 1, 1), count(50), 1, True, 300.0, None),
            ("revenue", "month", date(2025, 12, 1), date(2025, 12, 31), count(300), 31, True, 11.0, 19.0),
            # January 2026: previous December; its year ago, January 2025, is not complete: null, not 37
            ("revenue", "month", date(2026, 1, 1), date(2026, 1, 1), count(50), 1, False, 300.0, None),
            (
                "revenue",
                "quarter",
                date(2025, 10, 1),
                date(2025, 12, 31),
                count(200 + 300),
                92,
                True,
                100.0,
                23.0,
            ),
            # 2026 Q1's previous is 2025 Q4 as just computed (500), not the stale known 1.0
            (
                "revenue",
                "quarter",
                date(2026, 1, 1),
                date(2026, 1, 1),
                count(50),
                1,
                False,
                200.0 + 300.0,
                31.0,
            ),
            (
                "revenue",
                "year",
                date(2025, 1, 1),
                date(2025, 12, 31),
                count(100 + 200 + 300),
                365,
                True,
                13.0,
                13.0,
            ),
            (
                "revenue",
                "year",
                date(2026, 1, 1),
                date(2026, 1, 1),
                count(50),
                1,
                False,
                100.0 + 200 + 300,
                100.0 + 200 + 300,
            ),
            ("active_customers", "day", date(2025, 12, 31), date(2025, 12, 31), count(1), 1, True, 4.0),
            ("active_customers", "day", date(2026, 1, 1), date(2026, 1, 1), count(1), 1, True, 1.0),
            ("active_customers", "month", date(2025, 12, 1), date(2025, 12, 31), count(1), 31, True, None),
            ("active_customers", "month", date(2026, 1, 1), date(2026, 1, 1), count(1), 1, False, 1.0),
            # Q4: {c1, c2}; its previous (Q3) is not known: null, not 888 (the decoy is Q4 itself)
            ("active_customers", "quarter", date(2025, 10, 1), date(2025, 12, 31), count(2), 92, True, None),
            ("active_customers", "quarter", date(2026, 1, 1), date(2026, 1, 1), count(1), 1, False, 2.0),
            ("active_customers", "year", date(2025, 1, 1), date(2025, 12, 31), count(2), 365, True, None),
            # 2026: previous and year ago are both 2025, {c1, c2}
            ("active_customers", "year", date(2026, 1, 1), date(2026, 1, 1), count(1), 1, False, 2.0, 2.0),
            (
                "average_revenue_per_customer",
                "day",
                date(2025, 12, 31),
                date(2025, 12, 31),
                ratio(300, 1),
                1,
                True,
            ),
            (
                "average_revenue_per_customer",
                "day",
                date(2026, 1, 1),
                date(2026, 1, 1),
                ratio(50, 1),
                1,
                True,
                300.0,
            ),
            (
                "average_revenue_per_customer",
                "month",
                date(2025, 12, 1),
                date(2025, 12, 31),
                ratio(300, 1),
                31,
                True,
            ),
            (
                "average_revenue_per_customer",
                "month",
                date(2026, 1, 1),
                date(2026, 1, 1),
                ratio(50, 1),
                1,
                False,
                300.0,
            ),
            (
                "average_revenue_per_customer",
                "quarter",
                date(2025, 10, 1),
                date(2025, 12, 31),
                ratio(500, 2),
                92,
                True,
            ),
            (
                "average_revenue_per_customer",
                "quarter",
                date(2026, 1, 1),
                date(2026, 1, 1),
                ratio(50, 1),
                1,
                False,
                250.0,
            ),
            (
                "average_revenue_per_customer",
                "year",
                date(2025, 1, 1),
                date(2025, 12, 31),
                ratio(600, 2),
                365,
                True,
            ),
            (
                "average_revenue_per_customer",
                "year",
                date(2026, 1, 1),
                date(2026, 1, 1),
                ratio(50, 1),
                1,
                False,
                300.0,
                300.0,  # 2025: 600 over {c1, c2}
            ),
        ]
    )
    assert_frame_equal(rows.sort(ROW_KEY), expected)


def test_previous_value_with_nothing_known_uses_the_rows_alone() -> None:
    rows = attach_previous_values(year_end_rows(), NOTHING_KNOWN, CALENDAR)
    revenue = select(rows, ["revenue"]).select("grain", "period_start", "previous_value", "year_ago_value")
    expected = pl.DataFrame(
        [
            ("day", date(2025, 12, 31), None, None),
            ("day", date(2026, 1, 1), 300.0, None),
            ("month", date(2025, 12, 1), None, None),
            ("month", date(2026, 1, 1), 300.0, None),
            ("quarter", date(2025, 10, 1), None, None),
            ("quarter", date(2026, 1, 1), 500.0, None),
            ("year", date(2025, 1, 1), None, None),
            ("year", date(2026, 1, 1), 600.0, 600.0),  # 2025 is both the previous year and the year ago
        ],
        schema={
            "grain": pl.String(),
            "period_start": pl.Date(),
            "previous_value": pl.Float64(),
            "year_ago_value": pl.Float64(),
        },
        orient="row",
    )
    assert_frame_equal(revenue, expected)


def test_attach_previous_values_keeps_every_row_and_the_column_order() -> None:
    rows = year_end_rows()
    attached = attach_previous_values(rows, KNOWN, CALENDAR)
    assert attached.columns == [
        "kpi_id",
        "grain",
        "period_start",
        "period_end",
        "dimension",
        "dimension_value",
        "value",
        "numerator",
        "denominator",
        "previous_value",
        "year_ago_value",
        "unit",
        "days_covered",
        "is_complete",
    ]
    compared = ["previous_value", "year_ago_value"]
    assert_frame_equal(attached.drop(compared).sort(ROW_KEY), rows.drop(compared).sort(ROW_KEY))


def test_a_null_previous_value_stays_null() -> None:
    # a ratio with a zero denominator is null; the next period's previous_value is then null, not 0
    rows = compute(
        {"revenue_transactions": entity("revenue_transactions", [("t1", date(2026, 3, 2), None, 10.0)])},
        date(2026, 3, 1),
        date(2026, 3, 2),
        date(2026, 3, 2),
    )
    attached = attach_previous_values(rows, NOTHING_KNOWN, CALENDAR)
    march_2 = attached.filter(
        pl.col("kpi_id") == "average_revenue_per_customer",
        pl.col("grain") == "day",
        pl.col("period_start") == date(2026, 3, 2),
    )
    assert march_2["value"].to_list() == [None]  # 10 over 0 customers
    assert march_2["previous_value"].to_list() == [None]  # March 1: 0 over 0


def kpi_row(
    kpi_id: str, grain: str, start: date, end: date, value: float | None, days: int, complete: bool
) -> tuple:
    """A kpi_values row (ROW_SCHEMA) of a KPI that is not a ratio, previous and year-ago still null."""
    return (kpi_id, grain, start, end, *TOTAL, value, value, None, None, None, UNITS[kpi_id], days, complete)


def rows_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ROW_SCHEMA, orient="row")


def compared(frame: pl.DataFrame) -> list[tuple]:
    return frame.sort(ROW_KEY).select(*ROW_KEY, "previous_value", "year_ago_value").rows()


def test_year_ago_value_at_every_grain_with_a_leap_day() -> None:
    rows = rows_frame(
        [
            kpi_row("revenue", "day", date(2024, 2, 29), date(2024, 2, 29), 1.0, 1, True),
            kpi_row("revenue", "day", date(2025, 2, 28), date(2025, 2, 28), 4.0, 1, True),
            kpi_row("revenue", "day", date(2025, 3, 1), date(2025, 3, 1), 6.0, 1, True),
            kpi_row("revenue", "month", date(2024, 2, 1), date(2024, 2, 29), 16.0, 29, True),
            kpi_row("revenue", "month", date(2025, 2, 1), date(2025, 2, 28), 8.0, 28, True),
            kpi_row("revenue", "quarter", date(2025, 1, 1), date(2025, 3, 31), 11.0, 31 + 28 + 31, True),
            kpi_row("revenue", "year", date(2025, 1, 1), date(2025, 12, 31), 14.0, 365, True),
            # an objective's window has no calendar previous period nor year ago
            kpi_row("revenue", "window", date(2025, 1, 15), date(2025, 2, 10), 20.0, 27, True),
        ]
    )
    known = known_frame(
        [
            ("revenue", "day", date(2024, 2, 28), 2.0, True),  # the day before the leap day
            # 364 days (52 weeks) before 2024-02-29 is Thursday 2023-03-02; 2023-03-01 and 2023-02-28
            # (a calendar year back) are decoys
            ("revenue", "day", date(2023, 3, 2), 3.0, True),
            ("revenue", "day", date(2023, 3, 1), 99.0, True),
            ("revenue", "day", date(2023, 2, 28), 98.0, True),
            # 364 days before 2025-02-28 is 2024-03-01 (365 days before is the leap day, 1.0)
            ("revenue", "day", date(2024, 3, 1), 5.0, True),
            # 364 days before 2025-03-01 is 2024-03-02 (365 days before is 2024-03-01, 5.0)
            ("revenue", "day", date(2024, 3, 2), 7.0, True),
            ("revenue", "month", date(2025, 1, 1), 9.0, True),
            ("revenue", "month", date(2024, 1, 1), 18.0, True),
            ("revenue", "month", date(2023, 2, 1), 17.0, True),
            ("revenue", "quarter", date(2024, 10, 1), 12.0, True),
            ("revenue", "quarter", date(2024, 1, 1), 13.0, True),
            ("revenue", "year", date(2024, 1, 1), 15.0, True),
            ("revenue", "window", date(2024, 1, 15), 97.0, True),
            ("revenue", "window", date(2025, 1, 14), 96.0, True),
        ]
    )
    assert compared(attach_previous_values(rows, known, CALENDAR)) == [
        # (kpi, grain, start, previous_value, year_ago_value)
        ("revenue", "day", date(2024, 2, 29), 2.0, 3.0),
        ("revenue", "day", date(2025, 2, 28), None, 5.0),  # 2025-02-27 is not known
        ("revenue", "day", date(2025, 3, 1), 4.0, 7.0),  # previous: 2025-02-28 of the rows
        ("revenue", "month", date(2024, 2, 1), 18.0, 17.0),
        ("revenue", "month", date(2025, 2, 1), 9.0, 16.0),  # year ago: February 2024 of the rows
        ("revenue", "quarter", date(2025, 1, 1), 12.0, 13.0),
        ("revenue", "window", date(2025, 1, 15), None, None),
        ("revenue", "year", date(2025, 1, 1), 15.0, 15.0),
    ]


def test_an_incomplete_previous_or_year_ago_period_gives_null_not_its_partial_value() -> None:
    rows = rows_frame(
        [
            kpi_row("revenue", "month", date(2025, 3, 1), date(2025, 3, 31), 30.0, 31, True),
            kpi_row("expenses", "month", date(2025, 3, 1), date(2025, 3, 31), 40.0, 31, True),
            # March 2025 at day grain: 03-01 not complete (its source failed), 03-02 follows it
            kpi_row("revenue", "day", date(2025, 3, 1), date(2025, 3, 1), None, 0, False),
            kpi_row("revenue", "day", date(2025, 3, 2), date(2025, 3, 2), 3.0, 1, True),
        ]
    )
    known = known_frame(
        [
            # February 2025 loaded on 27 of its 28 days, March 2024 partly covered: both not complete
            ("revenue", "month", date(2025, 2, 1), 20.0, False),
            ("revenue", "month", date(2024, 3, 1), 25.0, False),
            # expenses: the same periods complete
            ("expenses", "month", date(2025, 2, 1), 21.0, True),
            ("expenses", "month", date(2024, 3, 1), 26.0, True),
            # a day 364 days before 2025-03-02 (2024-03-03), complete but without a value (a null ratio)
            ("revenue", "day", date(2024, 3, 3), None, True),
        ]
    )
    assert compared(attach_previous_values(rows, known, CALENDAR)) == [
        ("expenses", "month", date(2025, 3, 1), 21.0, 26.0),
        ("revenue", "day", date(2025, 3, 1), None, None),
        ("revenue", "day", date(2025, 3, 2), None, None),  # 03-01 of the rows is not complete
        ("revenue", "month", date(2025, 3, 1), None, None),
    ]


def test_compared_periods_are_the_previous_and_the_year_ago_periods() -> None:
    periods = pl.DataFrame(
        [
            ("day", date(2024, 2, 29), date(2024, 2, 29), True),
            ("month", date(2024, 3, 1), date(2024, 3, 31), True),
            ("quarter", date(2024, 1, 1), date(2024, 3, 31), True),
            ("year", date(2024, 1, 1), date(2024, 3, 31), False),
            ("window", date(2024, 1, 15), date(2024, 3, 1), False),  # no calendar comparison: left out
        ],
        schema=PERIOD_SCHEMA,
        orient="row",
    )
    assert sorted(set(compared_periods(periods, CALENDAR).rows())) == [
        ("day", date(2023, 3, 2)),  # 364 days before the leap day
        ("day", date(2024, 2, 28)),
        ("month", date(2023, 3, 1)),
        ("month", date(2024, 2, 1)),
        ("quarter", date(2023, 1, 1)),  # a year ago
        ("quarter", date(2023, 10, 1)),  # the previous quarter
        ("year", date(2023, 1, 1)),  # both the previous year and the year ago
    ]


FOLLOWING_SCHEMA = {
    "kpi_id": pl.String(),
    "grain": pl.String(),
    "period_start": pl.Date(),
    "dimension": pl.String(),
    "dimension_value": pl.String(),
    "column": pl.String(),
    "compared_value": pl.Float64(),
}


def following_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (kpi_id, grain, period_start, column, compared_value) of total rows."""
    return pl.DataFrame(
        [(kpi_id, grain, start, *TOTAL, column, value) for kpi_id, grain, start, column, value in rows],
        schema=FOLLOWING_SCHEMA,
        orient="row",
    ).sort(*ROW_KEY, "column")


def test_following_periods_across_the_year_boundary() -> None:
    following = following_periods(year_end_rows().filter(pl.col("kpi_id") == "revenue"), CALENDAR)
    # By design a period that is not complete (January 2026, 2026 Q1 and 2026, all to date) gives its
    # following periods null, not its partial value 50 (the previous expectation was 50 for each).
    expected = following_frame(
        [
            ("revenue", "day", date(2026, 1, 1), "previous_value", 300.0),
            ("revenue", "day", date(2026, 12, 30), "year_ago_value", 300.0),  # 2025-12-31 + 364 days
            ("revenue", "day", date(2026, 1, 2), "previous_value", 50.0),
            ("revenue", "day", date(2026, 12, 31), "year_ago_value", 50.0),  # 2026-01-01 + 364 days
            ("revenue", "month", date(2026, 1, 1), "previous_value", 300.0),
            ("revenue", "month", date(2026, 12, 1), "year_ago_value", 300.0),
            ("revenue", "month", date(2026, 2, 1), "previous_value", None),  # was 50
            ("revenue", "month", date(2027, 1, 1), "year_ago_value", None),
            ("revenue", "quarter", date(2026, 1, 1), "previous_value", 200.0 + 300),
            ("revenue", "quarter", date(2026, 10, 1), "year_ago_value", 200.0 + 300),
            ("revenue", "quarter", date(2026, 4, 1), "previous_value", None),  # was 50
            ("revenue", "quarter", date(2027, 1, 1), "year_ago_value", None),
            ("revenue", "year", date(2026, 1, 1), "previous_value", 100.0 + 200 + 300),
            ("revenue", "year", date(2026, 1, 1), "year_ago_value", 100.0 + 200 + 300),
            ("revenue", "year", date(2027, 1, 1), "previous_value", None),  # was 50
            ("revenue", "year", date(2027, 1, 1), "year_ago_value", None),
        ]
    )
    assert_frame_equal(following.sort(*ROW_KEY, "column"), expected)


def test_following_periods_of_a_leap_february_and_a_null_value() -> None:
    rows = rows_frame(
        [
            (
                "csat",
                "day",
                date(2024, 2, 28),
                date(2024, 2, 28),
                *TOTAL,
                None,
                0.0,
                0.0,
                None,
                None,
                "percent",
                1,
                True,
            ),
            (
                "csat",
                "day",
                date(2024, 2, 29),
                date(2024, 2, 29),
                *TOTAL,
                80.0,
                4.0,
                5.0,
                None,
                None,
                "percent",
                1,
                True,
            ),
            (
                "csat",
                "month",
                date(2024, 2, 1),
                date(2024, 2, 29),
                *TOTAL,
                75.0,
                6.0,
                8.0,
                None,
                None,
                "percent",
                29,
                True,
            ),
            # Q1 to 2024-02-29: 31 + 29 = 60 days, not complete
            (
                "csat",
                "quarter",
                date(2024, 1, 1),
                date(2024, 2, 29),
                *TOTAL,
                70.0,
                7.0,
                10.0,
                None,
                None,
                "percent",
                60,
                False,
            ),
            # an objective's window has no following calendar period: no row
            (
                "csat",
                "window",
                date(2024, 1, 15),
                date(2024, 2, 10),
                *TOTAL,
                50.0,
                1.0,
                2.0,
                None,
                None,
                "percent",
                27,
                True,
            ),
        ]
    )
    expected = following_frame(
        [
            ("csat", "day", date(2024, 2, 29), "previous_value", None),
            ("csat", "day", date(2025, 2, 26), "year_ago_value", None),  # 2024-02-28 + 364 days
            ("csat", "day", date(2024, 3, 1), "previous_value", 80.0),
            ("csat", "day", date(2025, 2, 27), "year_ago_value", 80.0),  # 2024-02-29 + 364 days
            ("csat", "month", date(2024, 3, 1), "previous_value", 75.0),
            ("csat", "month", date(2025, 2, 1), "year_ago_value", 75.0),
            # the quarter is to date, not complete: by design null (the previous expectation was 70)
            ("csat", "quarter", date(2024, 4, 1), "previous_value", None),
            ("csat", "quarter", date(2025, 1, 1), "year_ago_value", None),
        ]
    )
    assert_frame_equal(following_periods(rows, CALENDAR).sort(*ROW_KEY, "column"), expected)


def test_a_complete_calendar_period_with_a_day_not_covered_gives_its_following_periods_null() -> None:
    # March 2025 has ended but one of its 31 days was not loaded: is_complete false, so neither April
    # (previous_value) nor March 2026 (year_ago_value) may take its 30-day value
    rows = rows_frame([kpi_row("revenue", "month", date(2025, 3, 1), date(2025, 3, 31), 300.0, 30, False)])
    assert_frame_equal(
        following_periods(rows, CALENDAR).sort(*ROW_KEY, "column"),
        following_frame(
            [
                ("revenue", "month", date(2025, 4, 1), "previous_value", None),
                ("revenue", "month", date(2026, 3, 1), "year_ago_value", None),
            ]
        ),
    )


# --- computable_kpis and kpi_values edges -----------------------------------------------------------


def test_computable_kpis_with_every_entity() -> None:
    computable, skipped = computable_kpis(set(ALL_ENTITIES))
    assert [kpi.kpi_id for kpi in computable] == list(UNITS)  # DESIGN.md's order
    assert skipped == {}


def test_computable_kpis_with_revenue_only() -> None:
    computable, skipped = computable_kpis(["revenue_transactions"])
    assert [kpi.kpi_id for kpi in computable] == [
        "revenue",
        "active_customers",
        "average_revenue_per_customer",
    ]
    assert skipped == {
        "expenses": ["expenses"],
        "gross_profit": ["expenses"],
        "net_profit": ["expenses"],
        "net_profit_margin": ["expenses"],
        "new_customers": ["customers"],
        "churned_customers": ["customers"],
        "customer_retention_rate": ["customers"],
        "customer_churn_rate": ["customers"],
        "csat": ["survey_responses"],
        "nps": ["survey_responses"],
        "headcount": ["employees"],
        "hires": ["employees"],
        "terminations": ["employees"],
        "employee_turnover_rate": ["employees"],
        "employee_retention_rate": ["employees"],
        "revenue_per_employee": ["employees"],
    }


def test_computable_kpis_with_employees_only_and_with_nothing() -> None:
    computable, skipped = computable_kpis({"employees"})
    assert [kpi.kpi_id for kpi in computable] == [
        "headcount",
        "hires",
        "terminations",
        "employee_turnover_rate",
        "employee_retention_rate",
    ]
    assert skipped["revenue_per_employee"] == ["revenue_transactions"]
    assert skipped["gross_profit"] == ["revenue_transactions", "expenses"]

    computable, skipped = computable_kpis([])
    assert computable == []
    assert set(skipped) == set(UNITS)
    assert skipped["revenue_per_employee"] == ["revenue_transactions", "employees"]


def test_kpi_values_of_no_kpi_is_an_empty_frame_with_the_output_schema() -> None:
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1))
    rows = kpi_values(catalog_measures({}, periods, []), [])
    assert_frame_equal(rows, pl.DataFrame(schema=ROW_SCHEMA))


def test_only_the_given_entities_measures_are_needed() -> None:
    # a revenue-only source: its KPIs compute, nothing else is asked for
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1))
    computable, _ = computable_kpis(["revenue_transactions"])
    measures = catalog_measures(
        {"revenue_transactions": entity("revenue_transactions", [("t1", date(2026, 3, 1), "c1", 5.0)])},
        periods,
        computable,
    )
    rows = kpi_values(measures, computable)
    assert sorted(rows["kpi_id"].unique()) == ["active_customers", "average_revenue_per_customer", "revenue"]
    assert rows.filter(pl.col("kpi_id") == "revenue")["value"].to_list() == [5.0] * 4


# --- property tests ----------------------------------------------------------------------------------

WINDOW_START = date(2025, 11, 1)
WINDOW_DAYS = 150  # 2025-11-01 .. 2026-03-30
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)


def _day(offset: int) -> date:
    return WINDOW_START + timedelta(days=offset)


lifecycles = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=WINDOW_DAYS - 1),
        st.one_of(st.none(), st.integers(min_value=0, max_value=60)),
    ),
    max_size=12,
)
run_ranges = st.tuples(
    st.integers(min_value=30, max_value=100),  # first day offset
    st.integers(min_value=0, max_value=10),  # days in the run
    st.integers(min_value=0, max_value=30),  # latest loaded lag
)


def _periods_of(run: tuple[int, int, int]) -> tuple[date, date, date]:
    first_offset, span, lag = run
    first = _day(first_offset)
    return first, first + timedelta(days=span), first + timedelta(days=span + lag)


def _present(begin: date, end: date | None, day: date) -> bool:
    return begin <= day and (end is None or end > day)


@PROPERTY_SETTINGS
@given(people=lifecycles, run=run_ranges)
def test_customer_rates_match_a_reference_and_stay_within_zero_and_one(people, run) -> None:
    customers = [
        (f"c{k}", _day(signed), None if gap is None else _day(signed + gap), None)
        for k, (signed, gap) in enumerate(people)
    ]
    first, last, latest = _periods_of(run)
    rows = compute({"customers": entity("customers", customers)}, first, last, latest)
    for row in rows.filter(pl.col("kpi_id") == "customer_retention_rate").iter_rows(named=True):
        start, end = row["period_start"], row["period_end"]
        before = start - timedelta(days=1)
        s = [c for c in customers if _present(c[1], c[2], before)]
        e = [c for c in customers if _present(c[1], c[2], end)]
        new_at_end = [c for c in e if start <= c[1] <= end]
        churned_from_s = [c for c in s if c[2] is not None and start <= c[2] <= end]
        churn = one(rows.filter(pl.col("period_start") == start), "customer_churn_rate", row["grain"])
        assert (row["numerator"], row["denominator"]) == (len(e) - len(new_at_end), len(s))
        assert (churn["numerator"], churn["denominator"]) == (len(churned_from_s), len(s))
        if not s:
            assert row["value"] is None and churn["value"] is None
            continue
        assert 0.0 <= row["value"] <= 1.0
        assert 0.0 <= churn["value"] <= 1.0
        assert row["value"] + churn["value"] == pytest.approx(1.0)


@PROPERTY_SETTINGS
@given(people=lifecycles, run=run_ranges)
def test_employee_measures_match_a_reference_and_retention_stays_within_zero_and_one(people, run) -> None:
    employees = [
        (f"e{k}", _day(hired), None if gap is None else _day(hired + gap), "ops", None)
        for k, (hired, gap) in enumerate(people)
    ]
    first, last, latest = _periods_of(run)
    rows = compute({"employees": entity("employees", employees)}, first, last, latest)
    for period in rows.filter(pl.col("kpi_id") == "headcount").iter_rows(named=True):
        grain, start, end = period["grain"], period["period_start"], period["period_end"]
        in_period = rows.filter(pl.col("grain") == grain, pl.col("period_start") == start)
        before = start - timedelta(days=1)
        h0 = [e for e in employees if _present(e[1], e[2], before)]
        h1 = [e for e in employees if _present(e[1], e[2], end)]
        retained = [e for e in h0 if _present(e[1], e[2], end)]
        hires = [e for e in employees if start <= e[1] <= end]
        leavers = [e for e in employees if e[2] is not None and start <= e[2] <= end]
        assert period["value"] == len(h1)
        assert one(in_period, "hires", grain)["value"] == len(hires)
        assert one(in_period, "terminations", grain)["value"] == len(leavers)
        turnover = one(in_period, "employee_turnover_rate", grain)
        assert (turnover["numerator"], turnover["denominator"]) == (len(leavers), (len(h0) + len(h1)) / 2)
        retention = one(in_period, "employee_retention_rate", grain)
        assert (retention["numerator"], retention["denominator"]) == (len(retained), len(h0))
        if h0:
            assert 0.0 <= retention["value"] <= 1.0
        else:
            assert retention["value"] is None


amounts = st.integers(min_value=-500, max_value=2000).map(float)  # whole amounts: sums are exact


@PROPERTY_SETTINGS
@given(
    sales=st.lists(st.tuples(st.integers(0, 61), st.sampled_from(["c1", "c2", None]), amounts), max_size=25),
    costs=st.lists(
        st.tuples(
            st.integers(0, 61), st.sampled_from(sorted(["cogs", "operating", "tax"])), amounts.map(abs)
        ),
        max_size=15,
    ),
    lag=st.integers(0, 40),
)
def test_month_revenue_is_the_sum_of_its_days_and_net_profit_is_revenue_minus_expenses(
    sales, costs, lag
) -> None:
    # days 2025-12-01 .. 2026-01-31: two months, two quarters and two years
    base = date(2025, 12, 1)
    transactions = [(f"t{k}", base + timedelta(days=d), c, a) for k, (d, c, a) in enumerate(sales)]
    expenses = [(f"x{k}", base + timedelta(days=d), cat, a) for k, (d, cat, a) in enumerate(costs)]
    latest = date(2026, 1, 31) + timedelta(days=lag)
    rows = compute(
        {
            "revenue_transactions": entity("revenue_transactions", transactions),
            "expenses": entity("expenses", expenses),
        },
        base,
        date(2026, 1, 31),
        latest,
    )
    values = {
        (k, g, s): v for k, g, s, v in rows.select("kpi_id", "grain", "period_start", "value").iter_rows()
    }
    for month_start, month_end in [
        (date(2025, 12, 1), date(2025, 12, 31)),
        (date(2026, 1, 1), date(2026, 1, 31)),
    ]:
        days = [month_start + timedelta(days=d) for d in range((month_end - month_start).days + 1)]
        month_revenue = values[("revenue", "month", month_start)]
        assert month_revenue == sum(values[("revenue", "day", day)] for day in days)
        assert month_revenue == sum(a for _, d, _, a in transactions if month_start <= d <= month_end)
    for kpi_id, grain, start in [key for key in values if key[0] == "net_profit"]:
        assert (
            values[(kpi_id, grain, start)]
            == values[("revenue", grain, start)] - values[("expenses", grain, start)]
        )
    assert {grain for _, grain, _ in values} == {"day", "month", "quarter", "year"}


@PROPERTY_SETTINGS
@given(
    answers=st.lists(
        st.one_of(
            st.tuples(st.integers(0, 61), st.just("csat"), st.integers(1, 5)),
            st.tuples(st.integers(0, 61), st.just("nps"), st.integers(0, 10)),
        ),
        max_size=25,
    )
)
def test_csat_and_nps_match_a_reference_and_stay_in_range(answers) -> None:
    base = date(2025, 12, 1)
    responses = [
        (f"r{k}", "c1", base + timedelta(days=d), survey, score)
        for k, (d, survey, score) in enumerate(answers)
    ]
    rows = compute(
        {"survey_responses": entity("survey_responses", responses)},
        base,
        date(2026, 1, 31),
        date(2026, 1, 31),
    )
    for row in rows.iter_rows(named=True):
        start, end = row["period_start"], row["period_end"]
        scores = [r[4] for r in responses if start <= r[2] <= end and r[3] == row["kpi_id"]]
        if row["kpi_id"] == "csat":
            numerator = sum(1 for score in scores if score >= 4)
            low = 0
        else:
            numerator = sum(1 for score in scores if score >= 9) - sum(1 for score in scores if score <= 6)
            low = -100
        assert (row["numerator"], row["denominator"]) == (numerator, len(scores))
        if scores:
            assert row["value"] == pytest.approx(100 * numerator / len(scores))
            assert low <= row["value"] <= 100
        else:
            assert row["value"] is None


# A hand-written reference of every formula over the period measures: (numerator, denominator, scale);
# customer_retention_rate as implemented, (E - N') / S. The catalog's numerator is the measure
# retained_customers (active on start-1 and on end), which is E - N' (N' the new customers of P still
# active on end): the generated rows give it that value, so the reference stays the hand-written one.
REFERENCE = {
    "revenue": lambda m: (m["revenue"], None, 1),
    "expenses": lambda m: (m["expenses"], None, 1),
    "gross_profit": lambda m: (m["revenue"] - m["cogs_expenses"], None, 1),
    "net_profit": lambda m: (m["revenue"] - m["expenses"], None, 1),
    "net_profit_margin": lambda m: (m["revenue"] - m["expenses"], m["revenue"], 1),
    "active_customers": lambda m: (m["active_customers"], None, 1),
    "average_revenue_per_customer": lambda m: (m["revenue"], m["active_customers"], 1),
    "new_customers": lambda m: (m["new_customers"], None, 1),
    "churned_customers": lambda m: (m["churned_customers"], None, 1),
    "customer_retention_rate": lambda m: (
        m["customers_at_end"] - m["new_customers_at_end"],
        m["customers_at_start"],
        1,
    ),
    "customer_churn_rate": lambda m: (m["churned_from_start"], m["customers_at_start"], 1),
    "csat": lambda m: (m["csat_satisfied"], m["csat_responses"], 100),
    "nps": lambda m: (m["nps_promoters"] - m["nps_detractors"], m["nps_responses"], 100),
    "headcount": lambda m: (m["headcount_at_end"], None, 1),
    "hires": lambda m: (m["hires"], None, 1),
    "terminations": lambda m: (m["terminations"], None, 1),
    "employee_turnover_rate": lambda m: (
        m["terminations"],
        (m["headcount_at_start"] + m["headcount_at_end"]) / 2,
        1,
    ),
    "employee_retention_rate": lambda m: (m["retained_employees"], m["headcount_at_start"], 1),
    "revenue_per_employee": lambda m: (
        m["revenue"],
        (m["headcount_at_start"] + m["headcount_at_end"]) / 2,
        1,
    ),
}
small = st.integers(min_value=0, max_value=6)
measure_rows = st.fixed_dictionaries(
    {
        "revenue": amounts,
        "expenses": amounts.map(abs),
        "cogs_expenses": amounts.map(abs),
        "active_customers": small,
        "customers_at_start": small,
        "customers_at_end": small,
        "new_customers": small,
        "new_customers_at_end": small,
        "churned_customers": small,
        "churned_from_start": small,
        "csat_responses": small,
        "csat_satisfied": small,
        "nps_responses": small,
        "nps_promoters": small,
        "nps_detractors": small,
        "headcount_at_start": small,
        "headcount_at_end": small,
        "hires": small,
        "terminations": small,
        "retained_employees": small,
    }
).map(lambda m: m | {"retained_customers": m["customers_at_end"] - m["new_customers_at_end"]})


@PROPERTY_SETTINGS
@given(measures=st.lists(measure_rows, min_size=1, max_size=4))
def test_every_kpi_is_its_reference_formula_and_a_ratio_is_numerator_over_denominator(measures) -> None:
    frame = pl.DataFrame(
        [
            {"grain": "day", "period_start": date(2026, 3, 1) + timedelta(days=k), "is_complete": True}
            | {"period_end": date(2026, 3, 1) + timedelta(days=k)}
            | m
            for k, m in enumerate(measures)
        ]
    )
    # every measure of the catalog is generated (new_customers_at_end, N', only to make retained_customers)
    assert set(CATALOG.measures) == set(measures[0]) - {"new_customers_at_end"}
    rows = kpi_values(frame, list(KPI_LIST)).sort(ROW_KEY)
    assert {kpi.kpi_id for kpi in KPI_LIST if kpi.is_ratio} == {
        k for k, f in REFERENCE.items() if f(measures[0])[1] is not None
    }
    for row in rows.iter_rows(named=True):
        m = measures[(row["period_start"] - date(2026, 3, 1)).days]
        numerator, denominator, scale = REFERENCE[row["kpi_id"]](m)
        assert row["numerator"] == numerator
        assert row["denominator"] == denominator
        assert row["unit"] == UNITS[row["kpi_id"]]
        if denominator is None:
            assert row["value"] == numerator
        elif denominator == 0:
            assert row["value"] is None  # null, not 0 and not an error
        else:
            assert row["value"] == pytest.approx(numerator / denominator * scale)


def test_a_period_without_any_loaded_day_has_no_value_not_zero() -> None:
    transactions = pl.LazyFrame(
        {"transaction_id": ["a"], "booked_on": [date(2026, 3, 2)], "customer_id": ["c"], "amount": [40.0]}
    )
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2))
    # Revenue was loaded for 03-02 (one row) and 03-01 (a day without sales): 03-01 is 0, not null.
    measures = catalog_measures(
        {"revenue_transactions": transactions},
        periods,
        [KPIS["revenue"]],
        [date(2026, 3, 1), date(2026, 3, 2)],
    )
    values = kpi_values(measures, [KPIS["revenue"]])
    by_period = {
        (grain, start): (value, days, complete)
        for grain, start, value, days, complete in values.select(
            "grain", "period_start", "value", "days_covered", "is_complete"
        ).iter_rows()
    }
    assert by_period[("day", date(2026, 3, 1))] == (0.0, 1, True)
    assert by_period[("day", date(2026, 3, 2))] == (40.0, 1, True)
    # Only 03-02 loaded: 03-01 has no data at all, so no value; the month still has 03-02's 40.
    measures = catalog_measures(
        {"revenue_transactions": transactions}, periods, [KPIS["revenue"]], [date(2026, 3, 2)]
    )
    values = kpi_values(measures, [KPIS["revenue"]])
    by_period = {
        (grain, start): (value, days, complete)
        for grain, start, value, days, complete in values.select(
            "grain", "period_start", "value", "days_covered", "is_complete"
        ).iter_rows()
    }
    assert by_period[("day", date(2026, 3, 1))] == (None, 0, False)
    assert by_period[("month", date(2026, 3, 1))] == (40.0, 1, False)  # to 03-02: 1 of 2 days


# --- days_covered: each KPI over the days all its dated inputs were loaded ---------------------------------


def days_of(first: date, last: date, *missing: date) -> list[date]:
    """Every day of [first, last] but `missing`."""
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    return [day for day in days if day not in missing]


def test_a_month_with_one_day_not_loaded_covers_30_days_and_is_not_complete() -> None:
    # March 2026 loaded on every day but the 15th: 31 - 1 = 30 days
    transactions = entity(
        "revenue_transactions",
        [
            ("t1", date(2026, 3, 1), "c1", 100.0),
            ("t2", date(2026, 3, 15), "c2", 1000.0),  # on the day not loaded: left out everywhere
            ("t3", date(2026, 3, 31), "c1", 20.0),
        ],
    )
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 31))
    loaded = days_of(date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 15))
    kpis = [KPIS["revenue"], KPIS["active_customers"]]
    measures = catalog_measures({"revenue_transactions": transactions}, periods, kpis, loaded)
    rows = kpi_values(measures, kpis).sort(ROW_KEY)
    expected = expected_frame(
        [
            ("revenue", "month", *MARCH[:2], count(100 + 20), 30, False),
            ("active_customers", "month", *MARCH[:2], count(1), 30, False),  # {c1}: c2 only on the 15th
            # Q1 has ended on 03-31 but only March's 30 days of its 31 + 28 + 31 = 90 are covered
            ("revenue", "quarter", date(2026, 1, 1), date(2026, 3, 31), count(100 + 20), 30, False),
            ("active_customers", "quarter", date(2026, 1, 1), date(2026, 3, 31), count(1), 30, False),
        ]
    )
    assert_frame_equal(select(rows, grain=None).filter(pl.col("grain").is_in(["month", "quarter"])), expected)
    days = select(rows, ["revenue"], "day").filter(
        pl.col("period_start").is_in([date(2026, 3, 1), date(2026, 3, 14), date(2026, 3, 15)])
    )
    expected_days = expected_frame(
        [
            ("revenue", "day", date(2026, 3, 1), date(2026, 3, 1), count(100), 1, True),
            ("revenue", "day", date(2026, 3, 14), date(2026, 3, 14), count(0), 1, True),  # loaded, no sales
            ("revenue", "day", date(2026, 3, 15), date(2026, 3, 15), count(None), 0, False),  # not loaded
        ]
    )
    assert_frame_equal(days, expected_days)


def test_with_every_day_loaded_the_month_is_complete_over_its_31_days() -> None:
    # the same month with the 15th loaded too: the 1000 counts and March is complete
    transactions = entity(
        "revenue_transactions",
        [("t1", date(2026, 3, 1), "c1", 100.0), ("t2", date(2026, 3, 15), "c2", 1000.0)],
    )
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 31))
    loaded = days_of(date(2026, 3, 1), date(2026, 3, 31))
    rows = kpi_values(
        catalog_measures({"revenue_transactions": transactions}, periods, [KPIS["revenue"]], loaded),
        [KPIS["revenue"]],
    )
    assert_frame_equal(
        select(rows, grain="month"), expected_frame([("revenue", "month", *MARCH[:2], count(1100), 31, True)])
    )


def test_gross_profit_covers_only_the_days_both_revenue_and_expenses_were_loaded() -> None:
    # revenue loaded on 03-02, 03-03, 03-04; expenses on 03-02 and 03-04 only
    entities = {
        "revenue_transactions": entity(
            "revenue_transactions",
            [
                ("t1", date(2026, 3, 2), "c1", 100.0),
                ("t2", date(2026, 3, 3), "c1", 50.0),
                ("t3", date(2026, 3, 4), "c2", 30.0),
            ],
        ),
        "expenses": entity(
            "expenses",
            [
                ("x1", date(2026, 3, 2), "cogs", 10.0),
                ("x2", date(2026, 3, 3), "cogs", 7.0),  # a day expenses were not loaded for: left out
                ("x3", date(2026, 3, 4), "cogs", 5.0),
                ("x4", date(2026, 3, 4), "operating", 4.0),
            ],
        ),
    }
    loaded_days = {
        "revenue_transactions": [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)],
        "expenses": [date(2026, 3, 2), date(2026, 3, 4)],
    }
    periods = periods_containing(date(2026, 3, 2), date(2026, 3, 4), date(2026, 3, 4))
    kpis = [
        KPIS[kpi_id] for kpi_id in ["revenue", "expenses", "gross_profit", "net_profit", "net_profit_margin"]
    ]
    rows = compute_kpi_rows(entities, periods, kpis, CATALOG, CALENDAR, loaded_days).sort(ROW_KEY)
    assert rows.schema == pl.Schema(ROW_SCHEMA)
    month = (date(2026, 3, 1), date(2026, 3, 4))  # to date: 03-01 was never loaded, so never complete
    expected_month = expected_frame(
        [
            ("revenue", "month", *month, count(100 + 50 + 30), 3, False),  # its own 3 days
            ("expenses", "month", *month, count(10 + 5 + 4), 2, False),  # its own 2 days
            # the 2 common days 03-02 and 03-04: revenue 100 + 30, cogs 10 + 5, every expense 10 + 5 + 4;
            # not 180 - 15 (03-03's revenue 50 without that day's expenses)
            ("gross_profit", "month", *month, count((100 + 30) - (10 + 5)), 2, False),
            ("net_profit", "month", *month, count((100 + 30) - (10 + 5 + 4)), 2, False),
            ("net_profit_margin", "month", *month, ratio((100 + 30) - (10 + 5 + 4), 100 + 30), 2, False),
        ]
    )
    assert_frame_equal(select(rows, grain="month"), expected_month)
    day = (date(2026, 3, 3), date(2026, 3, 3))
    expected_day = expected_frame(
        [
            ("revenue", "day", *day, count(50), 1, True),
            # expenses not loaded on 03-03: no value (not 7, not 0), and no gross profit either
            ("expenses", "day", *day, count(None), 0, False),
            ("gross_profit", "day", *day, count(None), 0, False),
            ("net_profit", "day", *day, count(None), 0, False),
            ("net_profit_margin", "day", *day, (None, None, None), 0, False),
        ]
    )
    assert_frame_equal(select(rows, grain="day").filter(pl.col("period_start") == day[0]), expected_day)
    march_2 = one(rows.filter(pl.col("period_start") == date(2026, 3, 2)), "gross_profit", "day")
    assert (march_2["value"], march_2["days_covered"], march_2["is_complete"]) == (100 - 10, 1, True)


EMPLOYEES_FEBRUARY = [
    ("p", date(2024, 1, 1), None, "ops", None),
    ("q", date(2026, 2, 10), None, "ops", None),  # hired in February
    ("r", date(2024, 1, 1), date(2026, 2, 20), "ops", "voluntary"),  # leaves in February
]
# February 2026: H0(01-31) = {p, r} = 2, H1(02-28) = {p, q} = 2, average (2 + 2) / 2 = 2


def test_revenue_per_employee_covers_revenues_days_and_headcount_the_days_the_runs_covered() -> None:
    entities = {
        "revenue_transactions": entity(
            "revenue_transactions",
            [
                ("t1", date(2026, 2, 1), "c1", 60.0),
                ("t2", date(2026, 2, 14), "c1", 500.0),  # 02-14 not loaded: left out
                ("t3", date(2026, 2, 28), "c2", 40.0),
            ],
        ),
        "employees": entity("employees", EMPLOYEES_FEBRUARY),
    }
    periods = periods_containing(date(2026, 2, 1), date(2026, 2, 28), date(2026, 2, 28))
    # revenue loaded on February but the 14th and 15th: 28 - 2 = 26 days; kpi_values computed (the
    # snapshot-only KPIs' days) on February but the 20th: 27 days. Employees are a snapshot: no days.
    loaded_days = {
        "revenue_transactions": days_of(
            date(2026, 2, 1), date(2026, 2, 28), date(2026, 2, 14), date(2026, 2, 15)
        )
    }
    kpi_days = days_of(date(2026, 2, 1), date(2026, 2, 28), date(2026, 2, 20))
    kpis = [KPIS["revenue_per_employee"], KPIS["headcount"], KPIS["hires"]]
    rows = compute_kpi_rows(entities, periods, kpis, CATALOG, CALENDAR, loaded_days, kpi_days).sort(ROW_KEY)
    february = (date(2026, 2, 1), date(2026, 2, 28))
    expected = expected_frame(
        [
            ("headcount", "month", *february, count(2), 27, False),  # {p, q}; the 20th not covered
            ("hires", "month", *february, count(1), 27, False),  # {q}
            # revenue 60 + 40 over its 26 days, over the average headcount 2
            ("revenue_per_employee", "month", *february, ratio(60 + 40, (2 + 2) / 2), 26, False),
        ]
    )
    assert_frame_equal(select(rows, grain="month"), expected)
    # 02-10: loaded for revenue (no sales) and covered by a run. H0(02-09) = {p, r} = 2,
    # H1(02-10) = {p, q, r} = 3, hires {q} = 1
    day = (date(2026, 2, 10), date(2026, 2, 10))
    assert_frame_equal(
        select(rows, grain="day").filter(pl.col("period_start") == day[0]),
        expected_frame(
            [
                ("headcount", "day", *day, count(3), 1, True),
                ("hires", "day", *day, count(1), 1, True),
                ("revenue_per_employee", "day", *day, ratio(0, (2 + 3) / 2), 1, True),
            ]
        ),
    )
    # 02-14: revenue not loaded, so no revenue per employee (its denominator, a snapshot, is still there);
    # headcount covers 02-14, a day the runs covered. H0(02-13) = H1(02-14) = {p, q, r} = 3
    day = (date(2026, 2, 14), date(2026, 2, 14))
    assert_frame_equal(
        select(rows, grain="day").filter(pl.col("period_start") == day[0]),
        expected_frame(
            [
                ("headcount", "day", *day, count(3), 1, True),
                ("hires", "day", *day, count(0), 1, True),
                ("revenue_per_employee", "day", *day, (None, None, (3 + 3) / 2), 0, False),
            ]
        ),
    )


def test_a_snapshot_only_kpi_with_every_day_of_the_month_run_is_complete() -> None:
    periods = periods_containing(date(2026, 2, 1), date(2026, 2, 28), date(2026, 2, 28))
    rows = compute_kpi_rows(
        {"employees": entity("employees", EMPLOYEES_FEBRUARY)},
        periods,
        [KPIS["headcount"]],
        CATALOG,
        CALENDAR,
        {},  # no dated entity loaded: headcount does not need one
        days_of(date(2026, 2, 1), date(2026, 2, 28)),
    )
    assert_frame_equal(
        select(rows, grain="month"),
        expected_frame([("headcount", "month", date(2026, 2, 1), date(2026, 2, 28), count(2), 28, True)]),
    )
    # the quarter to 02-28: January was not run, so 28 of its 31 + 28 days; the quarter is to date anyway
    quarter = one(rows, "headcount", "quarter")
    assert (quarter["days_covered"], quarter["is_complete"]) == (28, False)


def test_compute_kpi_rows_with_no_loaded_days_counts_every_day(worked_rows: pl.DataFrame) -> None:
    # loaded_days None: every day of every period counts, as in the worked example
    entities = {
        "revenue_transactions": entity("revenue_transactions", TRANSACTIONS),
        "expenses": entity("expenses", EXPENSE_ROWS),
        "customers": entity("customers", CUSTOMER_ROWS),
        "survey_responses": entity("survey_responses", SURVEY_ROWS),
        "employees": entity("employees", EMPLOYEE_ROWS),
    }
    periods = periods_containing(RUN_DAY, RUN_DAY, LATEST)
    rows = compute_kpi_rows(entities, periods, list(KPI_LIST), CATALOG, CALENDAR).sort(ROW_KEY)
    assert_frame_equal(rows, worked_rows)


def test_compute_kpi_rows_of_no_kpi_is_an_empty_frame_with_the_output_schema() -> None:
    periods = periods_containing(date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1))
    assert_frame_equal(
        compute_kpi_rows({}, periods, [], CATALOG, CALENDAR, {}), pl.DataFrame(schema=ROW_SCHEMA)
    )
