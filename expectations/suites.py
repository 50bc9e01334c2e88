"""The data-quality suites, as code: one per canonical entity and one per output table.

A suite is a list of Great Expectations (1.x) expectations. Column-value expectations are row-level
rules: on an entity, the rows that break one are quarantined; any other failure gates the whole
partition. The partition's days are a suite parameter. (The minimum rows per day, a table-level rule
that must hold day by day in a run over a range, is counted in `quality.py`.)
"""

from __future__ import annotations

from typing import Any

from assets.kpis.definitions import KPI_LIST
from kpi.entities import ENTITIES, SURVEY_SCORE_RANGES

# Amounts beyond this are not money but a broken export (or an infinity).
AMOUNT_LIMIT = 1e12
GRAINS = ["day", "month", "quarter", "year"]
STATUSES = ["achieved", "on_track", "at_risk", "off_track", "missed", "unknown"]


def _expectations():
    import great_expectations as gx

    return gx.expectations


def entity_suite(entity_name: str, extra: list[dict[str, Any]] | None = None) -> list:
    """The rules every row of an entity must keep, plus a source's own (`quality.expectations`)."""
    expectations = _expectations()
    entity = ENTITIES[entity_name]
    suite = [expectations.ExpectColumnValuesToNotBeNull(column=column) for column in entity.required_columns]
    # Keys unique within the source's extract: counted over every day of it, in quality.py.
    if entity.date_column is not None:
        # The partition's days as a set: GX checks a set with one vectorized lookup, a date range
        # value by value in Python (seconds on a million rows).
        suite.append(
            expectations.ExpectColumnValuesToBeInSet(
                column=entity.date_column, value_set={"$PARAMETER": "partition_days"}
            )
        )
    for column, allowed in entity.allowed_values.items():
        suite.append(expectations.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(allowed)))
    if "amount" in entity.schema:
        lowest = 0 if entity_name == "expenses" else -AMOUNT_LIMIT  # a cost is positive
        suite.append(
            expectations.ExpectColumnValuesToBeBetween(
                column="amount", min_value=lowest, max_value=AMOUNT_LIMIT
            )
        )
    if entity_name == "survey_responses":
        for survey, (lowest, highest) in SURVEY_SCORE_RANGES.items():
            suite.append(_between_where("score", lowest, highest, "survey", survey))
    if entity_name == "customers":
        suite.append(_ends_after_start("churned_on", "signed_up_on"))
    if entity_name == "employees":
        suite.append(_ends_after_start("terminated_on", "hired_on"))
    suite.extend(build_expectation(spec) for spec in extra or [])
    return suite


def _between_where(column: str, lowest: float | None, highest: float | None, key: str, value: str):
    """`column` within [lowest, highest] on the rows whose `key` is `value`."""
    return _expectations().ExpectColumnValuesToBeBetween(
        column=column,
        min_value=lowest,
        max_value=highest,
        row_condition=f'{key}=="{value}"',
        condition_parser="pandas",
    )


def _ends_after_start(end_column: str, start_column: str):
    return _expectations().ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=end_column, column_B=start_column, or_equal=True, ignore_row_if="either_value_is_missing"
    )


def kpi_values_suite() -> list:
    """kpi_values before they are published: keys present, and bounded KPIs within their bounds."""
    expectations = _expectations()
    suite = [
        expectations.ExpectColumnValuesToNotBeNull(column=column)
        for column in ("kpi_id", "grain", "period_start")
    ]
    suite.append(expectations.ExpectColumnValuesToBeInSet(column="grain", value_set=GRAINS))
    for kpi in KPI_LIST:
        if kpi.bounds is None:
            continue
        lowest, highest = kpi.bounds
        suite.append(_between_where("value", lowest, highest, "kpi_id", kpi.kpi_id))
    return suite


def key_results_suite() -> list:
    """key_results before they are published: progress within [0, 1], a known status."""
    expectations = _expectations()
    return [
        expectations.ExpectColumnValuesToNotBeNull(column="key_result_id"),
        expectations.ExpectColumnValuesToBeBetween(column="progress", min_value=0, max_value=1),
        expectations.ExpectColumnValuesToBeBetween(column="expected_progress", min_value=0, max_value=1),
        expectations.ExpectColumnValuesToBeInSet(column="status", value_set=STATUSES),
    ]


def build_expectation(spec: dict[str, Any]):
    """An expectation from config: {type: expect_column_values_to_be_between, column: amount, ...}."""
    spec = dict(spec)
    name = spec.pop("type")
    class_name = "".join(part.capitalize() for part in name.split("_"))
    expectation_class = getattr(_expectations(), class_name, None)
    if expectation_class is None:
        raise ValueError(
            f"unknown expectation type {name!r}; expected a Great Expectations name like expect_column_values_to_be_between"
        )
    return expectation_class(**spec)
