"""Pure Polars: a validated extract split into the rows that go on and the rows quarantined.

A row that breaks a row-level rule (a null key, a duplicate key, a date outside the partition, a value
outside its set or range, a value of the wrong type) is quarantined with the rules it broke and its
values. The partition goes on when the quarantined share is at most the threshold; a table-level
failure (too few rows) stops it whatever the share.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from expectations.runner import SuiteOutcome
from kpi.schema import TEXT

QUARANTINE_SCHEMA = {"rule": pl.String(), "raw_row": pl.String(), "day": pl.Date()}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    kept: pl.DataFrame
    quarantined: pl.DataFrame
    """rule (every rule the row broke, `; `-separated), raw_row (its values as JSON), day (if it has one):
    the partition's quarantined rows and the source's rows of no day."""
    rows_in: int
    """The partition's rows: kept, and quarantined with a day (rows of no day are not the partition's)."""
    table_failures: list[str]
    threshold: float
    outcome: SuiteOutcome
    undated: int = 0
    """Rows of the source that belong to no day (unreadable or future date, unparseable record)."""

    @property
    def share(self) -> float:
        """The partition's quarantined share (rows of no day excluded)."""
        return (self.quarantined.height - self.undated) / self.rows_in if self.rows_in else 0.0

    def failure_details(self) -> str:
        """Why the partition failed: the share, the rules broken with their counts, example rows."""
        details = self.observed()
        if self.quarantined.height:
            counts = self.quarantined.group_by("rule", maintain_order=True).len()
            details += "; rules broken: " + ", ".join(
                f"{rule} x{count}" for rule, count in counts.iter_rows()
            )
            if any(rule.startswith("type:") for rule in counts["rule"]):
                details += (
                    " (type:<column>: a value that does not read as the column's type without loss; text dates"
                    " must be ISO or match the source's date_format; a text number like 1.000 or 113.328 is"
                    ' refused until the source declares its decimal_separator: "." for US-style amounts with'
                    ' three decimals, "," with thousands_separator "." for 1.234,56)'
                )
            if any(rule.startswith("too_long:") for rule in counts["rule"]):
                details += f" (too_long:<column>: a text over the warehouse's {TEXT.length} characters, kept whole in quarantine)"
            if any(rule.startswith("nul_character:") for rule in counts["rule"]):
                details += (
                    " (nul_character:<column>: a text holding a NUL character, which PostgreSQL cannot store)"
                )
            if any(rule.startswith("null_marker:") for rule in counts["rule"]):
                details += " (null_marker:<column>: a value like NULL or N/A; list the source's null markers in its null_values)"
            details += "; e.g. rows: " + " | ".join(self.quarantined["raw_row"].head(3))
        return details

    def observed(self) -> str:
        text = (
            f"{self.quarantined.height - self.undated} of {self.rows_in} rows quarantined "
            f"({self.share:.3%}, threshold {self.threshold:.3%})"
        )
        if self.undated:
            text += (
                f"; {self.undated} row(s) of the source belong to no day (quarantined once, partition null)"
            )
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


def days_below_minimum(rows: pl.DataFrame, date_column: str, minimums: dict[date, int]) -> list[str]:
    """One failure per day with fewer rows than its minimum (`quality.min_rows_per_day`)."""
    counts = dict(rows.group_by(date_column).len().iter_rows())
    return [
        f"min_rows_per_day({day}): observed {counts.get(day, 0)} rows, expected at least {minimum}"
        for day, minimum in sorted(minimums.items())
        if counts.get(day, 0) < minimum
    ]


def gate_rows(
    rows: pl.DataFrame,
    rejects: pl.DataFrame,
    outcome: SuiteOutcome,
    threshold: float,
    table_failures: list[str] | None = None,
    date_column: str | None = None,
    duplicate_keys: tuple[str, pl.Series] | None = None,
) -> GateResult:
    """Split `rows` (validated as `outcome`) and `rejects` (rule, raw_row, day: rows that did not even
    take their types; a null day on a dated entity means the row belongs to no day) into kept and
    quarantined rows. `table_failures` are failures of the whole partition found outside the suite;
    `duplicate_keys` (key column, keys the source delivered twice) quarantine the rows holding them and
    fail the partition. Quarantined rows keep their day (`date_column`) where it could be read, so a
    later run of that day replaces them; rows of no day are not counted against the partition."""
    broken: dict[int, list[str]] = {}
    table_failures = list(table_failures or [])
    for expectation in outcome.failed:
        if expectation.failing_rows:
            for index in expectation.failing_rows:
                broken.setdefault(index, []).append(expectation.expectation)
        else:
            table_failures.append(f"{expectation.expectation}: observed {expectation.observed}")
    if duplicate_keys is not None and not duplicate_keys[1].is_empty():
        key, keys = duplicate_keys
        holding = rows.with_row_index("_position").filter(pl.col(key).is_in(keys.implode()))["_position"]
        for index in holding:
            broken.setdefault(index, []).append(f"duplicate_key:{key}")
        table_failures.append(
            f"duplicate keys: the source delivered {keys.len()} {key} value(s) more than once, e.g. "
            + ", ".join(keys.head(5).to_list())
        )
    indices = sorted(broken)
    bad = rows[indices] if indices else rows.clear()
    undated = rejects.filter(pl.col("day").is_null()) if date_column else rejects.clear()
    quarantined = pl.concat(
        [
            rejects.select("rule", "raw_row", "day"),
            pl.DataFrame(
                {
                    "rule": ["; ".join(broken[index]) for index in indices],
                    "raw_row": row_json(bad),
                    "day": bad[date_column] if date_column else [None] * len(indices),
                },
                schema=QUARANTINE_SCHEMA,
            ),
        ]
    )
    kept = rows.with_row_index("_position").filter(~pl.col("_position").is_in(indices)).drop("_position")
    rows_in = rows.height + rejects.height - undated.height
    share = (quarantined.height - undated.height) / rows_in if rows_in else 0.0
    return GateResult(
        passed=not table_failures and share <= threshold,
        kept=kept,
        quarantined=quarantined,
        rows_in=rows_in,
        table_failures=table_failures,
        threshold=threshold,
        outcome=outcome,
        undated=undated.height,
    )
