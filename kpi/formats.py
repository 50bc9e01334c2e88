"""Numbers as people read them, in one place: the scorecard, alert messages and (later) the report."""

from __future__ import annotations

STATUS_LABELS = {
    "achieved": "achieved",
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "missed": "missed",
    "unknown": "unknown",
}


def format_value(value: float | None, unit: str) -> str:
    """A KPI value in its unit: a ratio as a percentage to 0.1 (0.034 -> 3.4%), a percent or score to
    0.1, a count whole with thousands separators, money to cents; None as "no data"."""
    if value is None:
        return "no data"
    if unit == "ratio":
        return f"{value:.1%}"
    if unit in ("percent", "score"):
        return f"{value:.1f}"
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_target(target: float, unit: str, kind: str) -> str:
    """A key result's target as its type reads: "at most 3.0%" (stay_below), "at least 40.0"
    (stay_above), else the value."""
    prefix = {"stay_below": "at most ", "stay_above": "at least "}.get(kind, "")
    return prefix + format_value(target, unit)


def status_label(status: str | None) -> str:
    """on_track -> "on track"; None (no status yet) -> "none"."""
    return "none" if status is None else STATUS_LABELS.get(status, status.replace("_", " "))


def rounded(value: float | None, unit: str) -> float | int | None:
    """A KPI value rounded for people, as a number (Dagster plots numeric metadata): money to cents,
    a ratio as a percentage to 0.1 (0.03412 -> 3.4), a percent or score to 0.1, a count whole."""
    if value is None:
        return None
    if unit == "ratio":
        return round(value * 100, 1)
    if unit in ("percent", "score"):
        return round(value, 1)
    if unit == "count":
        return int(round(value))
    return round(value, 2)


def unit_suffix(unit: str) -> str:
    """What a `rounded` number is in: " (%)" for a ratio, else nothing."""
    return " (%)" if unit == "ratio" else ""


def measure_label(spec: str | None) -> str:
    """A key result's measure as the config writes it (to_date, latest_complete: month,
    trailing_days: 90) as people read it: "to date", "latest complete month", "trailing 90 days"."""
    kind, _, argument = (spec or "to_date").partition(": ")
    if kind == "latest_complete":
        return f"latest complete {argument}"
    if kind == "trailing_days":
        return f"trailing {argument} day{'' if argument == '1' else 's'}"
    return "to date"


def key_result_notes(kind: str | None, measure: str | None, weight: float | None) -> list[str]:
    """What sets a key result apart from an increase or decrease to date of weight 1: "stay below",
    "latest complete month", "weight 2"; nothing for the plain ones."""
    notes = [kind.replace("_", " ")] if kind in ("stay_above", "stay_below") else []
    if measure and measure != "to_date":
        notes.append(measure_label(measure))
    if weight is not None and weight != 1:
        notes.append(f"weight {weight:g}")
    return notes
