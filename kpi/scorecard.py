"""The OKR scorecard for the terminal: each objective's progress and status, above its key results'
actual, target, progress and status; aligned objectives under their parent."""

from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa
from rich.table import Table
from rich.text import Text

from kpi.formats import format_target, format_value, key_result_notes, status_label
from kpi.schema import objective_progress
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

SCORECARD_SCHEMA: dict[str, pl.DataType] = {
    "objective_id": pl.String(),
    "objective": pl.String(),
    "owner": pl.String(),
    "parent_objective_id": pl.String(),
    "objective_progress": pl.Float64(),
    "objective_expected_progress": pl.Float64(),
    "objective_status": pl.String(),
    "description": pl.String(),
    "unit": pl.String(),
    "type": pl.String(),
    "measure": pl.String(),
    "weight": pl.Float64(),
    "key_result_id": pl.String(),
    "kpi_id": pl.String(),
    "as_of": pl.Date(),
    "actual": pl.Float64(),
    "baseline": pl.Float64(),
    "target": pl.Float64(),
    "progress": pl.Float64(),
    "expected_progress": pl.Float64(),
    "status": pl.String(),
    "window_start": pl.Date(),
    "window_end": pl.Date(),
    "days_covered": pl.Int64(),
}


def scorecard_rows(warehouse: Warehouse, as_of: date | None = None) -> pl.DataFrame:
    """Each key result as of `as_of`, or at its latest as-of date (the okr_scorecard view's rows), with
    its objective's progress that day: SCORECARD_SCHEMA, by objective and key result."""
    latest = (
        sa.select(sa.func.max(key_results.c.as_of))
        .where(key_results.c.key_result_id == sa.literal_column("r.key_result_id"))
        .scalar_subquery()
    )
    r = key_results.alias("r")
    p = objective_progress.alias("p")
    statement = (
        sa.select(
            objectives.c.objective_id,
            objectives.c.title.label("objective"),
            objectives.c.owner,
            objectives.c.parent_objective_id,
            p.c.progress.label("objective_progress"),
            p.c.expected_progress.label("objective_expected_progress"),
            p.c.status.label("objective_status"),
            key_result_definitions.c.description,
            kpi_definitions.c.unit,
            key_result_definitions.c.type,
            key_result_definitions.c.measure,
            key_result_definitions.c.weight,
            r.c.key_result_id,
            r.c.kpi_id,
            r.c.as_of,
            r.c.actual,
            r.c.baseline,
            r.c.target,
            r.c.progress,
            r.c.expected_progress,
            r.c.status,
            r.c.window_start,
            r.c.window_end,
            r.c.days_covered,
        )
        .join_from(r, objectives, objectives.c.objective_id == r.c.objective_id)
        .join(key_result_definitions, key_result_definitions.c.key_result_id == r.c.key_result_id)
        .join(kpi_definitions, kpi_definitions.c.kpi_id == r.c.kpi_id)
        .outerjoin(p, (p.c.objective_id == r.c.objective_id) & (p.c.as_of == r.c.as_of))
        .where(r.c.as_of == (as_of if as_of is not None else latest))
        .order_by(objectives.c.objective_id, r.c.key_result_id)
    )
    return warehouse.read(statement, SCORECARD_SCHEMA)


def progress_bar(progress: float | None, expected: float | None) -> Text:
    """A bar of the progress, with a tick where the progress is expected to be by now."""
    if progress is None:
        return Text("-" * BAR_WIDTH, style="dim")
    filled = round(progress * BAR_WIDTH)
    tick = min(BAR_WIDTH - 1, round((expected or 0) * BAR_WIDTH))
    cells = ["█" if index < filled else ("│" if index == tick else "░") for index in range(BAR_WIDTH)]
    return Text("".join(cells)) + Text(f" {progress:4.0%}")


def _status(status: str | None) -> Text:
    return Text(status_label(status), style=STATUS_STYLES.get(status or "", ""))


def objective_order(rows: pl.DataFrame) -> list[tuple[str, int]]:
    """(objective_id, depth) with each aligned objective right under its parent, depth 0 at the top;
    an objective whose parent has no rows (another as-of day) stands at the top."""
    objectives = rows.unique("objective_id", maintain_order=True)
    parents = dict(zip(objectives["objective_id"], objectives["parent_objective_id"], strict=True))
    children: dict[str | None, list[str]] = {}
    for objective_id, parent in parents.items():
        children.setdefault(parent if parent in parents else None, []).append(objective_id)
    order: list[tuple[str, int]] = []

    def visit(objective_id: str, depth: int) -> None:
        order.append((objective_id, depth))
        for child in children.get(objective_id, []):
            visit(child, depth + 1)

    for top in children.get(None, []):
        visit(top, 0)
    return order


def _key_result_label(row: dict) -> Text:
    label = Text(row["description"])
    notes = key_result_notes(row["type"], row["measure"], row["weight"])
    if notes:
        label.append(f"  {' · '.join(notes)}", style="dim")
    return label


def scorecard_table(rows: pl.DataFrame) -> Table:
    """The scorecard of `rows` (SCORECARD_SCHEMA): a bold line per objective with its progress and
    status (its owner, and the objective it is aligned under by indentation), then its key results."""
    as_of_dates = sorted(set(rows["as_of"].to_list()))
    title = "OKR scorecard" + (f" as of {as_of_dates[-1]}" if len(as_of_dates) == 1 else "")
    table = Table(title=title, title_justify="left")
    for header in ("objective / key result", "actual", "target", "progress (│ = expected)", "status"):
        table.add_column(header, justify="right" if header in ("actual", "target") else "left")
    for objective_id, depth in objective_order(rows):
        key_result_rows = rows.filter(pl.col("objective_id") == objective_id)
        first = key_result_rows.row(0, named=True)
        indent = "  " * depth + ("↳ " if depth else "")
        table.add_row(
            Text(indent) + Text(first["objective"], style="bold") + Text(f"  {first['owner']}", style="dim"),
            "",
            "",
            progress_bar(first["objective_progress"], first["objective_expected_progress"]),
            _status(first["objective_status"]),
            end_section=False,
        )
        for row in key_result_rows.iter_rows(named=True):
            table.add_row(
                Text("  " * depth + "   ") + _key_result_label(row),
                format_value(row["actual"], row["unit"]),
                format_target(row["target"], row["unit"], row["type"] or ""),
                progress_bar(row["progress"], row["expected_progress"]),
                _status(row["status"]),
            )
        table.add_section()
    return table


def scorecard_markdown(rows: pl.DataFrame) -> str:
    """The scorecard of `rows` (SCORECARD_SCHEMA) as a Markdown table, for the Dagster UI: a bold row
    per objective with its progress and status, then its key results, numbers as people read them."""
    lines = [
        "| objective / key result | actual | target | progress (expected) | status |",
        "|---|--:|--:|--:|---|",
    ]

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    def progress(value: float | None, expected: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:.0%}" + (f" ({expected:.0%})" if expected is not None else "")

    for objective_id, depth in objective_order(rows):
        key_result_rows = rows.filter(pl.col("objective_id") == objective_id)
        first = key_result_rows.row(0, named=True)
        lines.append(
            f"| {'↳ ' * min(depth, 1)}**{cell(first['objective'])}** ({cell(first['owner'])}) | | | "
            f"{progress(first['objective_progress'], first['objective_expected_progress'])} | "
            f"**{status_label(first['objective_status'])}** |"
        )
        for row in key_result_rows.iter_rows(named=True):
            lines.append(
                f"| &nbsp;&nbsp;{cell(row['description'])} | {format_value(row['actual'], row['unit'])} | "
                f"{format_target(row['target'], row['unit'], row['type'] or '')} | "
                f"{progress(row['progress'], row['expected_progress'])} | {status_label(row['status'])} |"
            )
    return "\n".join(lines)
