"""Asset checks from suite outcomes: the check specs the assets declare, their results with metadata,
and the dq_results rows every check run leaves in the warehouse (passed or not)."""

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from kpi.warehouse import Warehouse, dq_results

EXAMPLE_ROWS = 3


def blocking_check(
    asset_key: dg.AssetKey, name: str, description: str, partitions: dg.PartitionsDefinition | None
) -> dg.AssetCheckSpec:
    """A check that stops publication: its asset is not loaded and downstream assets do not run."""
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
    name: str, passed: bool, metadata: dict[str, object], description: str | None = None
) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=description,
    )
