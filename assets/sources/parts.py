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

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO

import polars as pl

from assets.sources.transforms import MappedRows
from connectors.base import ExtractWindow, SourcePart
from kpi.config import PipelineConfig, SourceConfig


@dataclass
class PartsRecord:
    """The record of one source's parts: by part name, its stamp, the mapping it was read with, the
    days its rows were dated on, its rows, and its raw rows of no day; each part's keys beside it, in
    `<source>.keys/`."""

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
        if not self.keys_file(part.name).is_file():  # its keys are needed to find duplicates
            return False
        first, last = window.start.isoformat(), window.end.isoformat()
        return not any(first <= day <= last for day in held.get("days", []))

    def undated_of(self, name: str) -> list[str]:
        """The raw rows of no day the part `name` held when it was last read."""
        return list(self.parts.get(name, {}).get("undated", []))

    def gone(self, names: list[str]) -> list[str]:
        """The parts recorded that are not among `names` (a file deleted since)."""
        return [name for name in self.parts if name not in names]

    def rows_of(self, names: list[str]) -> int:
        """The rows the parts `names` held when they were last read."""
        return sum(int(self.parts[name].get("rows", 0)) for name in names)

    def undated_count_of(self, names: list[str]) -> int:
        """Their rows without a usable date then (rows dated after that day's today not counted)."""
        return sum(int(self.parts[name].get("undated_rows", 0)) for name in names)

    def keys_among(self, names: list[str], wanted: pl.Series) -> pl.Series:
        """The keys of `wanted` that the parts `names` held when they were last read: a key twice in
        a source is a duplicate, whichever parts it is in (each part's keys in a file of its own)."""
        if not names or wanted.is_empty():
            return wanted.clear().cast(pl.String())
        found = pl.scan_parquet([self.keys_file(name) for name in names]).filter(
            pl.col("key").is_in(wanted.cast(pl.String()).implode())
        )
        return found.collect()["key"]

    def keys_file(self, name: str) -> Path:
        """The file of a part's keys: `<source>.keys/<hash of its name>.parquet`."""
        digest = hashlib.sha256(name.encode()).hexdigest()[:24]
        return self.path.with_name(f"{self.path.stem}.keys") / f"{digest}.parquet"

    def record(self, part: SourcePart, mapped: MappedRows) -> None:
        """What the part holds now: the days its rows are dated on, its rows, its raw rows of no day."""
        days = mapped.days
        undated = mapped.undated
        self.parts[part.name] = {
            "stamp": part.stamp,
            "days": []
            if days is None
            else [day.isoformat() for day in days.to_list() if isinstance(day, date)],
            "rows": mapped.extract_rows,
            "undated_rows": undated.filter(~pl.col("rule").str.starts_with("future_date:")).height,
            "undated": undated["raw_row"].to_list(),
        }

    def save(self, names: list[str], keys: dict[str, pl.Series]) -> None:
        """Write the keys of the parts read (`keys`, by name), then the record of the parts `names`
        (the source's parts now: a file gone is forgotten, with its keys' file)."""
        directory = self.path.with_name(f"{self.path.stem}.keys")
        directory.mkdir(parents=True, exist_ok=True)
        for name, part_keys in keys.items():
            self._replace(
                self.keys_file(name), pl.DataFrame({"key": part_keys.cast(pl.String())}).write_parquet
            )
        for name in self.gone(names):
            self.keys_file(name).unlink(missing_ok=True)
        data = {
            "mapping": self.mapping,
            "parts": {name: self.parts[name] for name in names if name in self.parts},
        }
        self._replace(self.path, lambda file: file.write(json.dumps(data).encode()))

    def _replace(self, path: Path, write: Callable[[IO[bytes]], object]) -> None:
        """Write `path` whole: a temporary file beside it, then a rename."""
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "wb") as file:
                write(file)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
