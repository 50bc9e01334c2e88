"""The OKR scorecard for the terminal: each key result's actual, target, progress and status."""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa
from rich.table import Table
from rich.text import Text

from kpi.warehouse import Warehouse, key_result_definitions, key_results, kpi_definitions, objectives

STATUS_STYLES = {
    "achieved": "bold green",
    "on_track": "green",
    "at_risk": "yellow",
    "off_track": "red",
    "missed": "bold red",
    "unknown": "dim",
}
BAR_WIDTH = 20


def scorecard_rows(warehouse: Warehouse, as_of: date | None = None) -> pl.DataFrame:
    """Each key result as of `as_of`, or at its latest as-of date (the okr_scorecard view's rows)."""
    latest = (
        sa.select(sa.func.max(key_results.c.as_of))
        .where(key_results.c.key_result_id == sa.literal_column("r.key_result_id"))
        .scalar_subquery()
    )
    r = key_results.alias("r")
    statement = (
        sa.select(
            objectives.c.title.label("objective"),
            objectives.c.owner,
            key_result_definitions.c.description,
            kpi_definitions.c.unit,
            r.c.key_result_id,
            r.c.kpi_id,
            r.c.as_of,
            r.c.actual,
            r.c.baseline,
            r.c.target,
            r.c.progress,
            r.c.expected_progress,
            r.c.status,
        )
        .join_from(r, objectives, objectives.c.objective_id == r.c.objective_id)
        .join(key_result_definitions, key_result_definitions.c.key_result_id == r.c.key_result_id)
        .join(kpi_definitions, kpi_definitions.c.kpi_id == r.c.kpi_id)
        .where(r.c.as_of == (as_of if as_of is not None else latest))
        .order_by(objectives.c.objective_id, r.c.key_result_id)
    )
    return warehouse.read(
        statement,
        {
            "objective": pl.String(),
            "owner": pl.String(),
            "description": pl.String(),
            "unit": pl.String(),
            "key_result_id": pl.String(),
            "kpi_id": pl.String(),
            "as_of": pl.Date(),
            "actual": pl.Float64(),
            "baseline": pl.Float64(),
            "target": pl.Float64(),
            "progress": pl.Float64(),
            "expected_progress": pl.Float64(),
            "status": pl.String(),
        },
    )


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit in ("percent", "score"):
        return f"{value:.1f}"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def progress_bar(progress: float | None, expected: float | None) -> Text:
    """A bar of the progress, with a tick where the progress is expected to be by now."""
    if progress is None:
        return Text("-" * BAR_WIDTH, style="dim")
    filled = round(progress * BAR_WIDTH)
    tick = min(BAR_WIDTH - 1, round((expected or 0) * BAR_WIDTH))
    cells = ["█" if index < filled else ("│" if index == tick else "░") for index in range(BAR_WIDTH)]
    return Text("".join(cells)) + Text(f" {progress:4.0%}")


def scorecard_table(rows: pl.DataFrame) -> Table:
    as_of_dates = sorted(set(rows["as_of"].to_list()))
    title = "OKR scorecard" + (f" as of {as_of_dates[-1]}" if len(as_of_dates) == 1 else "")
    table = Table(title=title, title_justify="left")
    for header in ("objective", "key result", "actual", "target", "progress (│ = expected)", "status"):
        table.add_column(header, justify="right" if header in ("actual", "target") else "left")
    previous_objective = None
    for row in rows.iter_rows(named=True):
        objective = row["objective"] if row["objective"] != previous_objective else ""
        previous_objective = row["objective"]
        table.add_row(
            f"{objective}\n[dim]{row['owner']}[/dim]" if objective else "",
            row["description"],
            format_value(row["actual"], row["unit"]),
            format_value(row["target"], row["unit"]),
            progress_bar(row["progress"], row["expected_progress"]),
            Text(row["status"].replace("_", " "), style=STATUS_STYLES.get(row["status"], "")),
        )
    return table
