"""The KPI catalog of DESIGN.md, declared once: docs, the kpi_definitions table and the code read it.

Each KPI is a numerator (and, for a ratio, a denominator) over the period's measures, the counts
and sums that `transforms.py` computes per period. A ratio is always the period's own numerator over
its own denominator, never an average of finer grains; a zero denominator gives null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

Unit = Literal["currency", "ratio", "count", "percent", "score"]
Direction = Literal["higher_is_better", "lower_is_better"]

REVENUE = ("revenue_transactions",)
EXPENSES = ("expenses",)
CUSTOMERS = ("customers",)
SURVEYS = ("survey_responses",)
EMPLOYEES = ("employees",)


def measure(name: str) -> pl.Expr:
    """A per-period measure as a float: counts are unsigned, and NPS subtracts them."""
    return pl.col(name).cast(pl.Float64())


@dataclass(frozen=True)
class KpiDefinition:
    kpi_id: str
    name: str
    formula: str
    """DESIGN.md's formula over the period P, in words."""
    unit: Unit
    direction: Direction
    inputs: tuple[str, ...]
    """The canonical entities it needs: without all of them it is skipped, with a message."""
    numerator: pl.Expr
    denominator: pl.Expr | None = None
    scale: float = 1.0
    bounds: tuple[float | None, float | None] | None = None
    """The values it can take (lowest, highest; None: unbounded); the kpi_values check enforces them."""

    @property
    def is_ratio(self) -> bool:
        return self.denominator is not None


def _average_headcount() -> pl.Expr:
    return (measure("headcount_at_start") + measure("headcount_at_end")) / 2


KPI_LIST: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        "revenue",
        "Revenue",
        "sum(amount) of revenue transactions booked in P; refunds are negative",
        "currency",
        "higher_is_better",
        REVENUE,
        measure("revenue"),
    ),
    KpiDefinition(
        "expenses",
        "Expenses",
        "sum(amount) of expenses booked in P",
        "currency",
        "lower_is_better",
        EXPENSES,
        measure("expenses"),
    ),
    KpiDefinition(
        "gross_profit",
        "Gross profit",
        "revenue - expenses of category cogs",
        "currency",
        "higher_is_better",
        REVENUE + EXPENSES,
        measure("revenue") - measure("cogs_expenses"),
    ),
    KpiDefinition(
        "net_profit",
        "Net profit",
        "revenue - expenses",
        "currency",
        "higher_is_better",
        REVENUE + EXPENSES,
        measure("revenue") - measure("expenses"),
    ),
    KpiDefinition(
        "net_profit_margin",
        "Net profit margin",
        "net_profit / revenue",
        "ratio",
        "higher_is_better",
        REVENUE + EXPENSES,
        measure("revenue") - measure("expenses"),
        measure("revenue"),
    ),
    KpiDefinition(
        "active_customers",
        "Active customers",
        "distinct customer_id with a revenue transaction in P",
        "count",
        "higher_is_better",
        REVENUE,
        measure("active_customers"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "average_revenue_per_customer",
        "Average revenue per customer",
        "revenue / active_customers",
        "currency",
        "higher_is_better",
        REVENUE,
        measure("revenue"),
        measure("active_customers"),
    ),
    KpiDefinition(
        "new_customers",
        "New customers",
        "customers with signed_up_on in P",
        "count",
        "higher_is_better",
        CUSTOMERS,
        measure("new_customers"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "churned_customers",
        "Churned customers",
        "customers with churned_on in P",
        "count",
        "lower_is_better",
        CUSTOMERS,
        measure("churned_customers"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "customer_retention_rate",
        "Customer retention rate",
        "(E - N) / S, N counting the new customers of P still active at its end",
        "ratio",
        "higher_is_better",
        CUSTOMERS,
        measure("customers_at_end") - measure("new_customers_at_end"),
        measure("customers_at_start"),
        bounds=(0, 1),
    ),
    KpiDefinition(
        "customer_churn_rate",
        "Customer churn rate",
        "customers active on start-1 whose churned_on is in P, / S",
        "ratio",
        "lower_is_better",
        CUSTOMERS,
        measure("churned_from_start"),
        measure("customers_at_start"),
        bounds=(0, 1),
    ),
    KpiDefinition(
        "csat",
        "Customer satisfaction (CSAT)",
        "100 * csat responses with score >= 4 / csat responses in P",
        "percent",
        "higher_is_better",
        SURVEYS,
        measure("csat_satisfied"),
        measure("csat_responses"),
        100.0,
        bounds=(0, 100),
    ),
    KpiDefinition(
        "nps",
        "Net promoter score (NPS)",
        "100 * (nps responses with score >= 9 - those with score <= 6) / nps responses in P",
        "score",
        "higher_is_better",
        SURVEYS,
        measure("nps_promoters") - measure("nps_detractors"),
        measure("nps_responses"),
        100.0,
        bounds=(-100, 100),
    ),
    KpiDefinition(
        "headcount",
        "Headcount",
        "employees employed on the period's last day (H1)",
        "count",
        "higher_is_better",
        EMPLOYEES,
        measure("headcount_at_end"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "hires",
        "Hires",
        "employees with hired_on in P",
        "count",
        "higher_is_better",
        EMPLOYEES,
        measure("hires"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "terminations",
        "Terminations",
        "employees with terminated_on in P",
        "count",
        "lower_is_better",
        EMPLOYEES,
        measure("terminations"),
        bounds=(0, None),
    ),
    KpiDefinition(
        "employee_turnover_rate",
        "Employee turnover rate",
        "terminations / ((H0 + H1) / 2)",
        "ratio",
        "lower_is_better",
        EMPLOYEES,
        measure("terminations"),
        _average_headcount(),
        bounds=(0, None),
    ),
    KpiDefinition(
        "employee_retention_rate",
        "Employee retention rate",
        "employees employed on start-1 and still employed on end, / H0",
        "ratio",
        "higher_is_better",
        EMPLOYEES,
        measure("retained_employees"),
        measure("headcount_at_start"),
        bounds=(0, 1),
    ),
    KpiDefinition(
        "revenue_per_employee",
        "Revenue per employee",
        "revenue / ((H0 + H1) / 2)",
        "currency",
        "higher_is_better",
        REVENUE + EMPLOYEES,
        measure("revenue"),
        _average_headcount(),
    ),
)

KPIS: dict[str, KpiDefinition] = {kpi.kpi_id: kpi for kpi in KPI_LIST}


def computable_kpis(entities: list[str] | set[str]) -> tuple[list[KpiDefinition], dict[str, list[str]]]:
    """The KPIs whose inputs are all provided, and for the others the entities they miss."""
    available = set(entities)
    computable, skipped = [], {}
    for kpi in KPI_LIST:
        missing = [entity for entity in kpi.inputs if entity not in available]
        if missing:
            skipped[kpi.kpi_id] = missing
        else:
            computable.append(kpi)
    return computable, skipped


def kpi_definition_rows() -> pl.DataFrame:
    """The catalog as rows of the kpi_definitions table."""
    return pl.DataFrame(
        [
            (kpi.kpi_id, kpi.name, kpi.formula, kpi.unit, kpi.direction, ", ".join(kpi.inputs), kpi.is_ratio)
            for kpi in KPI_LIST
        ],
        schema=["kpi_id", "name", "formula", "unit", "direction", "inputs", "is_ratio"],
        orient="row",
    )
