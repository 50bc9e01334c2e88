"""Asset checks from suite outcomes: the check specs the assets declare, their results with metadata,
and the dq_results rows every check run leaves in the warehouse (passed or not)."""

import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl

from kpi.warehouse import Warehouse, dq_results

EXAMPLE_ROWS = 3


def blocking_check(
    asset_key: dg.AssetKey, name: str, description: str, partitions: dg.PartitionsDefinition | None
) -> dg.AssetCheckSpec:
    """A check that stops publication: its asset is not loaded and downstream assets do not run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a partitions_def on a check is "preview" in Dagster 1.13
        return dg.AssetCheckSpec(
            name, asset=asset_key, blocking=True, description=description, partitions_def=partitions
        )


def record_check(
    warehouse: Warehouse,
    check: str,
    asset_key: dg.AssetKey,
    partition: str | None,
    passed: bool,
    observed: str,
    run_id: str,
) -> None:
    """Append one dq_results row, in its own transaction: a failed check is recorded too."""
    with warehouse.transaction() as connection:
        warehouse.insert(
            connection,
            dq_results,
            pl.DataFrame(
                {
                    "check": [check],
                    "asset": [asset_key.to_user_string()],
                    "partition": [partition],
                    "passed": [passed],
                    "observed": [observed[:4000]],
                    "run_id": [run_id],
                    "checked_at": [datetime.now(UTC)],
                },
                schema_overrides={"partition": pl.String()},
            ),
        )


def failure_message(check: str, asset_key: dg.AssetKey, partition: str | None, details: str) -> str:
    where = f" partition {partition}" if partition else ""
    return f"check {check!r} on {asset_key.to_user_string()}{where} failed: {details}"


def examples(rows: pl.DataFrame) -> str:
    """A few rows as text for a failure message."""
    return "; ".join(str(row) for row in rows.head(EXAMPLE_ROWS).iter_rows(named=True))


def check_result(
    name: str, passed: bool, metadata: Mapping[str, Any], description: str | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=description,
    )


def validate_output(
    warehouse: Warehouse,
    asset_key: dg.AssetKey,
    check: str,
    partition: str | None,
    run_id: str,
    frame: pl.DataFrame,
    suite: list,
) -> tuple[dg.AssetCheckResult, str | None]:
    """Validate rows about to be published; record the run in dq_results. Returns the check's result
    and, when it failed, the message the run must fail with (the rows are then not published)."""
    from expectations.runner import validate

    outcome = validate(frame, check, suite)
    failed_rows = sorted({index for failed in outcome.failed for index in failed.failing_rows})
    observed = (
        f"{len(outcome.failed)} of {len(outcome.expectations)} expectations failed over {frame.height} rows"
    )
    if outcome.failed:
        observed += ": " + outcome.describe_failures()
    record_check(warehouse, check, asset_key, partition, outcome.success, observed, run_id)
    result = check_result(
        check,
        outcome.success,
        {
            "rows": frame.height,
            "failed_expectations": dg.MetadataValue.md(
                "\n".join(f"- {failed.expectation}: {failed.observed}" for failed in outcome.failed) or "none"
            ),
        },
        observed,
    )
    if outcome.success:
        return result, None
    details = outcome.describe_failures()
    if failed_rows:
        details += f"; rows, e.g. {examples(frame[failed_rows])}"
    return result, failure_message(check, asset_key, partition, details)
