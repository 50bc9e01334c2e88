"""Entities: what every connector's output is mapped to. The canonical five of DESIGN.md, and those a
config declares (dimension columns added to a built-in, new dated or span entities, entities derived
from another one).

No I/O here: `declared_entities` turns the config's `entities:` section (already parsed by pydantic in
`kpi/catalog.py`) into `Entity` objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import polars as pl

ColumnType = Literal["str", "date", "int", "float", "bool"]
COLUMN_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "date": pl.Date(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
}
BUILT_IN = "built-in"


@dataclass(frozen=True)
class Derivation:
    """How a span entity is derived from a dated one instead of being extracted: customers from revenue
    transactions, each customer_id signed up on its first purchase and churned `churn_after_days` after
    its last one (churned_on = last purchase + churn_after_days + 1 day, once that day is loaded)."""

    from_entity: str
    churn_after_days: int


@dataclass(frozen=True)
class Entity:
    """An entity: its columns with their types, its key, and whether it is dated or a span.

    A dated entity (revenue, expenses, survey responses, a declared `date:` entity) is extracted one
    daily partition at a time through its date column. A span entity (customers, employees, a declared
    `span:` entity) is a snapshot of the source system's current state, replaced whole on every run:
    a row is active on day d when its start <= d and (its end is null or its end > d).
    """

    name: str
    schema: dict[str, pl.DataType]
    key: str
    date_column: str | None
    nullable: frozenset[str]
    allowed_values: dict[str, frozenset[str]] = field(default_factory=dict)
    span: tuple[str, str] | None = None
    """(start column, end column) of a span entity; None for a dated one."""
    dimensions: tuple[str, ...] = ()
    """Columns a config added to a built-in entity (all of a declared entity's columns are its own)."""
    declared_in: str = BUILT_IN
    derivation: Derivation | None = None

    @property
    def is_dated(self) -> bool:
        return self.date_column is not None

    @property
    def is_derived(self) -> bool:
        return self.derivation is not None

    @property
    def is_built_in(self) -> bool:
        return self.name in BUILT_IN_ENTITIES

    @property
    def required_columns(self) -> list[str]:
        return [column for column in self.schema if column not in self.nullable]

    def empty_frame(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


EXPENSE_CATEGORIES = frozenset({"cogs", "operating", "interest", "tax", "other"})
SURVEYS = frozenset({"csat", "nps"})
TERMINATION_TYPES = frozenset({"voluntary", "involuntary"})
SURVEY_SCORE_RANGES = {"csat": (1, 5), "nps": (0, 10)}

BUILT_IN_ENTITIES: dict[str, Entity] = {
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
            span=("signed_up_on", "churned_on"),
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
            span=("hired_on", "terminated_on"),
        ),
    )
}
# The canonical five, by name (the warehouse's release tables, the docs).
ENTITIES = BUILT_IN_ENTITIES


def with_dimensions(entity: Entity, dimensions: dict[str, str], declared_in: str) -> Entity:
    """A built-in entity with dimension columns added (nullable; types from COLUMN_TYPES)."""
    return replace(
        entity,
        schema={**entity.schema, **{name: COLUMN_TYPES[kind] for name, kind in dimensions.items()}},
        nullable=entity.nullable | frozenset(dimensions),
        dimensions=tuple(dimensions),
        declared_in=declared_in,
    )


def derived(entity: Entity, derivation: Derivation, declared_in: str) -> Entity:
    """A built-in span entity derived from a dated one instead of extracted."""
    return replace(entity, derivation=derivation, declared_in=declared_in)


def new_entity(
    name: str,
    key: str,
    columns: dict[str, str],
    declared_in: str,
    date_column: str | None = None,
    span: tuple[str, str] | None = None,
) -> Entity:
    """A declared entity: the key, the date (or the span's start) required, every other column nullable."""
    required = {key, date_column or (span[0] if span else key)}
    return Entity(
        name=name,
        schema={column: COLUMN_TYPES[kind] for column, kind in columns.items()},
        key=key,
        date_column=date_column,
        nullable=frozenset(columns) - required,
        span=span,
        declared_in=declared_in,
    )
