"""Customers derived from purchases (entities.customers.derived_from), on hand-worked values: signed up on
the first purchase, churned churn_after_days + 1 days after the last one once that day is loaded; a
refund is not a purchase; keys are scoped by source."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from assets.entities.transforms import derive_customers
from kpi.entities import BUILT_IN_ENTITIES
from kpi.schema import ENTITY_TABLES
from kpi.warehouse import Warehouse

CUSTOMERS = BUILT_IN_ENTITIES["customers"]
PURCHASE_SCHEMA = {
    "source": pl.String(),
    "customer_id": pl.String(),
    "first_purchase_on": pl.Date(),
    "last_purchase_on": pl.Date(),
}
CUSTOMER_SCHEMA = {**CUSTOMERS.schema, "source": pl.String()}


def purchases(*rows: tuple[str, str, date, date]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PURCHASE_SCHEMA, orient="row")


def customers(*rows: tuple[str, date, date | None, str]) -> pl.DataFrame:
    """Expected rows: customer_id, signed_up_on, churned_on, source (segment: null)."""
    return pl.DataFrame(
        [(customer, signed_up, churned, None, source) for customer, signed_up, churned, source in rows],
        schema=CUSTOMER_SCHEMA,
        orient="row",
    )


def test_a_customer_churns_on_the_latest_loaded_day_but_not_the_day_before_it_is_loaded() -> None:
    # Last purchases on 2026-01-01 and 2026-01-02, 30 days: churn days 2026-02-01 and 2026-02-02
    # (active through the 30 days after the last purchase, 2026-01-02 .. 2026-01-31 for c1).
    bought = purchases(
        ("shop", "c1", date(2025, 12, 1), date(2026, 1, 1)),
        ("shop", "c2", date(2026, 1, 2), date(2026, 1, 2)),
    )
    assert_frame_equal(
        derive_customers(bought, CUSTOMERS, churn_after_days=30, latest_day=date(2026, 2, 1)),
        customers(
            ("c1", date(2025, 12, 1), date(2026, 2, 1), "shop"),  # its churn day is the latest loaded day
            ("c2", date(2026, 1, 2), None, "shop"),  # its churn day is one day after: it may still buy
        ),
    )
    assert_frame_equal(
        derive_customers(bought, CUSTOMERS, churn_after_days=30, latest_day=date(2026, 2, 2)),
        customers(
            ("c1", date(2025, 12, 1), date(2026, 2, 1), "shop"),
            ("c2", date(2026, 1, 2), date(2026, 2, 2), "shop"),
        ),
    )


def test_two_sources_with_one_customer_id_are_two_customers() -> None:
    bought = purchases(
        ("web", "c1", date(2026, 1, 10), date(2026, 1, 10)),
        ("shop", "c1", date(2026, 1, 1), date(2026, 1, 5)),
    )
    assert_frame_equal(
        derive_customers(bought, CUSTOMERS, churn_after_days=7, latest_day=date(2026, 1, 31)),
        customers(
            ("c1", date(2026, 1, 1), date(2026, 1, 13), "shop"),
            ("c1", date(2026, 1, 10), date(2026, 1, 18), "web"),
        ),
    )


def test_refunds_are_not_purchases(tmp_path: Path) -> None:
    """Through the warehouse's purchase days, as the customers asset reads them: a refund neither
    signs a customer up nor keeps one (its later date is not a last purchase), and a transaction
    without a customer is nobody's."""
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    warehouse.create_tables()
    transactions = pl.DataFrame(
        [
            ("t1", date(2026, 1, 1), "c1", 100.0, "shop"),
            ("t2", date(2026, 1, 20), "c1", -100.0, "shop"),  # c1's refund, after its last purchase
            ("t3", date(2026, 1, 3), "c2", -40.0, "shop"),  # c2 only ever had a refund
            ("t4", date(2026, 1, 4), "c3", 0.0, "shop"),  # nor is a zero amount a purchase
            ("t5", date(2026, 1, 5), None, 25.0, "shop"),
            ("t6", date(2026, 1, 6), "c4", 10.0, "other"),  # another source's rows are not read
        ],
        schema={
            "transaction_id": pl.String(),
            "booked_on": pl.Date(),
            "customer_id": pl.String(),
            "amount": pl.Float64(),
            "source": pl.String(),
        },
        orient="row",
    )
    with warehouse.transaction() as connection:
        warehouse.insert(connection, ENTITY_TABLES["revenue_transactions"], transactions)
    bought = warehouse.customer_purchase_days(["shop"])
    assert_frame_equal(bought, purchases(("shop", "c1", date(2026, 1, 1), date(2026, 1, 1))))
    assert_frame_equal(
        derive_customers(bought, CUSTOMERS, churn_after_days=14, latest_day=date(2026, 1, 31)),
        # 14 days without a purchase after 2026-01-01: 2026-01-02 .. 2026-01-15; churned on the 16th,
        # the refund of the 20th notwithstanding
        customers(("c1", date(2026, 1, 1), date(2026, 1, 16), "shop")),
    )
