"""The OKR report: one self-contained HTML file a manager opens offline (`kpi report`).

First what matters: each objective with its progress and status, then its key results with progress
bars coloured by status, each with a chart of its actual as of each day against its baseline, its
target and the expected-progress line (a stay_* key result: its threshold); then tiles of the KPIs the
key results use (this month so far, the month before, a year ago, the change); then a data-quality
footer (days loaded, rows quarantined and checks failed over the objectives' periods).

Charts are Plotly figures; plotly.js is written once, inline, into the file: no request leaves the
page, and it prints to PDF. Reads the warehouse only; no Dagster here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from kpi.formats import STATUS_LABELS, format_target, format_value, key_result_notes, status_label
from kpi.schema import (
    dq_results,
    key_results,
    kpi_definitions,
    kpi_values,
    loaded_partitions,
    quarantine,
)
from kpi.scorecard import objective_order, scorecard_rows
from kpi.warehouse import KPI_VALUES_DAYS, Warehouse

REPORT_FILE = "okr-report.html"
STATUS_COLOURS = {
    "achieved": "#1a7f37",
    "on_track": "#2da44e",
    "at_risk": "#d4a72c",
    "off_track": "#cf222e",
    "missed": "#82071e",
    "unknown": "#8c959f",
}
HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "key_result_id": pl.String(),
    "as_of": pl.Date(),
    "actual": pl.Float64(),
    "baseline": pl.Float64(),
    "target": pl.Float64(),
    "expected_progress": pl.Float64(),
    "status": pl.String(),
}
TILE_SCHEMA: dict[str, pl.DataType] = {
    "kpi_id": pl.String(),
    "name": pl.String(),
    "unit": pl.String(),
    "direction": pl.String(),
    "period_start": pl.Date(),
    "period_end": pl.Date(),
    "value": pl.Float64(),
    "previous_value": pl.Float64(),
    "year_ago_value": pl.Float64(),
    "is_complete": pl.Boolean(),
}


class NoKeyResults(Exception):
    """The warehouse holds no key results (as of the day asked for): nothing to report."""


@dataclass(frozen=True)
class ReportData:
    as_of: date
    scorecard: pl.DataFrame
    """Each key result as of `as_of` with its objective's progress (kpi.scorecard.SCORECARD_SCHEMA)."""
    history: pl.DataFrame
    """Each key result as of each day up to `as_of` (HISTORY_SCHEMA)."""
    tiles: pl.DataFrame
    """The month holding `as_of` of each KPI the key results use (TILE_SCHEMA)."""
    quality: dict[str, object]
    """Over the objectives' periods up to as_of: first and last day, days loaded by dated entity, days
    KPIs were computed for, rows quarantined, checks failed (and their names)."""


def report_data(warehouse: Warehouse, dated_entities: Sequence[str], as_of: date | None = None) -> ReportData:
    """What the report shows, read from the warehouse; `dated_entities`: those the config loads
    (PipelineConfig.loaded_dated_entities), whose days loaded the footer counts. Raises NoKeyResults
    when there is nothing."""
    scorecard = scorecard_rows(warehouse, as_of)
    if scorecard.is_empty():
        raise NoKeyResults(f"no key results {'as of ' + str(as_of) if as_of else 'yet'}")
    as_of = max(scorecard["as_of"].to_list())
    ids = scorecard["key_result_id"].to_list()
    history = warehouse.read(
        sa.select(*(key_results.c[name] for name in HISTORY_SCHEMA))
        .where(key_results.c.key_result_id.in_(ids), key_results.c.as_of <= as_of)
        .order_by(key_results.c.key_result_id, key_results.c.as_of),
        HISTORY_SCHEMA,
    )
    kpi_ids = sorted(set(scorecard["kpi_id"].to_list()))
    month = as_of.replace(day=1)
    tiles = warehouse.read(
        sa.select(
            kpi_values.c.kpi_id,
            kpi_definitions.c.name,
            kpi_definitions.c.unit,
            kpi_definitions.c.direction,
            kpi_values.c.period_start,
            kpi_values.c.period_end,
            kpi_values.c.value,
            kpi_values.c.previous_value,
            kpi_values.c.year_ago_value,
            kpi_values.c.is_complete,
        )
        .join(kpi_definitions, kpi_definitions.c.kpi_id == kpi_values.c.kpi_id)
        .where(
            kpi_values.c.kpi_id.in_(kpi_ids),
            kpi_values.c.grain == "month",
            kpi_values.c.period_start == month,
            kpi_values.c.dimension == "",
        )
        .order_by(kpi_values.c.kpi_id),
        TILE_SCHEMA,
    )
    first = min(history["as_of"].to_list())
    return ReportData(as_of, scorecard, history, tiles, _quality(warehouse, dated_entities, first, as_of))


def _quality(
    warehouse: Warehouse, dated_entities: Sequence[str], first: date, last: date
) -> dict[str, object]:
    in_range = loaded_partitions.c.partition_date.between(first, last)
    with warehouse.engine.connect() as connection:
        # The days of each dated entity, and of kpi_values (the days KPIs were computed for).
        loaded: dict[str, int] = dict(
            connection.execute(
                sa.select(
                    loaded_partitions.c.entity, sa.func.count(sa.distinct(loaded_partitions.c.partition_date))
                )
                .where(in_range, loaded_partitions.c.entity.in_([*dated_entities, KPI_VALUES_DAYS]))
                .group_by(loaded_partitions.c.entity)
            ).all()
        )
        quarantined = connection.execute(
            sa.select(sa.func.count())
            .select_from(quarantine)
            .where(quarantine.c.partition.between(first.isoformat(), last.isoformat()))
        ).scalar()
        failed = connection.execute(
            sa.select(dq_results.c.check, sa.func.count())
            .where(
                dq_results.c.passed.is_(False),
                dq_results.c.partition.between(first.isoformat(), last.isoformat()),
            )
            .group_by(dq_results.c.check)
            .order_by(dq_results.c.check)
        ).all()
    return {
        "first": first,
        "last": last,
        "days": (last - first).days + 1,
        "loaded": {entity: loaded.get(entity, 0) for entity in dated_entities},
        "computed": loaded.get(KPI_VALUES_DAYS, 0),
        "quarantined": int(quarantined or 0),
        "failed_checks": {check: int(count) for check, count in failed},
    }


# ----------------------------------------------------------------------------------------------------
# Charts


def _line(name: str, days: list[str], values: list[float | None], **style: object) -> dict:
    """A Plotly line trace (no markers) of `values` over `days`, `style` its line's (color, dash, width)."""
    return {"type": "scatter", "mode": "lines", "name": name, "x": days, "y": values, "line": style}


def key_result_chart(row: dict, history: pl.DataFrame) -> dict:
    """A Plotly figure (as a dict) of one key result: its actual as of each day; its baseline and
    target; the progress expected by each day (increase/decrease), or its threshold (stay_*)."""
    days = [day.isoformat() for day in history["as_of"].to_list()]
    unit = row["unit"]
    scale = 100.0 if unit == "ratio" else 1.0  # ratios read as percentages
    suffix = "%" if unit == "ratio" else ""

    def scaled(values: list[float | None]) -> list[float | None]:
        return [None if value is None else value * scale for value in values]

    traces: list[dict] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": "actual",
            "x": days,
            "y": scaled(history["actual"].to_list()),
            "line": {"color": "#0969da", "width": 2},
            "marker": {
                "size": 4,
                "color": [STATUS_COLOURS.get(s, "#8c959f") for s in history["status"].to_list()],
            },
        }
    ]
    target = row["target"] * scale
    if row["type"] in ("stay_above", "stay_below"):
        side = "at most" if row["type"] == "stay_below" else "at least"
        traces.append(_line(f"threshold ({side})", days, [target] * len(days), color="#cf222e", dash="dash"))
    else:
        baseline = (row["baseline"] or 0.0) * scale
        expected = [
            None if e is None else baseline + e * (target - baseline)
            for e in history["expected_progress"].to_list()
        ]
        traces += [
            _line("expected by then", days, expected, color="#8c959f", dash="dot"),
            _line("target", days, [target] * len(days), color="#1a7f37", dash="dash"),
            _line("baseline", days, [baseline] * len(days), color="#57606a", dash="dash", width=1),
        ]
    return {
        "data": traces,
        "layout": {
            "height": 260,
            "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
            "legend": {"orientation": "h", "y": -0.25},
            "yaxis": {"ticksuffix": suffix, "rangemode": "tozero" if unit != "score" else "normal"},
            "xaxis": {"type": "date"},
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
        },
    }


# ----------------------------------------------------------------------------------------------------
# HTML

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328; margin: 2rem auto;
       max-width: 1000px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.subtitle { color: #57606a; margin-top: 0; }
.summary { font-size: 1.1rem; font-weight: 600; }
.why { color: #57606a; font-style: italic; font-size: 0.9rem; }
.objective { border: 1px solid #d0d7de; border-radius: 8px; padding: 1rem 1.2rem; margin: 1.2rem 0; break-inside: avoid; }
.objective.aligned { margin-left: 2rem; }
.objective h2 { font-size: 1.25rem; margin: 0; }
.owner, .parent, .muted { color: #57606a; font-size: 0.9rem; }
.bar { position: relative; background: #eaeef2; border-radius: 4px; height: 14px; width: 100%; margin: 0.3rem 0; }
.bar .fill { height: 100%; border-radius: 4px; }
.bar .tick { position: absolute; top: -3px; width: 2px; height: 20px; background: #1f2328; }
.status { display: inline-block; padding: 0.1rem 0.5rem; border-radius: 1rem; color: white; font-size: 0.8rem;
          font-weight: 600; white-space: nowrap; }
.kr { border-top: 1px solid #eaeef2; padding: 0.8rem 0; break-inside: avoid; }
.kr-head { display: flex; justify-content: space-between; gap: 1rem; align-items: baseline; }
.kr h3 { font-size: 1rem; margin: 0; font-weight: 600; }
.numbers { font-variant-numeric: tabular-nums; }
.legend span { margin-right: 0.6rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 0.8rem; }
.tile { border: 1px solid #d0d7de; border-radius: 8px; padding: 0.7rem; break-inside: avoid; }
.tile .value { font-size: 1.4rem; font-weight: 600; }
footer { margin-top: 2rem; border-top: 1px solid #d0d7de; padding-top: 0.8rem; font-size: 0.9rem; color: #57606a; }
@media print { body { margin: 0; max-width: none; } .objective { page-break-inside: avoid; } }
"""


def _status_badge(status: str | None) -> str:
    colour = STATUS_COLOURS.get(status or "unknown", "#8c959f")
    return f'<span class="status" style="background:{colour}">{html.escape(status_label(status))}</span>'


def _bar(progress: float | None, expected: float | None, status: str | None) -> str:
    if progress is None:
        return '<div class="bar" title="no progress: unknown"></div>'
    colour = STATUS_COLOURS.get(status or "unknown", "#8c959f")
    tick = (
        ""
        if expected is None
        else f'<div class="tick" style="left:{min(expected, 1) * 100:.1f}%" title="expected by now"></div>'
    )
    return (
        f'<div class="bar" title="progress {progress:.0%}"><div class="fill" style="width:{progress * 100:.1f}%;'
        f'background:{colour}"></div>{tick}</div>'
    )


def why_unknown(row: dict) -> str:
    """Why a key result (a scorecard row) is unknown, in a manager's words."""
    if row["window_start"] is None:
        measure = (row["measure"] or "").partition(": ")[2]
        return f"no complete {measure} inside the objective yet" if measure else "not computed for this day"
    days = (row["window_end"] - row["window_start"]).days + 1
    window = f"{row['window_start']} to {row['window_end']}"
    if row["actual"] is None:
        return f"no data for {window}"
    return (
        f"only {row['days_covered'] or 0} of the {days} days of {window} loaded: half the data is not a trend"
    )


def summary(scorecard: pl.DataFrame) -> str:
    """One line: how many objectives and key results stand where."""

    def counts(statuses: list[str | None]) -> str:
        order = {status: index for index, status in enumerate(STATUS_LABELS)}
        tally: dict[str, int] = {}
        for status in statuses:
            tally[status or "unknown"] = tally.get(status or "unknown", 0) + 1
        return ", ".join(
            f"{count} {status_label(status)}"
            for status, count in sorted(tally.items(), key=lambda item: order.get(item[0], 99))
        )

    objectives = scorecard.unique("objective_id")
    return (
        f"{objectives.height} objective{'s' if objectives.height != 1 else ''}: "
        f"{counts(objectives['objective_status'].to_list())}. {scorecard.height} key results: "
        f"{counts(scorecard['status'].to_list())}."
    )


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _change(value: float | None, previous: float | None, unit: str) -> str:
    if value is None or previous is None:
        return "–"
    change = value - previous
    if unit == "ratio":
        return f"{change * 100:+.1f} pts"
    if previous == 0:
        return f"{change:+,.2f}"
    return f"{change / abs(previous):+.1%}"


def render_report(data: ReportData, title: str = "OKR report") -> str:
    """The report's HTML: one file, plotly.js inline, no request to anything outside it."""
    from plotly.offline import get_plotlyjs

    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)} as of {data.as_of}</title>",
        f"<style>{CSS}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="subtitle">As of {data.as_of} · generated {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}</p>',
        f'<p class="summary">{html.escape(summary(data.scorecard))}</p>',
        '<p class="legend muted">'
        + "".join(f"<span>{_status_badge(status)}</span>" for status in STATUS_LABELS)
        + " · the black tick on a bar is the progress expected by now</p>",
    ]
    charts: list[tuple[str, dict]] = []
    for objective_id, depth in objective_order(data.scorecard):
        rows = data.scorecard.filter(pl.col("objective_id") == objective_id)
        first = rows.row(0, named=True)
        parent = (
            f'<div class="parent">aligned under {html.escape(_title(data.scorecard, first["parent_objective_id"]))}</div>'
            if first["parent_objective_id"]
            else ""
        )
        parts += [
            f'<section class="objective{" aligned" if depth else ""}" data-objective="{html.escape(objective_id)}">',
            '<div class="kr-head">',
            f"<h2>{html.escape(first['objective'])}</h2>",
            f'<div>{_status_badge(first["objective_status"])} <span class="numbers">{_percent(first["objective_progress"])}</span></div>',
            "</div>",
            f'<div class="owner">{html.escape(first["owner"])}</div>{parent}',
            _bar(
                first["objective_progress"], first["objective_expected_progress"], first["objective_status"]
            ),
        ]
        for row in rows.iter_rows(named=True):
            chart_id = f"chart-{row['key_result_id']}"
            notes = key_result_notes(row["type"], row["measure"], row["weight"])
            parts += [
                f'<div class="kr" data-key-result="{html.escape(row["key_result_id"])}">',
                '<div class="kr-head">',
                f"<h3>{html.escape(row['description'])}</h3>",
                f"<div>{_status_badge(row['status'])}</div>",
                "</div>",
                f'<div class="muted numbers">actual <b>{format_value(row["actual"], row["unit"])}</b> · target '
                f"{format_target(row['target'], row['unit'], row['type'] or '')}"
                + (
                    f" · from {format_value(row['baseline'], row['unit'])}"
                    if row["baseline"] is not None
                    else ""
                )
                + f" · progress {_percent(row['progress'])} (expected {_percent(row['expected_progress'])})"
                + (f" · {html.escape(' · '.join(notes))}" if notes else "")
                + "</div>",
                _bar(row["progress"], row["expected_progress"], row["status"]),
                f'<div class="why">Unknown: {html.escape(why_unknown(row))}.</div>'
                if row["status"] == "unknown"
                else "",
                f'<div class="chart" id="{html.escape(chart_id)}"></div>',
                "</div>",
            ]
            history = data.history.filter(pl.col("key_result_id") == row["key_result_id"])
            charts.append((chart_id, key_result_chart(row, history)))
        parts.append("</section>")
    parts += _tiles(data), _footer(data)
    parts.append("<script>")
    parts += [
        f"Plotly.newPlot({json.dumps(chart_id)}, {json.dumps(figure['data'])}, {json.dumps(figure['layout'])}, "
        '{"displayModeBar": false, "responsive": true});'
        for chart_id, figure in charts
    ]
    parts += ["</script>", "</body></html>"]
    return "\n".join(parts)


def _compared(label: str, value: float | None, other: float | None, unit: str) -> str:
    """ "previous month 1,234.00 (+5.2%)", or "previous month: not loaded" when there is none."""
    if other is None:
        return f"{label}: not loaded"
    return f"{label} {format_value(other, unit)} ({_change(value, other, unit)})"


def _title(scorecard: pl.DataFrame, objective_id: str) -> str:
    match = scorecard.filter(pl.col("objective_id") == objective_id)
    return match["objective"][0] if not match.is_empty() else objective_id


def _tiles(data: ReportData) -> str:
    if data.tiles.is_empty():
        return ""
    cells = []
    for tile in data.tiles.iter_rows(named=True):
        unit = tile["unit"]
        period = f"{tile['period_start']:%B %Y}" + (
            "" if tile["is_complete"] else f" to {tile['period_end']:%d %b}"
        )
        cells.append(
            f'<div class="tile" data-kpi="{html.escape(tile["kpi_id"])}"><div class="muted">{html.escape(tile["name"])}</div>'
            f'<div class="value numbers">{format_value(tile["value"], unit)}</div>'
            f'<div class="muted">{html.escape(period)}</div>'
            f'<div class="numbers">{_compared("previous month", tile["value"], tile["previous_value"], unit)}</div>'
            f'<div class="numbers">{_compared("a year ago", tile["value"], tile["year_ago_value"], unit)}</div></div>'
        )
    return '<h2>The KPIs behind them, this month</h2><div class="tiles">' + "".join(cells) + "</div>"


def _footer(data: ReportData) -> str:
    quality = data.quality
    loaded = quality["loaded"]
    assert isinstance(loaded, dict)
    days = quality["days"]
    computed = quality["computed"]
    if loaded:
        covered = ", ".join(f"{entity} {count} of {days} days" for entity, count in loaded.items())
    else:  # a snapshot (employees, customers) is loaded whole, on no day of its own
        covered = "none (the config loads snapshots only)"
    failed = quality["failed_checks"]
    assert isinstance(failed, dict)
    checks = ", ".join(f"{check} ({count})" for check, count in failed.items()) or "none"
    return (
        f"<footer><b>Data quality</b>, {quality['first']} to {quality['last']}: days loaded: {html.escape(covered)}; "
        f"KPIs computed for {computed} of {days} days. "
        f"Rows quarantined: {quality['quarantined']:,}. Failed checks: {html.escape(checks)}. "
        "A key result whose window is not covered by every day of its KPI's inputs is unknown.</footer>"
    )


def write_report(
    warehouse: Warehouse,
    out_dir: Path,
    dated_entities: Sequence[str],
    as_of: date | None = None,
    title: str = "OKR report",
) -> Path:
    """Write REPORT_FILE into `out_dir` (made if missing); its path. `dated_entities`: as for
    report_data. Raises NoKeyResults."""
    data = report_data(warehouse, dated_entities, as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_FILE
    path.write_text(render_report(data, title), encoding="utf-8")
    return path
