"""Validates a Polars frame against a suite of expectations in Great Expectations' vocabulary.

The core expectations of the built-in suites (values not null, in a set, between bounds (on the rows
of a `column=="value"` condition), one column's values at least another's) are evaluated in Polars,
with Great Expectations' semantics (nulls and NaN ignored by value rules, counted by not-null; bounds
inclusive) and its outcome (unexpected of element count, positions, examples): importing GX costs
seconds, and a nightly run of a small day must not pay them. Any other expectation (a source's own
`quality.expectations`) runs through GX, on one ephemeral context; GX has no Polars or DuckDB engine,
so the frame goes through `to_pandas()`. tests/unit/test_expectations_runner.py checks that both
engines agree, expectation by expectation, on generated frames.

The outcome lists each expectation with what it observed and, for row-level ones, the positions of
the rows that broke it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl

_lock = threading.Lock()
_context: Any = None
# Suite name -> (the suite's expectations as text, its validation definition): adding a suite to the
# context costs more than validating a small frame, so it is done once per suite and process.
_definitions: dict[str, tuple[str, Any]] = {}
_EXAMPLES = 5
DATA_SOURCE = "kpi_pipeline"
POSITION = "kpi_position"


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    """e.g. expect_column_values_to_be_between(score, survey=="nps")"""
    success: bool
    observed: str
    """What GX observed: the count of unexpected values, or the observed value of a table expectation."""
    failing_rows: list[int] = field(default_factory=list)
    """Positions (0-based) in the validated frame of the rows that broke a row-level expectation."""
    examples: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SuiteOutcome:
    suite: str
    rows: int
    expectations: list[ExpectationOutcome]

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.expectations)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.expectations if not outcome.success]

    def describe_failures(self) -> str:
        return "; ".join(
            f"{outcome.expectation}: observed {outcome.observed}"
            + (f", e.g. {outcome.examples[:_EXAMPLES]}" if outcome.examples else "")
            for outcome in self.failed
        )


def _gx_context() -> Any:
    """One ephemeral GX context per process, quiet: no progress bars, no usage statistics."""
    global _context
    if _context is None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.data_sources.add_pandas(DATA_SOURCE)
        _context = context
    return _context


def _parameter(value: Any) -> Any:
    """Suite parameters compare with the validated values: dates as ISO text, like the frame's dates."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_parameter(item) for item in value]
    return value


def _for_pandas(frame: pl.DataFrame) -> Any:
    """The frame as pandas, dates as ISO text: GX compares those vectorized, and in order."""
    return frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d")).to_pandas()


def _label(kind: str, kwargs: dict[str, Any]) -> str:
    parts = [str(kwargs[key]) for key in ("column", "column_A", "column_B") if kwargs.get(key)]
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        condition = condition.get("pass_through_filter") or condition
    if condition:
        parts.append(f"where {condition}")
    return f"{kind}({', '.join(parts)})"


# ----------------------------------------------------------------------------------------------------
# The core expectations in Polars.

NATIVE = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
    "expect_column_pair_values_a_to_be_greater_than_b",
}
# The arguments the native engine reads (any other, e.g. `mostly`, sends the expectation to GX).
_NATIVE_ARGUMENTS = {
    "column",
    "value_set",
    "min_value",
    "max_value",
    "row_condition",
    "condition_parser",
    "column_A",
    "column_B",
    "or_equal",
    "ignore_row_if",
}
_EQUALS_CONDITION = re.compile(r'^(\w+)=="([^"]*)"$')


def _missing(frame: pl.DataFrame, column: str) -> pl.Expr:
    """Null, or NaN (pandas, hence GX, reads both as missing)."""
    missing = pl.col(column).is_null()
    if frame.schema[column].is_float():
        missing = missing | pl.col(column).is_nan()
    return missing


def _resolve(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return parameters[value["$PARAMETER"]]
    return value


def _native_outcome(
    frame: pl.DataFrame, spec: dict[str, Any], parameters: dict[str, Any]
) -> ExpectationOutcome | None:
    """The outcome of one core expectation over `frame`, as GX would report it; None when the spec is
    not one the native engine evaluates (then GX does)."""
    try:
        return _native(frame, spec, parameters)
    except pl.exceptions.PolarsError:  # values Polars will not compare as given: GX says what it does
        return None


def _same_kind(dtype: pl.DataType, values: list[Any]) -> bool:
    """Whether `values` compare with a column of `dtype` as GX compares them (otherwise GX decides)."""
    if dtype == pl.String():
        return all(isinstance(value, str) for value in values)
    if dtype == pl.Date():
        return all(isinstance(value, date) and not isinstance(value, datetime) for value in values)
    if dtype.is_numeric():
        return all(isinstance(value, int | float) and not isinstance(value, bool) for value in values)
    return False


def _native(
    frame: pl.DataFrame, spec: dict[str, Any], parameters: dict[str, Any]
) -> ExpectationOutcome | None:
    kind = spec["type"]
    kwargs = {key: value for key, value in spec.items() if key != "type"}
    if kind not in NATIVE or set(kwargs) - _NATIVE_ARGUMENTS:
        return None
    if kwargs.get("condition_parser", "pandas") != "pandas":
        return None
    columns = [kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs]
    if any(column not in frame.columns for column in columns):
        return None  # GX says how a missing column fails
    considered = pl.lit(True)
    condition = kwargs.get("row_condition")
    if condition:
        match = _EQUALS_CONDITION.match(condition) if isinstance(condition, str) else None
        if (
            match is None
            or match.group(1) not in frame.columns
            or frame.schema[match.group(1)] != pl.String()
        ):
            return None
        key, value = match.groups()
        considered = pl.col(key).cast(pl.String()) == value
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        if kwargs.get("ignore_row_if", "both_values_are_missing") != "either_value_is_missing":
            return None
        a, b = kwargs["column_A"], kwargs["column_B"]
        present = ~_missing(frame, a) & ~_missing(frame, b)
        holds = pl.col(a) >= pl.col(b) if kwargs.get("or_equal") else pl.col(a) > pl.col(b)
        unexpected = considered & present & ~holds
        example_columns = [a, b]
    else:
        column = kwargs["column"]
        missing = _missing(frame, column)
        if kind == "expect_column_values_to_not_be_null":
            unexpected = considered & missing
        elif kind == "expect_column_values_to_be_in_set":
            allowed = _resolve(kwargs["value_set"], parameters)
            if allowed is None or not _same_kind(frame.schema[column], list(allowed)):
                return None
            unexpected = considered & ~missing & ~pl.col(column).is_in(list(allowed))
        else:
            lowest, highest = (
                _resolve(kwargs.get("min_value"), parameters),
                _resolve(kwargs.get("max_value"), parameters),
            )
            bounds = [bound for bound in (lowest, highest) if bound is not None]
            if not frame.schema[column].is_numeric() or not _same_kind(frame.schema[column], bounds):
                return None
            outside = pl.lit(False)
            if lowest is not None:
                outside = outside | (pl.col(column) < lowest)
            if highest is not None:
                outside = outside | (pl.col(column) > highest)
            unexpected = considered & ~missing & outside
        example_columns = [column]
    flags = frame.select(
        unexpected.fill_null(False).alias("unexpected"), considered.fill_null(False).alias("considered")
    )
    positions = flags.with_row_index("position").filter(pl.col("unexpected"))["position"].to_list()
    element_count = int(flags["considered"].sum())
    examples = [
        _example(row if len(example_columns) > 1 else row[0])
        for row in frame[positions[:_EXAMPLES]].select(example_columns).iter_rows()
    ]
    return ExpectationOutcome(
        expectation=_label(kind, kwargs),
        success=not positions,
        observed=f"{len(positions)} unexpected of {element_count}",
        failing_rows=[int(position) for position in positions],
        examples=examples,
    )


def _example(value: Any) -> Any:
    """A value as GX reports it from the pandas frame: dates as ISO text, pairs as lists."""
    if isinstance(value, tuple):
        return [_example(item) for item in value]
    return _parameter(value)


def _validation_definition(context: Any, suite_name: str, specs: list[dict[str, Any]]) -> Any:
    import great_expectations as gx

    from expectations.suites import build_expectation

    signature = repr(specs)
    cached = _definitions.get(suite_name)
    if cached and cached[0] == signature:
        return cached[1]
    data_source = context.data_sources.get(DATA_SOURCE)
    asset_name = f"{suite_name}_frame"
    asset = next(
        (a for a in data_source.assets if a.name == asset_name), None
    ) or data_source.add_dataframe_asset(asset_name)
    batch = next((b for b in asset.batch_definitions if b.name == "whole"), None) or (
        asset.add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add_or_update(
        gx.ExpectationSuite(
            name=suite_name,
            # GX reports its results in an order of its own: each carries its position in `specs`.
            expectations=[
                build_expectation({**spec, "meta": {**spec.get("meta", {}), POSITION: index}})
                for index, spec in enumerate(specs)
            ],
        )
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=f"{suite_name}_validation")
    )
    _definitions[suite_name] = (signature, definition)
    return definition


def validate(
    frame: pl.DataFrame,
    suite_name: str,
    expectations: list[dict[str, Any]],
    parameters: dict[str, Any] | None = None,
    engine: str = "auto",
) -> SuiteOutcome:
    """Run `expectations` (specs: {"type": "expect_...", **arguments}) over `frame`; never raises on a
    failed expectation, only reports it. `engine`: "auto" (the core expectations in Polars, the others
    through GX), or "gx" (all through GX, as the reference the tests compare with)."""
    parameters = parameters or {}
    outcomes: list[ExpectationOutcome | None] = [
        _native_outcome(frame, spec, parameters) if engine == "auto" else None for spec in expectations
    ]
    through_gx = [spec for spec, outcome in zip(expectations, outcomes, strict=True) if outcome is None]
    if through_gx:
        gx_outcomes = iter(_validate_with_gx(frame, suite_name, through_gx, parameters))
        outcomes = [outcome if outcome is not None else next(gx_outcomes) for outcome in outcomes]
    return SuiteOutcome(
        suite=suite_name, rows=frame.height, expectations=[o for o in outcomes if o is not None]
    )


def _validate_with_gx(
    frame: pl.DataFrame, suite_name: str, specs: list[dict[str, Any]], parameters: dict[str, Any]
) -> list[ExpectationOutcome]:
    with _lock:
        context = _gx_context()
        definition = _validation_definition(context, suite_name, specs)
        result = definition.run(
            batch_parameters={"dataframe": _for_pandas(frame)},
            expectation_parameters={name: _parameter(value) for name, value in parameters.items()},
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": _EXAMPLES},
        )
    outcomes: list[ExpectationOutcome | None] = [None] * len(specs)
    for item in result.results:
        details = item.result or {}
        if "observed_value" in details:
            observed = str(details["observed_value"])
        elif "unexpected_count" in details:
            observed = (
                f"{details['unexpected_count']} unexpected of {details.get('element_count', frame.height)}"
            )
        else:
            observed = str(item.exception_info.get("exception_message")) if item.exception_info else "n/a"
        config = item.expectation_config
        outcomes[int(config.meta[POSITION])] = ExpectationOutcome(
            expectation=_label(config.type, config.kwargs),
            success=bool(item.success),
            observed=observed,
            failing_rows=[int(index) for index in details.get("unexpected_index_list") or []],
            examples=list(details.get("partial_unexpected_list") or [])[:_EXAMPLES],
        )
    return [outcome for outcome in outcomes if outcome is not None]
