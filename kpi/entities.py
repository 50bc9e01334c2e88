"""The canonical entities of DESIGN.md: what every connector's output is mapped to."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Entity:
    """A canonical entity: its columns with their types, its key and, when dated, its date column.

    A dated entity (revenue, expenses, survey responses) is extracted one daily partition at a time
    through its date column. An undated one (customers, employees) is a snapshot of the source
    system's current state, replaced whole on every run: its dates are lifecycle dates, not events.
    """

    name: str
    schema: dict[str, pl.DataType]
    key: str
    date_column: str | None
    nullable: frozenset[str]
    allowed_values: dict[str, frozenset[str]]

    @property
    def is_dated(self) -> bool:
        return self.date_column is not None

    @property
    def required_columns(self) -> list[str]:
        return [column for column in self.schema if column not in self.nullable]

    def empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


EXPENSE_CATEGORIES = frozenset({"cogs", "operating", "interest", "tax", "other"})
SURVEYS = frozenset({"csat", "nps"})
TERMINATION_TYPES = frozenset({"voluntary", "involuntary"})
SURVEY_SCORE_RANGES = {"csat": (1, 5), "nps": (0, 10)}

ENTITIES: dict[str, Entity] = {
    entity.name: entity
    for entity in (
        Entity(
            name="revenue_transactions",
            schema={
                "transaction_id": pl.String(),
                "booked_on": pl.Date(),
                "customer_id": pl.String(),
                "amount": pl.Float64(),
            },
            key="transaction_id",
            date_column="booked_on",
            nullable=frozenset({"customer_id"}),
            allowed_values={},
        ),
        Entity(
            name="expenses",
            schema={
                "expense_id": pl.String(),
                "booked_on": pl.Date(),
                "category": pl.String(),
                "amount": pl.Float64(),
            },
            key="expense_id",
            date_column="booked_on",
            nullable=frozenset(),
            allowed_values={"category": EXPENSE_CATEGORIES},
        ),
        Entity(
            name="customers",
            schema={
                "customer_id": pl.String(),
                "signed_up_on": pl.Date(),
                "churned_on": pl.Date(),
                "segment": pl.String(),
            },
            key="customer_id",
            date_column=None,
            nullable=frozenset({"churned_on", "segment"}),
            allowed_values={},
        ),
        Entity(
            name="survey_responses",
            schema={
                "response_id": pl.String(),
                "customer_id": pl.String(),
                "responded_on": pl.Date(),
                "survey": pl.String(),
                "score": pl.Int64(),
            },
            key="response_id",
            date_column="responded_on",
            nullable=frozenset(),
            allowed_values={"survey": SURVEYS},
        ),
        Entity(
            name="employees",
            schema={
                "employee_id": pl.String(),
                "hired_on": pl.Date(),
                "terminated_on": pl.Date(),
                "department": pl.String(),
                "termination_type": pl.String(),
            },
            key="employee_id",
            date_column=None,
            nullable=frozenset({"terminated_on", "termination_type"}),
            allowed_values={"termination_type": TERMINATION_TYPES},
        ),
    )
}
