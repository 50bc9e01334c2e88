"""Pure Polars: a validated extract split into the rows that go on and the rows quarantined.

A row that breaks a row-level rule (a null key, a duplicate key, a date outside the partition, a value
outside its set or range, a value of the wrong type) is quarantined with the rules it broke and its
values. The partition goes on when the quarantined share is at most the threshold; a table-level
failure (too few rows) stops it whatever the share.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from expectations.runner import SuiteOutcome

QUARANTINE_SCHEMA = {"rule": pl.String(), "raw_row": pl.String()}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    kept: pl.DataFrame
    quarantined: pl.DataFrame
    """rule (every rule the row broke, `; `-separated) and raw_row (its values as JSON)."""
    rows_in: int
    table_failures: list[str]
    threshold: float
    outcome: SuiteOutcome

    @property
    def share(self) -> float:
        return self.quarantined.height / self.rows_in if self.rows_in else 0.0

    def observed(self) -> str:
        text = f"{self.quarantined.height} of {self.rows_in} rows quarantined ({self.share:.3%}, threshold {self.threshold:.3%})"
        if self.table_failures:
            text += "; " + "; ".join(self.table_failures)
        return text


def row_json(rows: pl.DataFrame) -> pl.Series:
    """Each row's values as a JSON object, dates as ISO text."""
    return rows.select(
        pl.struct([pl.col(name).cast(pl.String()) for name in rows.columns])
        .struct.json_encode()
        .alias("raw_row")
    )["raw_row"]


def gate_rows(
    rows: pl.DataFrame, rejects: pl.DataFrame, outcome: SuiteOutcome, threshold: float
) -> GateResult:
    """Split `rows` (validated as `outcome`) and `rejects` (rows that did not even take their types)."""
    broken: dict[int, list[str]] = {}
    table_failures = []
    for expectation in outcome.failed:
        if expectation.failing_rows:
            for index in expectation.failing_rows:
                broken.setdefault(index, []).append(expectation.expectation)
        else:
            table_failures.append(f"{expectation.expectation}: observed {expectation.observed}")
    indices = sorted(broken)
    bad = rows[indices] if indices else rows.clear()
    quarantined = pl.concat(
        [
            rejects.select("rule", "raw_row"),
            pl.DataFrame(
                {"rule": ["; ".join(broken[index]) for index in indices], "raw_row": row_json(bad)},
                schema=QUARANTINE_SCHEMA,
            ),
        ]
    )
    kept = rows.with_row_index("_position").filter(~pl.col("_position").is_in(indices)).drop("_position")
    rows_in = rows.height + rejects.height
    share = quarantined.height / rows_in if rows_in else 0.0
    return GateResult(
        passed=not table_failures and share <= threshold,
        kept=kept,
        quarantined=quarantined,
        rows_in=rows_in,
        table_failures=table_failures,
        threshold=threshold,
        outcome=outcome,
    )
