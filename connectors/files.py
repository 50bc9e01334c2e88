"""The `files` connector: CSV, Parquet and NDJSON files from a local path or glob.

Each file is read whole into one Polars frame, without loss:
- CSV: every column as text (`pl.String`), exactly as written: an empty field is `""`, never null (a
  source's `null_values` are applied by the mapping). A line with more or fewer fields than the
  header is not padded or cut: it becomes a bad record (see `connectors.base.RECORD_PROBLEM_COLUMN`).
- NDJSON: the types Polars reads (numbers stay numbers); a line that is not a JSON object is a bad
  record.
- Parquet: the file's own types.
Anything else that makes a file unreadable is a `SourceError` naming the source and the file.
"""

from __future__ import annotations

import csv
import functools
import glob
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

import polars as pl
from pydantic import field_validator

from connectors.base import (
    RAW_RECORD_COLUMN,
    RECORD_PROBLEM_COLUMN,
    Connector,
    ConnectorOptions,
    ExtractWindow,
    SourceError,
    SourcePart,
)

FORMATS_BY_SUFFIX = {".csv": "csv", ".parquet": "parquet", ".ndjson": "ndjson", ".jsonl": "ndjson"}
UTF8_BOM = b"\xef\xbb\xbf"
CSV_BLOCK_BYTES = 64 << 20
"""pyarrow reads CSV in blocks and cannot read a record longer than one (its default is 1 MiB); a
larger block is no slower."""
NDJSON_CHECK_LINES = 20_000
"""Lines of an NDJSON file Polars rejected that are read at a time to find its bad lines."""


class FilesOptions(ConnectorOptions):
    """The `files` connector's options; a separator that is not one ASCII character is a config error."""

    path: str
    """A file, or a glob (`exports/*.csv`, `surveys/**/*.ndjson`); relative to the config file."""
    format: Literal["csv", "parquet", "ndjson"] | None = None
    """Defaults to the files' extension."""
    separator: str = ","
    """CSV only: the field separator, one ASCII character."""
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    """CSV only: `utf8-lossy` replaces undecodable bytes with U+FFFD instead of failing."""

    @field_validator("separator")
    @classmethod
    def _one_ascii_character(cls, separator: str) -> str:
        if len(separator) != 1 or not separator.isascii() or separator in '"\r\n':
            raise ValueError(f"separator {separator!r} must be one ASCII character (not a quote or newline)")
        return separator


class FilesConnector(Connector):
    """Reads every file matching `options.path`, in sorted order, one frame per file.

    Files cannot filter at the source: `extract` ignores the window and returns every row; the
    mapping cuts it. Besides the source's columns, a frame may carry the bad-record columns
    `RECORD_PROBLEM_COLUMN` and `RAW_RECORD_COLUMN` (String; only when the file has a bad record).
    """

    name = "files"
    description = "CSV, Parquet or NDJSON files from a local path or glob; CSV columns are read as text."
    Options = FilesOptions
    options: FilesOptions

    def matched_files(self) -> list[Path]:
        """The files `options.path` names, sorted. Raises SourceError when there is none."""
        pattern = str(self.resolve_path(self.options.path))
        files = sorted(Path(match) for match in glob.glob(pattern, recursive=True) if Path(match).is_file())
        if not files:
            raise SourceError(f"source {self.source_name!r}: no file matches path {pattern!r}")
        return files

    def file_format(self, file: Path) -> str:
        """`options.format`, else the format of the file's extension. Raises SourceError for an unknown one."""
        if self.options.format:
            return self.options.format
        file_format = FORMATS_BY_SUFFIX.get(file.suffix.lower())
        if file_format is None:
            raise SourceError(
                f"source {self.source_name!r}: cannot tell the format of {str(file)!r}; "
                f"set options.format to one of csv, parquet, ndjson"
            )
        return file_format

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        """One frame per matched file (see `read`), every row whatever the window."""
        for file in self.matched_files():
            yield self.read(file)

    def parts(self) -> list[SourcePart]:
        """Each matched file, stamped by its size and modification time (nanoseconds)."""
        parts = []
        for file in self.matched_files():
            status = file.stat()
            stamp = f"{status.st_size}:{status.st_mtime_ns}"
            parts.append(SourcePart(str(file), stamp, functools.partial(self.read, file)))
        return parts

    def read(self, file: Path) -> pl.DataFrame:
        """One file as a frame: the source's columns, plus the bad-record columns when it has bad records.

        Raises SourceError naming the source and the file when the file is empty (not even a header),
        cannot be read, is not valid CSV/NDJSON/Parquet, or (CSV) is not valid UTF-8 or repeats a
        column name in its header.
        """
        file_format = self.file_format(file)
        try:
            if file.stat().st_size == 0:
                raise self.error(
                    file,
                    f"is empty (no header, no rows): expected a {file_format} export; "
                    f"a day without data still has a header",
                )
            if file_format == "csv":
                return self.read_csv(file)
            if file_format == "parquet":
                return self.read_parquet(file)
            return self.read_ndjson(file)
        except OSError as error:
            raise self.error(file, f"cannot be read: {error}") from error

    def error(self, file: Path, message: str) -> SourceError:
        """A SourceError about one file: `source 'NAME': file 'PATH' MESSAGE`."""
        return SourceError(f"source {self.source_name!r}: file {str(file)!r} {message}")

    # --- CSV -----------------------------------------------------------------------------------------

    def read_csv(self, file: Path) -> pl.DataFrame:
        """Every column as text, empty fields as `""`; a line whose field count is not the header's
        is a bad record with rule `csv_fields: F fields where the header has H (line L)`, placed after
        the good rows. Blank lines are skipped; a header-only file is an empty frame with its columns."""
        # pyarrow (and numpy under it) only where a CSV is read: a config without CSV sources, and the
        # commands that only load a config, never import them.
        import pyarrow as pa
        import pyarrow.csv as pa_csv

        separator = self.options.separator
        # utf8-lossy: the text with undecodable bytes replaced; utf8: the file itself, memory-mapped.
        lossy = (
            file.read_bytes().decode("utf-8", errors="replace").encode("utf-8")
            if self.options.encoding == "utf8-lossy"
            else None
        )

        def contents() -> bytes:
            return lossy if lossy is not None else file.read_bytes()

        with (
            csv_field_size_unlimited(),
            io.BytesIO(lossy) if lossy is not None else file.open("rb") as stream,
        ):
            records = csv_records(stream, separator)
            header = next(records, None)
            if header is None:
                raise self.error(file, "has no header (only blank lines)")
            names = header[2]
            if not all(is_valid_text(name) for name in names):
                raise self.invalid_utf8(file, contents(), names)
            duplicates = sorted({name for name in names if names.count(name) > 1})
            if duplicates:
                raise self.error(
                    file,
                    f"names the columns {', '.join(map(repr, duplicates))} more than once in its header "
                    f"{names!r}: every column needs its own name",
                )
            try:
                has_rows = next(records, None) is not None
            except csv.Error:  # what pyarrow makes of it is told below
                has_rows = True
        if not has_rows:  # (pyarrow cannot read a header without a newline and no rows)
            return pl.DataFrame(schema=dict.fromkeys(names, pl.String()))

        bad_rows: list[pa_csv.InvalidRow] = []

        def keep_bad_row(row: pa_csv.InvalidRow) -> str:
            bad_rows.append(row)
            return "skip"

        try:
            with pa.BufferReader(lossy) if lossy is not None else pa.memory_map(str(file)) as source:
                table = pa_csv.read_csv(
                    source,
                    # One thread: only then does pyarrow number the bad rows (and measured no slower on 2 cores).
                    read_options=pa_csv.ReadOptions(use_threads=False, block_size=CSV_BLOCK_BYTES),
                    parse_options=pa_csv.ParseOptions(
                        delimiter=separator, newlines_in_values=True, invalid_row_handler=keep_bad_row
                    ),
                    convert_options=pa_csv.ConvertOptions(
                        column_types=dict.fromkeys(names, pa.string()),
                        strings_can_be_null=False,
                        quoted_strings_can_be_null=False,
                        null_values=[],
                    ),
                )
        except (pa.ArrowException, UnicodeDecodeError) as error:
            data = contents()
            if not is_valid_utf8(data):
                raise self.invalid_utf8(file, data, names) from None
            raise self.error(file, f"cannot be read as CSV: {error}") from error
        if table.column_names != names or not all(column.type == pa.string() for column in table.columns):
            raise self.error(file, f"has a header pyarrow reads as {table.column_names!r}, not {names!r}")
        rows = pl.from_arrow(table)
        assert isinstance(rows, pl.DataFrame)
        if not bad_rows:
            return rows
        lines = record_lines(
            contents(), separator, [row.number for row in bad_rows], 1 + len(rows) + len(bad_rows)
        )
        problems = []
        for row in bad_rows:
            fields = "1 field" if row.actual_columns == 1 else f"{row.actual_columns} fields"
            where = f"line {lines[row.number]}" if row.number in lines else f"record {row.number}"
            problems.append(f"csv_fields: {fields} where the header has {row.expected_columns} ({where})")
        return with_bad_records(rows, problems, [row.text for row in bad_rows])

    def invalid_utf8(self, file: Path, data: bytes, names: list[str]) -> SourceError:
        """The error for a CSV file that is not UTF-8, naming the first undecodable value's column and line."""
        hint = "; set options.encoding to utf8-lossy to replace undecodable bytes"
        with csv_field_size_unlimited():
            for number, line, fields in csv_records(io.BytesIO(data), self.options.separator):
                for position, field in enumerate(fields):
                    if is_valid_text(field):
                        continue
                    value = field.encode("utf-8", errors="surrogateescape")
                    if number == 1:
                        where = f"in its header (line {line}): column name {value!r}"
                    elif position < len(names):
                        where = f"in column {names[position]!r}, line {line}: value {value!r}"
                    else:
                        where = f"in field {position + 1} of line {line} (beyond the header): value {value!r}"
                    return self.error(file, f"is not valid UTF-8 {where}{hint}")
        return self.error(file, f"is not valid UTF-8{hint}")

    # --- NDJSON --------------------------------------------------------------------------------------

    def read_ndjson(self, file: Path) -> pl.DataFrame:
        """The types Polars reads, every line (`infer_schema_length=None`); blank lines are skipped.

        Read by Polars in one go. Only when Polars rejects the file are its bad lines looked for: Polars
        reads it again `NDJSON_CHECK_LINES` lines at a time, and the lines of a part it rejects are
        checked one by one with Python's json module. A line that is not a JSON object becomes a bad
        record (`ndjson_line: ... (line L)`, after the good rows), and the file is read again without
        them. Raises SourceError with Polars' message when no line is bad but the lines still cannot
        be read together (values of one key Polars cannot unify), or the file has only blank lines.
        """
        with file.open("rb") as opened:
            has_bom = opened.read(len(UTF8_BOM)) == UTF8_BOM
        try:
            return pl.read_ndjson(
                file.read_bytes()[len(UTF8_BOM) :] if has_bom else file, infer_schema_length=None
            )
        except pl.exceptions.PolarsError as error:
            polars_error = error
        lines = file.read_bytes().removeprefix(UTF8_BOM).split(b"\n")
        problems: list[str] = []
        raw_lines: list[str] = []
        for start in range(0, len(lines), NDJSON_CHECK_LINES):
            part = lines[start : start + NDJSON_CHECK_LINES]
            try:
                pl.read_ndjson(b"\n".join(part), infer_schema_length=None)
                continue
            except pl.exceptions.PolarsError:
                pass
            for index, line in enumerate(part, start=start):
                problem = ndjson_line_problem(line) if line.strip() else None
                if problem is not None:
                    problems.append(f"ndjson_line: {problem} (line {index + 1})")
                    raw_lines.append(line.removesuffix(b"\r").decode("utf-8", errors="replace"))
                    lines[index] = b""  # a blank line: skipped when the good lines are read
        if not problems:
            if not any(line.strip() for line in lines):
                raise self.error(file, "has no records (only blank lines)")
            raise self.error(file, f"cannot be read as NDJSON: {first_line(polars_error)}") from polars_error
        try:
            rows = (
                pl.read_ndjson(b"\n".join(lines), infer_schema_length=None)
                if any(line.strip() for line in lines)
                else pl.DataFrame()
            )
        except pl.exceptions.PolarsError as error:
            raise self.error(
                file, f"cannot be read as NDJSON, even without its bad lines: {first_line(error)}"
            ) from error
        return with_bad_records(rows, problems, raw_lines)

    # --- Parquet -------------------------------------------------------------------------------------

    def read_parquet(self, file: Path) -> pl.DataFrame:
        """The file's own columns and types."""
        try:
            return pl.read_parquet(file)
        except pl.exceptions.PolarsError as error:
            raise self.error(file, f"cannot be read as Parquet: {first_line(error)}") from error


def with_bad_records(rows: pl.DataFrame, problems: list[str], raw_records: list[str]) -> pl.DataFrame:
    """`rows` with the bad-record columns (null), then one row per bad record: source columns null,
    `RECORD_PROBLEM_COLUMN` its problem, `RAW_RECORD_COLUMN` its raw text."""
    no_problem = pl.lit(None, dtype=pl.String())
    bad = pl.DataFrame(
        {
            **{
                name: pl.Series(name, [None] * len(problems), dtype=dtype)
                for name, dtype in rows.schema.items()
            },
            RECORD_PROBLEM_COLUMN: pl.Series(problems, dtype=pl.String()),
            RAW_RECORD_COLUMN: pl.Series(raw_records, dtype=pl.String()),
        }
    )
    return pl.concat(
        [rows.with_columns(no_problem.alias(RECORD_PROBLEM_COLUMN), no_problem.alias(RAW_RECORD_COLUMN)), bad]
    )


def csv_records(stream: IO[bytes], separator: str) -> Iterator[tuple[int, int, list[str]]]:
    """(record number, counting the header as 1; line it starts on; fields) of each CSV record, as
    pyarrow splits them: blank lines skipped, quoted fields may hold separators and newlines.
    Undecodable bytes are kept as lone surrogates (`surrogateescape`). Raises csv.Error on a field
    larger than `csv.field_size_limit()`."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=separator)
    number = 0
    last_line = 0
    for fields in reader:
        first_line_of_record, last_line = last_line + 1, reader.line_num
        if fields:
            number += 1
            yield number, first_line_of_record, fields


def record_lines(data: bytes, separator: str, numbers: list[int], record_count: int) -> dict[int, int]:
    """The line each CSV record of `numbers` (header = 1) starts on, by record number; empty when the
    file cannot be split by the csv module (the caller then names the record by its number)."""
    line_count = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if line_count == record_count and data.count(b"\r") == data.count(b"\r\n"):
        return {number: number for number in numbers}  # one line per record, no blank line
    wanted = set(numbers)
    lines: dict[int, int] = {}
    try:
        with csv_field_size_unlimited():
            for number, line, _ in csv_records(io.BytesIO(data), separator):
                if number in wanted:
                    lines[number] = line
    except csv.Error:
        return {}
    return lines


@contextmanager
def csv_field_size_unlimited() -> Iterator[None]:
    """The csv module without its 128 KiB field limit (pyarrow has none), restored afterwards."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def is_valid_text(value: str) -> bool:
    """False for text holding undecodable bytes kept by `surrogateescape`."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _reject_constant(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON")


def ndjson_line_problem(line: bytes) -> str | None:
    """Why one NDJSON line is not a record (not UTF-8, not JSON, not an object), or None when it is one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as error:
        return f"not valid UTF-8 at byte {error.start + 1}"
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error.msg} at column {error.colno}"
    except ValueError as error:  # NaN, Infinity: accepted by Python's json, not by JSON (nor Polars)
        return f"not valid JSON: {error}"
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
            type(value), "a number"
        )
        return f"{kind} where a JSON object was expected"
    return None


def first_line(error: Exception) -> str:
    """An error's message without the context Polars adds on the following lines."""
    return (str(error).splitlines() or [type(error).__name__])[0]
