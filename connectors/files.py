"""The `files` connector: CSV, Parquet and NDJSON files from a local path or glob."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import polars as pl

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError

FORMATS_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".ndjson": "ndjson", ".jsonl": "ndjson"}


class FilesOptions(ConnectorOptions):
    path: str
    """A file, or a glob (`exports/*.csv`, `surveys/**/*.ndjson`); relative to the config file."""
    format: Literal["csv", "parquet", "ndjson"] | None = None
    """Defaults to the files' extension."""
    separator: str = ","
    """CSV only: the field separator."""
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    """CSV only: `utf8-lossy` replaces undecodable bytes instead of failing."""


class FilesConnector(Connector):
    name = "files"
    description = "CSV, Parquet or NDJSON files from a local path or glob; CSV columns are read as text."
    Options = FilesOptions
    options: FilesOptions

    def matched_files(self) -> list[Path]:
        pattern = str(self.resolve_path(self.options.path))
        files = sorted(Path(match) for match in glob.glob(pattern, recursive=True) if Path(match).is_file())
        if not files:
            raise SourceError(f"source {self.source_name!r}: no file matches path {pattern!r}")
        return files

    def file_format(self, file: Path) -> str:
        if self.options.format:
            return self.options.format
        file_format = FORMATS_BY_SUFFIX.get(file.suffix.lower())
        if file_format is None:
            raise SourceError(
                f"source {self.source_name!r}: cannot tell the format of {str(file)!r}; "
                f"set options.format to one of csv, parquet, ndjson"
            )
        return file_format

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.LazyFrame]:
        # Files cannot filter at the source: every row is returned and the mapping cuts the window.
        for file in self.matched_files():
            yield self.scan(file)

    def scan(self, file: Path) -> pl.LazyFrame:
        file_format = self.file_format(file)
        if file.stat().st_size == 0:
            raise SourceError(
                f"source {self.source_name!r}: file {str(file)!r} is empty (no header, no rows): "
                f"expected a {file_format} export; a day without data still has a header"
            )
        try:
            if file_format == "csv":
                # Text in, typed by the entity's schema later: a bad value is then named, not guessed.
                return pl.scan_csv(
                    file, separator=self.options.separator, infer_schema=False, encoding=self.options.encoding
                )
            if file_format == "parquet":
                return pl.scan_parquet(file)
            return pl.scan_ndjson(file, infer_schema_length=None)
        except (OSError, pl.exceptions.PolarsError) as error:
            raise SourceError(f"source {self.source_name!r}: cannot read {str(file)!r}: {error}") from error
