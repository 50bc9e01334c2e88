"""The data-quality suites, as code: one per entity (built-in or declared) and one per output table.

A suite is a list of expectations in Great Expectations' (1.x) vocabulary, as specs (type and
arguments): `expectations/runner.py` evaluates the core ones in Polars and the others through GX. Column-value expectations are row-level
rules: on an entity, the rows that break one are quarantined; any other failure gates the whole
partition. The partition's days are a suite parameter. (The minimum rows per day, a table-level rule
that must hold day by day in a run over a range, is counted in `quality.py`.)
"""

from __future__ import annotations

from typing import Any

from kpi.catalog import Catalog
from kpi.entities import SURVEY_SCORE_RANGES, Entity
from kpi.periods import GRAINS

# Amounts beyond this are not money but a broken export (or an infinity).
AMOUNT_LIMIT = 1e12
STATUSES = ["achieved", "on_track", "at_risk", "off_track", "missed", "unknown"]


Expectation = dict[str, Any]
"""One expectation in Great Expectations' vocabulary: {"type": "expect_...", **its arguments}."""


def _expect(kind: str, **arguments: Any) -> Expectation:
    return {"type": kind, **arguments}


def entity_suite(entity: Entity, extra: list[dict[str, Any]] | None = None) -> list[Expectation]:
    """The rules every row of an entity must keep, plus a source's own (`quality.expectations`):
    its required columns (a declared entity's key and date or span start) not null, its rows within
    the partition's days, allowed values, a span's end on or after its start. Types are enforced
    before (a value that does not take its declared type is quarantined by the mapping); keys
    unique within a source are counted over the whole extract (quality.py)."""
    entity_name = entity.name
    suite = [
        _expect("expect_column_values_to_not_be_null", column=column) for column in entity.required_columns
    ]
    # Keys unique within the source's extract: counted over every day of it, in quality.py.
    if entity.date_column is not None:
        # The partition's days as a set: one vectorized lookup, where a date range would be checked
        # value by value.
        suite.append(
            _expect(
                "expect_column_values_to_be_in_set",
                column=entity.date_column,
                value_set={"$PARAMETER": "partition_days"},
            )
        )
    for column, allowed in entity.allowed_values.items():
        suite.append(_expect("expect_column_values_to_be_in_set", column=column, value_set=sorted(allowed)))
    if "amount" in entity.schema and entity.is_built_in:
        lowest = 0 if entity_name == "expenses" else -AMOUNT_LIMIT  # a cost is positive
        suite.append(
            _expect(
                "expect_column_values_to_be_between",
                column="amount",
                min_value=lowest,
                max_value=AMOUNT_LIMIT,
            )
        )
    if entity_name == "survey_responses":
        for survey, (lowest, highest) in SURVEY_SCORE_RANGES.items():
            suite.append(_between_where("score", lowest, highest, "survey", survey))
    if entity.span is not None:
        start, end = entity.span
        suite.append(_ends_after_start(end, start))
    suite.extend(dict(spec) for spec in extra or [])
    return suite


def _between_where(
    column: str, lowest: float | None, highest: float | None, key: str, value: str
) -> Expectation:
    """`column` within [lowest, highest] on the rows whose `key` is `value`."""
    return _expect(
        "expect_column_values_to_be_between",
        column=column,
        min_value=lowest,
        max_value=highest,
        row_condition=f'{key}=="{value}"',
        condition_parser="pandas",
    )


def _ends_after_start(end_column: str, start_column: str) -> Expectation:
    return _expect(
        "expect_column_pair_values_a_to_be_greater_than_b",
        column_A=end_column,
        column_B=start_column,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
    )


def kpi_values_suite(catalog: Catalog) -> list[Expectation]:
    """kpi_values before they are published: keys present, and bounded KPIs (the catalog's `bounds`)
    within their bounds."""
    suite = [
        _expect("expect_column_values_to_not_be_null", column=column)
        for column in ("kpi_id", "grain", "period_start", "dimension", "dimension_value")
    ]
    suite.append(_expect("expect_column_values_to_be_in_set", column="grain", value_set=list(GRAINS)))
    for kpi in catalog.kpis.values():
        if kpi.bounds is None:
            continue
        lowest, highest = kpi.bounds
        suite.append(_between_where("value", lowest, highest, "kpi_id", kpi.kpi_id))
    return suite


def key_results_suite() -> list[Expectation]:
    """key_results before they are published: progress within [0, 1], a known status."""
    return [
        _expect("expect_column_values_to_not_be_null", column="key_result_id"),
        _expect("expect_column_values_to_be_between", column="progress", min_value=0, max_value=1),
        _expect("expect_column_values_to_be_between", column="expected_progress", min_value=0, max_value=1),
        _expect("expect_column_values_to_be_in_set", column="status", value_set=STATUSES),
    ]


def objective_progress_suite() -> list[Expectation]:
    """objective_progress before it is published: progress within [0, 1], a known status."""
    return [
        _expect("expect_column_values_to_not_be_null", column="objective_id"),
        _expect("expect_column_values_to_be_between", column="progress", min_value=0, max_value=1),
        _expect("expect_column_values_to_be_between", column="expected_progress", min_value=0, max_value=1),
        _expect("expect_column_values_to_be_in_set", column="status", value_set=STATUSES),
    ]


def build_expectation(spec: dict[str, Any]):
    """A Great Expectations expectation from a spec: {type: expect_column_values_to_be_between,
    column: amount, ...}. Imports GX (seconds): only for validation through GX and for checking a
    config's own expectations."""
    import great_expectations as gx

    spec = dict(spec)
    name = spec.pop("type")
    class_name = "".join(part.capitalize() for part in name.split("_"))
    expectation_class = getattr(gx.expectations, class_name, None)
    if expectation_class is None:
        raise ValueError(
            f"unknown expectation type {name!r}; expected a Great Expectations name like expect_column_values_to_be_between"
        )
    return expectation_class(**spec)
