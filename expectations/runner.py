"""Validates a Polars frame against a suite with Great Expectations, on one ephemeral context.

GX has no Polars or DuckDB engine: the frame goes through `to_pandas()`. The outcome lists each
expectation with what it observed and, for row-level ones, the positions of the rows that broke it.
"""

from __future__ import annotations

import logging
import os
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


def _label(config: Any) -> str:
    kwargs = config.kwargs
    parts = [str(kwargs[key]) for key in ("column", "column_A", "column_B") if kwargs.get(key)]
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict):
        condition = condition.get("pass_through_filter") or condition
    if condition:
        parts.append(f"where {condition}")
    return f"{config.type}({', '.join(parts)})"


def _validation_definition(context: Any, suite_name: str, expectations: list) -> Any:
    import great_expectations as gx

    signature = repr([expectation.configuration.to_json_dict() for expectation in expectations])
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
            name=suite_name, expectations=[expectation.copy() for expectation in expectations]
        )
    )
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(data=batch, suite=suite, name=f"{suite_name}_validation")
    )
    _definitions[suite_name] = (signature, definition)
    return definition


def validate(
    frame: pl.DataFrame, suite_name: str, expectations: list, parameters: dict[str, Any] | None = None
) -> SuiteOutcome:
    """Run `expectations` over `frame`; never raises on a failed expectation, only reports it."""
    with _lock:
        context = _gx_context()
        definition = _validation_definition(context, suite_name, expectations)
        result = definition.run(
            batch_parameters={"dataframe": _for_pandas(frame)},
            expectation_parameters={name: _parameter(value) for name, value in (parameters or {}).items()},
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": _EXAMPLES},
        )
    outcomes = []
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
        outcomes.append(
            ExpectationOutcome(
                expectation=_label(item.expectation_config),
                success=bool(item.success),
                observed=observed,
                failing_rows=[int(index) for index in details.get("unexpected_index_list") or []],
                examples=list(details.get("partial_unexpected_list") or [])[:_EXAMPLES],
            )
        )
    return SuiteOutcome(suite=suite_name, rows=frame.height, expectations=outcomes)
