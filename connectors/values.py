"""How connectors hand over values they receive as Python objects (a driver's, a JSON parser's)
without loss: the exact text of a value, and an example value for an error message."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

SAMPLE_LENGTH = 60
EXACT_FLOAT_INTEGER = 2**53
"""Integers beyond this lose digits as a float, so a column mixing them with floats becomes text."""


def exact_text(value: object) -> str | None:
    """The text of a value of a mixed-type column, without loss: text as it is, integers as
    str(int), floats as repr(float), decimals as str, dates, times and timestamps in ISO format,
    booleans as true/false; None for a value with no such text (bytes, ...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    return None


def sample(value: object) -> str:
    """`repr(value)`, cut to about 60 characters: an example value for an error message."""
    text = repr(value)
    return text if len(text) <= SAMPLE_LENGTH else text[: SAMPLE_LENGTH - 3] + "..."
