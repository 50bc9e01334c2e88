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
