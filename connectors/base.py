"""What every connector is: a config model for its options and an `extract` that yields Polars frames."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import polars as pl
from pydantic import BaseModel, ConfigDict

RECORD_PROBLEM_COLUMN = "_kpi_record_problem"
"""Bad-record protocol: a connector may yield, besides the source's columns, this String column and
RAW_RECORD_COLUMN. A row whose problem is not null is a record the connector could not read as a row
(a CSV line with more or fewer fields than its header): the value is the rule it broke, its source
columns are null, and the mapping quarantines it with RAW_RECORD_COLUMN, its raw text. Rows that are
fine have both null; a frame without bad records may omit both columns."""
RAW_RECORD_COLUMN = "_kpi_raw_record"
"""The raw text of a bad record (see RECORD_PROBLEM_COLUMN)."""


class ConnectorOptions(BaseModel):
    """Base of every connector's `options` model: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


@dataclass(frozen=True)
class ExtractWindow:
    """The reporting days [start, end] (inclusive) a dated extract is asked for.

    Connectors that filter at the source may read one day more on each side (`source_bounds`):
    timestamps are cut into reporting-time-zone days after extraction, where the time zone is known.
    """

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start} .. {self.end}"

    def source_bounds(self) -> tuple[date, date]:
        """[first day, day after the last) to ask the source for, one day of slack on each side."""
        return self.start - timedelta(days=1), self.end + timedelta(days=2)


@dataclass(frozen=True)
class SourcePart:
    """A part of a source that changes as a whole (a file): read alone, and skipped by the pipeline
    while its `stamp` stays the same and it held no row of the days asked for."""

    name: str
    """What it is, in messages and in the pipeline's record of it (a file's path)."""
    stamp: str
    """Changes whenever its content may have (a file's size and modification time)."""
    read: Callable[[], pl.DataFrame | pl.LazyFrame]
    """Its rows, as `extract` would yield them."""


class SourceError(Exception):
    """A source could not be read, or delivered data that does not match its config.

    `transient` is True when trying again later may succeed (the source could not be reached, the
    connection dropped): the pipeline then retries with backoff, where bad data fails at once."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class Connector(ABC):
    """A source-system reader. Subclasses set `name`, `description` and `Options`, and implement `extract`.

    `source_date_column` is the source's own name of the column the entity is dated by (None for an
    undated snapshot); a connector that can filter at the source uses it with `window`, the others
    return everything and let the mapping cut the window.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[ConnectorOptions]]

    def __init__(self, source_name: str, options: ConnectorOptions, base_dir: Path) -> None:
        self.source_name = source_name
        self.options = options
        self.base_dir = base_dir
        self.window_note: str | None = None
        """What the last `extract` did with its window (filtered at the source or not), for metadata."""
        self.window_pushed_down = False
        """True when the last `extract` returned only its window's rows (filtered at the source): the
        rows of no day it returned are then not all of the source's."""

    @abstractmethod
    def extract(
        self, window: ExtractWindow | None, source_date_column: str | None
    ) -> Iterator[pl.DataFrame | pl.LazyFrame]:
        """Yield the source's rows (all of them when window is None) as one or more frames."""

    def declared_schema(self) -> dict[str, pl.DataType] | None:
        """The columns and types of every frame `extract` yields (besides the bad-record columns), known
        before reading: what an empty window yields too. None (the default): the columns come from the
        source's data (a CSV file's header) and are known only once read."""
        return None

    def parts(self) -> list[SourcePart] | None:
        """The source as parts that `extract` reads one by one (a files source: its files), so the
        pipeline may skip the unchanged ones without a row of a window's days; None (the default): the
        source is read only whole, through `extract`."""
        return None

    def resolve_path(self, path: str) -> Path:
        """A path from the config: relative paths are relative to the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate
