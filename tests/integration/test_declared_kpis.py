"""A company's own KPIs, declared in YAML only: a new entity with a dimension, a built-in KPI broken down
by a dimension column added to its entity, through `kpi run` into the warehouse and the Dagster
definitions; declared tables created and extended on DuckDB, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from kpi.config import load_config
from kpi.runner import CannotStart, run_partitions
from pipelines.definitions import build_definitions
from tests.conftest import new_database, query, shop_config, write_config

DAY1, DAY2 = date(2026, 1, 5), date(2026, 1, 6)  # a Monday and a Tuesday

SALES = """id,day,customer,total,region
s1,2026-01-05,c1,100,north
s2,2026-01-05,c2,50,south
s3,2026-01-05,c3,30,
s4,2026-01-06,c1,70,north
s5,2026-01-06,c2,-20,south
"""
# t4's reply time is an undeclared null marker: its row is quarantined, not read as null.
TICKETS = """ticket,opened,priority,team,reply_hours
t1,2026-01-05,urgent,support,2.5
t2,2026-01-05,normal,support,4
t3,2026-01-05,urgent,billing,1
t4,2026-01-06,urgent,support,N/A
t5,2026-01-06,normal,billing,3
t6,2026-01-06,normal,support,5
"""


def company_config(
    directory: Path, warehouse: str = "duckdb:///warehouse.duckdb", with_team: bool = True
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sales.csv").write_text(SALES)
    (directory / "tickets.csv").write_text(TICKETS)
    ticket_columns = {
        "ticket_id": "str",
        "opened_on": "date",
        "priority": "str",
        "first_reply_hours": "float",
    }
    ticket_mapping = {
        "ticket_id": "ticket",
        "opened_on": "opened",
        "priority": "priority",
        "first_reply_hours": "reply_hours",
    }
    if with_team:
        ticket_columns["team"] = "str"
        ticket_mapping["team"] = "team"
    data = {
        "start_date": "2026-01-01",
        "warehouse": warehouse,
        "entities": {
            "revenue_transactions": {"dimensions": {"region": "str"}},
            "support_tickets": {"key": "ticket_id", "date": "opened_on", "columns": ticket_columns},
        },
        "measures": {
            "tickets": {"entity": "support_tickets", "agg": "count"},
            "urgent_tickets": {"entity": "support_tickets", "agg": "count", "where": "priority = 'urgent'"},
        },
        "kpis": [
            {
                "id": "revenue",  # the built-in, broken down by region
                "name": "Revenue",
                "numerator": "revenue",
                "unit": "currency",
                "direction": "higher_is_better",
                "dimensions": ["region"],
            },
            {
                "id": "urgent_ticket_share",
                "name": "Urgent ticket share",
                "numerator": "urgent_tickets",
                "denominator": "tickets",
                "unit": "ratio",
                "direction": "lower_is_better",
                "dimensions": ["team"] if with_team else [],
            },
        ],
        "sources": [
            {
                "name": "shop",
                "connector": "files",
                "options": {"path": "sales.csv"},
                "entity": "revenue_transactions",
                "columns": {
                    "transaction_id": "id",
                    "booked_on": "day",
                    "customer_id": "customer",
                    "amount": "total",
                    "region": "region",
                },
            },
            {
                "name": "helpdesk",
                "connector": "files",
                "options": {"path": "tickets.csv"},
                "entity": "support_tickets",
                "columns": ticket_mapping,
                "quality": {"quarantine_threshold": 0.5},
            },
        ],
    }
    return write_config(directory, data)


def kpi_rows(engine_or_dir, kpi_id: str, grain: str, database_url: str | None = None) -> dict:
    sql = (
        "SELECT period_start, dimension, dimension_value, value, previous_value FROM kpi_values "
        f"WHERE kpi_id = '{kpi_id}' AND grain = '{grain}'"
    )
    if database_url is None:
        rows = query(engine_or_dir, sql)
    else:
        engine = sa.create_engine(database_url)
        with engine.connect() as connection:
            rows = [tuple(row) for row in connection.exec_driver_sql(sql)]
        engine.dispose()
    return {
        (start, dimension, value): (kpi_value, previous)
        for start, dimension, value, kpi_value, previous in rows
    }


def test_a_new_kpi_over_a_new_entity_with_a_dimension_from_yaml_alone(tmp_path: Path, instance) -> None:
    path = company_config(tmp_path)
    outcomes = run_partitions(path, DAY1, DAY2, instance=instance)  # one run per day
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    assert [outcome.quarantined for outcome in outcomes] == [0, 1]

    share = kpi_rows(tmp_path, "urgent_ticket_share", "day")
    # 01-05: t1, t2, t3 -> 2 urgent of 3; support 1 of 2; billing 1 of 1.
    # 01-06: t5, t6 (t4 quarantined) -> none urgent; each team 0 of 1; previous from 01-05's row of the
    # same team.
    assert share == {
        (DAY1, "", ""): (pytest.approx(2 / 3), None),
        (DAY1, "team", "support"): (0.5, None),
        (DAY1, "team", "billing"): (1.0, None),
        (DAY2, "", ""): (0.0, pytest.approx(2 / 3)),
        (DAY2, "team", "support"): (0.0, 0.5),
        (DAY2, "team", "billing"): (0.0, 1.0),
    }
    # The month and the ISO week (from Monday 01-05) to date: 5 tickets, 2 urgent; support t1, t2, t6
    # (1 urgent); billing t3, t5 (1 urgent).
    for grain, start in (("month", date(2026, 1, 1)), ("week", DAY1)):
        rows = kpi_rows(tmp_path, "urgent_ticket_share", grain)
        assert rows == {
            (start, "", ""): (0.4, None),
            (start, "team", "support"): (pytest.approx(1 / 3), None),
            (start, "team", "billing"): (0.5, None),
        }
    revenue = kpi_rows(tmp_path, "revenue", "month")
    # s1..s5: north 100 + 70, south 50 - 20, s3 without a region 30.
    assert revenue == {
        (date(2026, 1, 1), "", ""): (230.0, None),
        (date(2026, 1, 1), "region", "north"): (170.0, None),
        (date(2026, 1, 1), "region", "south"): (30.0, None),
        (date(2026, 1, 1), "region", "(none)"): (30.0, None),
    }
    # The declared entity has its own table and quarantine; the catalog row names its config.
    assert query(tmp_path, "SELECT ticket_id, team, first_reply_hours FROM support_tickets ORDER BY 1") == [
        ("t1", "support", 2.5),
        ("t2", "support", 4.0),
        ("t3", "billing", 1.0),
        ("t5", "billing", 3.0),
        ("t6", "support", 5.0),
    ]
    assert query(tmp_path, "SELECT entity, rule FROM quarantine") == [
        ("support_tickets", "null_marker:first_reply_hours")
    ]
    assert query(
        tmp_path,
        "SELECT numerator, denominator, dimensions, inputs, declared_in FROM kpi_definitions "
        "WHERE kpi_id = 'urgent_ticket_share'",
    ) == [("urgent_tickets", "tickets", "team", "support_tickets", str(path.resolve()))]
    # The Dagster UI shows the new entity's assets (what `dagster dev` loads from KPI_CONFIG).
    keys = {key.to_user_string() for key in build_definitions(load_config(path)).resolve_all_asset_keys()}
    assert {"raw/helpdesk", "entity/support_tickets", "kpi/kpi_values"} <= keys


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_declared_tables_are_created_and_extended_on_servers(tmp_path: Path, instance, kind: str) -> None:
    """A declared entity's table is created on first use; a column declared later is added to it (the
    rows loaded before keep null there), on the server warehouses too."""
    with new_database(kind) as url:
        first = company_config(tmp_path / "before", url, with_team=False)
        [outcome] = run_partitions(first, DAY1, DAY1, instance=instance)
        assert outcome.success, outcome.error
        engine = sa.create_engine(url)
        columns = {column["name"] for column in sa.inspect(engine).get_columns("support_tickets")}
        assert columns == {"ticket_id", "opened_on", "priority", "first_reply_hours", "source"}
        assert "region" in {
            column["name"] for column in sa.inspect(engine).get_columns("revenue_transactions")
        }

        later = company_config(tmp_path / "after", url, with_team=True)
        [outcome] = run_partitions(later, DAY2, DAY2, instance=instance)
        assert outcome.success, outcome.error
        columns = {column["name"] for column in sa.inspect(engine).get_columns("support_tickets")}
        assert "team" in columns
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT ticket_id, team FROM support_tickets ORDER BY ticket_id"
            ).all()
        engine.dispose()
        assert [tuple(row) for row in rows] == [
            ("t1", None),
            ("t2", None),
            ("t3", None),
            ("t5", "billing"),
            ("t6", "support"),
        ]
        share = kpi_rows(None, "urgent_ticket_share", "day", url)
        assert share[(DAY2, "team", "billing")] == (0.0, None)  # 01-05 had no team rows to compare with
        assert share[(DAY2, "", "")] == (0.0, pytest.approx(2 / 3))


def test_a_declared_column_whose_type_changes_is_refused_with_its_table_and_column(
    tmp_path: Path, instance
) -> None:
    path = company_config(tmp_path)
    [outcome] = run_partitions(path, DAY1, DAY1, instance=instance)
    assert outcome.success, outcome.error
    data = yaml.safe_load(path.read_text())
    data["entities"]["support_tickets"]["columns"]["first_reply_hours"] = "str"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CannotStart) as refused:
        run_partitions(path, DAY2, DAY2, instance=instance)
    message = str(refused.value)
    assert (
        "support_tickets: column first_reply_hours holds DOUBLE, the config declares VARCHAR(255)" in message
    )
    assert query(tmp_path, "SELECT count(*) FROM support_tickets") == [(3,)]  # nothing changed


def test_derived_customers_day_by_day_equal_one_run_over_the_range(tmp_path: Path, instance) -> None:
    """A customer who buys again after a churn day that was already published un-churns it: the
    periods of that day are recomputed, so running day by day ends as one run over the range does.

    churn_after_days 1: churned_on = last purchase + 2 days, once loaded. c1 buys 01-01 and 01-04, c2
    01-02 and 01-03. After 01-03, c1 has churned on 01-03; after 01-04 it has not (its next churn day,
    01-06, is not loaded), so no customer churned on 01-03."""
    rows = ["a,2026-01-01,c1,10", "b,2026-01-02,c2,10", "c,2026-01-03,c2,10", "d,2026-01-04,c1,10"]
    derived = {"customers": {"derived_from": "revenue_transactions", "churn_after_days": 1}}
    day_by_day = shop_config(tmp_path / "day_by_day", rows, entities=derived)
    at_once = shop_config(tmp_path / "at_once", rows, entities=derived)
    first, last = date(2026, 1, 1), date(2026, 1, 4)
    assert all(outcome.success for outcome in run_partitions(day_by_day, first, last, instance=instance))
    assert all(
        outcome.success
        for outcome in run_partitions(at_once, first, last, instance=instance, single_run=True)
    )
    sql = (
        "SELECT kpi_id, grain, period_start, value FROM kpi_values WHERE kpi_id IN "
        "('churned_customers', 'new_customers', 'customer_churn_rate') ORDER BY ALL"
    )
    assert query(tmp_path / "day_by_day", sql) == query(tmp_path / "at_once", sql)
    assert ("churned_customers", "day", date(2026, 1, 3), 0.0) in query(tmp_path / "day_by_day", sql)
    assert query(
        tmp_path / "day_by_day", "SELECT customer_id, signed_up_on, churned_on FROM customers ORDER BY 1"
    ) == [
        ("c1", date(2026, 1, 1), None),
        ("c2", date(2026, 1, 2), None),  # 01-03 + 2 = 01-05, not loaded
    ]


def test_grains_and_a_fiscal_calendar_limit_and_shape_the_periods(tmp_path: Path, instance) -> None:
    """grains: [day, quarter, year] computes only those; with fiscal years from February, 2026-01-05 is
    in the quarter 2025-11-01 .. 2026-01-31 and the fiscal year 2025-02-01 .. 2026-01-31."""
    path = shop_config(
        tmp_path,
        ["a,2026-01-05,c1,10", "b,2026-01-06,c2,5"],
        calendar={"fiscal_year_start_month": 2},
        grains=["year", "day", "quarter"],
    )
    outcomes = run_partitions(path, DAY1, DAY2, instance=instance)
    assert all(outcome.success for outcome in outcomes), [outcome.error for outcome in outcomes]
    rows = query(
        tmp_path,
        "SELECT grain, period_start, period_end, value, days_covered, is_complete FROM kpi_values "
        "WHERE kpi_id = 'revenue' ORDER BY grain, period_start",
    )
    assert rows == [
        ("day", DAY1, DAY1, 10.0, 1, True),
        ("day", DAY2, DAY2, 5.0, 1, True),
        # to date (01-06 is the latest loaded day); only 2 of its days loaded
        ("quarter", date(2025, 11, 1), DAY2, 15.0, 2, False),
        ("year", date(2025, 2, 1), DAY2, 15.0, 2, False),
    ]


def hr_config(directory: Path, employees: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "employees.csv").write_text("id,hired,left,department,kind\n" + employees)
    return write_config(
        directory,
        {
            "start_date": "2026-01-01",
            "warehouse": "duckdb:///warehouse.duckdb",
            "grains": ["day", "month"],
            "sources": [
                {
                    "name": "hr",
                    "connector": "files",
                    "options": {"path": "employees.csv"},
                    "entity": "employees",
                    "columns": {
                        "employee_id": "id",
                        "hired_on": "hired",
                        "terminated_on": "left",
                        "department": "department",
                        "termination_type": "kind",
                    },
                }
            ],
        },
    )


def test_a_backdated_termination_recomputes_every_day_since(tmp_path: Path, instance) -> None:
    """The HR snapshot of 01-20 says e1 left on 01-12: headcount of 01-12 .. 01-19, published with e1,
    is recomputed without, as one run over the range with that snapshot gives."""
    before = "e1,2025-06-01,,ops,\ne2,2025-06-01,,ops,\n"
    after = "e1,2025-06-01,2026-01-12,ops,voluntary\ne2,2025-06-01,,ops,\n"
    nightly = hr_config(tmp_path / "nightly", before)
    for day in range(10, 20):  # 01-10 .. 01-19 with e1 employed
        [outcome] = run_partitions(nightly, date(2026, 1, day), date(2026, 1, day), instance=instance)
        assert outcome.success, outcome.error
    (tmp_path / "nightly" / "employees.csv").write_text("id,hired,left,department,kind\n" + after)
    [outcome] = run_partitions(nightly, date(2026, 1, 20), date(2026, 1, 20), instance=instance)
    assert outcome.success, outcome.error
    at_once = hr_config(tmp_path / "at_once", after)
    [outcome] = run_partitions(
        at_once, date(2026, 1, 10), date(2026, 1, 20), instance=instance, single_run=True
    )
    assert outcome.success, outcome.error
    sql = (
        "SELECT kpi_id, grain, period_start, value FROM kpi_values "
        "WHERE kpi_id IN ('headcount', 'terminations') ORDER BY ALL"
    )
    assert query(tmp_path / "nightly", sql) == query(tmp_path / "at_once", sql)
    headcount = dict(
        query(
            tmp_path / "nightly",
            "SELECT period_start, value FROM kpi_values WHERE kpi_id = 'headcount' AND grain = 'day'",
        )
    )
    assert headcount[date(2026, 1, 11)] == 2.0 and headcount[date(2026, 1, 12)] == 1.0  # e1 left on 01-12


def test_a_dimension_value_moved_out_of_a_period_leaves_nothing_to_compare_with(
    tmp_path: Path, instance
) -> None:
    """x1, the only sale of region west in February, is restated to March 5: February loses its west
    row, so March's west row (recomputed now) and a later period comparing with February have no
    previous value from it, never the stale 50."""
    region = {"revenue_transactions": {"dimensions": {"region": "str"}}}
    revenue_by_region = [
        {
            "id": "revenue",
            "name": "Revenue",
            "numerator": "revenue",
            "unit": "currency",
            "direction": "higher_is_better",
            "dimensions": ["region"],
        }
    ]
    rows = ["x1,2026-02-10,c1,50,west", "x2,2026-02-11,c2,70,east", "x3,2026-03-05,c3,30,east"]
    path = shop_config(tmp_path, [], entities=region, kpis=revenue_by_region)
    data = yaml.safe_load(path.read_text())
    data["sources"][0]["columns"]["region"] = "region"
    path.write_text(yaml.safe_dump(data))

    def sales(lines: list[str]) -> None:
        (tmp_path / "sales.csv").write_text(
            "id,day,customer,total,region\n" + "".join(f"{line}\n" for line in lines)
        )

    sales(rows)
    run_partitions(path, date(2026, 2, 1), date(2026, 2, 28), instance=instance, single_run=True)
    [outcome] = run_partitions(path, date(2026, 3, 5), date(2026, 3, 5), instance=instance)
    assert outcome.success, outcome.error
    march = "SELECT dimension_value, value, previous_value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month' AND period_start = '2026-03-01' ORDER BY 1"
    assert query(tmp_path, march) == [("", 30.0, 120.0), ("east", 30.0, 70.0)]  # no west row in March yet

    sales(["x1,2026-03-05,c1,50,west", *rows[1:]])  # restated into March
    [outcome] = run_partitions(path, date(2026, 3, 5), date(2026, 3, 5), instance=instance)
    assert outcome.success, outcome.error
    february = "SELECT dimension_value, value FROM kpi_values WHERE kpi_id = 'revenue' AND grain = 'month' AND period_start = '2026-02-01' ORDER BY 1"
    assert query(tmp_path, february) == [("", 70.0), ("east", 70.0)]
    assert query(tmp_path, march) == [("", 80.0, 70.0), ("east", 30.0, 70.0), ("west", 50.0, None)]
