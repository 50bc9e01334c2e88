"""What each part of a source (a file of a files source) held when it was last read, so that a run
reads only the parts that changed or hold one of its days: a nightly run reads this month's survey
file, not two years of them.

A part is skipped when its stamp (a file's size and modification time) and the source's mapping are
those of its last read, and none of the days its rows were dated on then is a day of the window. Its
rows of other days are those days' runs' to load; its rows of no day stay quarantined as they were.
Kept as JSON in the config's storage_dir (`sources/<source>.json`), replaced whole (a write to a
temporary file, then a rename), so two runs never leave half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from connectors.base import ExtractWindow, SourcePart
from kpi.config import PipelineConfig, SourceConfig


@dataclass
class PartsRecord:
    """The record of one source's parts: by part name, its stamp, the mapping it was read with, the
    days its rows were dated on and its raw rows of no day."""

    path: Path
    mapping: str
    parts: dict[str, dict] = field(default_factory=dict)

    @staticmethod
    def of(config: PipelineConfig, source: SourceConfig) -> PartsRecord:
        """The record of `source`, empty when there is none or it cannot be read (everything is then
        read, and recorded anew)."""
        path = config.storage_path() / "sources" / f"{source.name}.json"
        mapping = json.dumps(
            {"source": source.model_dump(mode="json"), "timezone": config.timezone}, sort_keys=True
        )
        record = PartsRecord(path, mapping)
        try:
            held = json.loads(path.read_text())
        except (OSError, ValueError):
            return record
        if isinstance(held, dict) and held.get("mapping") == mapping and isinstance(held.get("parts"), dict):
            record.parts = held["parts"]
        return record

    def skippable(self, part: SourcePart, window: ExtractWindow) -> bool:
        """Unchanged since it was read, and without a row of the window's days then."""
        held = self.parts.get(part.name)
        if held is None or held.get("stamp") != part.stamp:
            return False
        first, last = window.start.isoformat(), window.end.isoformat()
        return not any(first <= day <= last for day in held.get("days", []))

    def undated_of(self, part: SourcePart) -> list[str]:
        """The raw rows of no day the part held when it was last read."""
        return list(self.parts.get(part.name, {}).get("undated", []))

    def record(self, part: SourcePart, days: pl.Series | None, undated: pl.Series) -> None:
        """What the part holds now: the days its rows are dated on, its raw rows of no day."""
        self.parts[part.name] = {
            "stamp": part.stamp,
            "days": []
            if days is None
            else [day.isoformat() for day in days.to_list() if isinstance(day, date)],
            "undated": undated.to_list(),
        }

    def save(self, names: list[str]) -> None:
        """Write the record of the parts `names` (the source's parts now: a file gone is forgotten)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "mapping": self.mapping,
            "parts": {name: self.parts[name] for name in names if name in self.parts},
        }
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(handle, "w") as file:
                json.dump(data, file)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
