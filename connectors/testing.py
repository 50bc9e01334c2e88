"""The connector contract test kit: one call runs a connector against a fixture and checks what the
pipeline relies on. Use it in a connector's own tests (pytest or any runner):

    from connectors.testing import check_contract

    def test_my_connector_keeps_the_contract(my_fixture_source):
        check_contract(
            MyConnector("crm", MyConnector.Options(url=my_fixture_source.url, token_env="CRM_TOKEN"), Path(".")),
            window=ExtractWindow(date(2026, 3, 1), date(2026, 3, 3)),
            empty_window=ExtractWindow(date(1999, 1, 1), date(1999, 1, 1)),
            date_column="closed_on",
            broken=MyConnector("crm", MyConnector.Options(url=..., token_env="WRONG"), Path(".")),
            secrets=[os.environ["CRM_TOKEN"]],
        )

The contract (`connectors.base` says how each piece is used):
1. `name`, `description` and an `Options` model (a `ConnectorOptions`: unknown keys refused).
2. `extract` yields Polars frames; every frame has the same columns and types, and exactly
   `declared_schema()` when the connector declares one. The bad-record columns
   (`_kpi_record_problem`/`_kpi_raw_record`, both String) are left out of the comparison, and must be
   left out of `declared_schema()`: a frame carries them only when it has a bad record.
3. Only the window's rows: when a connector says it filtered at the source (`window_pushed_down`),
   every row with a readable date in `date_column` (a date, a timestamp, or text starting with an ISO
   date, taken as written) falls within the window's source bounds (one day of slack each side, and
   `lookback_days` more before); rows without a readable date are allowed (the mapping quarantines
   them). A connector that says it did not filter must give the same rows for every window.
4. Deterministic reruns: extracting the same window again gives the same rows (in any order).
5. An empty window (a window with no source rows) gives no rows when the connector filtered at the
   source, and frames of the declared schema (at least one, when it declares one).
6. A failing source raises `SourceError` whose message names the source and holds none of `secrets`
   (also checked in every `window_note` and every log record written meanwhile, at any level).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl
from pydantic import ValidationError

from connectors.base import (
    RAW_RECORD_COLUMN,
    RECORD_PROBLEM_COLUMN,
    Connector,
    ConnectorOptions,
    ExtractWindow,
    SourceError,
)

PROTOCOL_COLUMNS = (RECORD_PROBLEM_COLUMN, RAW_RECORD_COLUMN)


class ContractViolation(AssertionError):
    """The connector breaks the contract: the message lists every rule broken."""


@dataclass
class ContractReport:
    """What `check_contract` saw, for a test to assert more on or to print."""

    rows: int = 0
    """Rows of the window (all frames)."""
    frames: int = 0
    schema: dict[str, pl.DataType] = field(default_factory=dict)
    """The frames' columns and types (protocol columns aside)."""
    pushed_down: bool = False
    """The connector said it filtered the window at the source."""
    empty_window_rows: int = 0
    error: str | None = None
    """The message of the broken source's SourceError."""


def check_contract(
    connector: Connector,
    *,
    window: ExtractWindow | None,
    empty_window: ExtractWindow | None = None,
    date_column: str | None = None,
    broken: Connector | None = None,
    secrets: Sequence[str] = (),
    lookback_days: int = 0,
) -> ContractReport:
    """Run `connector` as the pipeline does and check the contract (the module's docstring).

    `window`: a window the fixture has rows in (None for an undated snapshot source); `empty_window`: one
    it has none in; `date_column`: the source column the window filters on; `broken`: the same connector
    pointed at a source that fails (wrong credentials, a missing file); `secrets`: values no message or
    log record may hold; `lookback_days`: days before the window a connector filtering at the source
    may also return (an updated-since parameter's lookback). Returns a ContractReport; raises
    ContractViolation listing every rule broken."""
    with _captured_logs() as logs:
        report, problems = _run_checks(
            connector, window, empty_window, date_column, broken, secrets, lookback_days
        )
    problems += _secret_problems("\n".join(logs), secrets, "a log record")
    if problems:
        raise ContractViolation(
            f"connector {connector.name!r} (source {connector.source_name!r}) breaks the contract:\n- "
            + "\n- ".join(problems)
        )
    return report


def _run_checks(
    connector: Connector,
    window: ExtractWindow | None,
    empty_window: ExtractWindow | None,
    date_column: str | None,
    broken: Connector | None,
    secrets: Sequence[str],
    lookback_days: int,
) -> tuple[ContractReport, list[str]]:
    problems: list[str] = []
    report = ContractReport()
    _check_declaration(type(connector), problems)
    declared = connector.declared_schema()
    if declared is not None and any(name in declared for name in PROTOCOL_COLUMNS):
        problems.append(
            f"declared_schema() holds {', '.join(name for name in PROTOCOL_COLUMNS if name in declared)}: leave the "
            "bad-record columns out of it (a frame carries them only when it has a bad record)"
        )
        declared = {name: dtype for name, dtype in declared.items() if name not in PROTOCOL_COLUMNS}

    first = _extract(connector, window, date_column, "the window", problems)
    rows = None
    if first is not None:
        report.frames, report.pushed_down = len(first), connector.window_pushed_down
        schemas = [_schema(frame) for frame in first]
        report.schema = schemas[0] if schemas else dict(declared or {})
        if any(schema != schemas[0] for schema in schemas):
            problems.append(f"the frames of one extract differ in columns or types: {_distinct(schemas)}")
        if declared is not None:
            wrong = [schema for schema in schemas if schema != declared]
            if wrong:
                problems.append(
                    f"a frame's columns are {_show(wrong[0])}, not the declared {_show(declared)}"
                )
        problems += _protocol_problems(first)
        rows = _concat(first)
        report.rows = rows.height
        if rows.height == 0:
            problems.append("the window gave no rows: pick a window the fixture has rows in")
        if window is not None and connector.window_pushed_down:
            problems += _outside_window(rows, window, date_column, lookback_days)
        problems += _secret_problems(connector.window_note, secrets, "its window_note")

        again = _extract(connector, window, date_column, "the window again", problems)
        if again is not None and not _same_rows(rows, _concat(again)):
            problems.append("extracting the same window twice gave different rows")

    if empty_window is not None:
        empty = _extract(connector, empty_window, date_column, "the empty window", problems)
        if empty is not None:
            empty_rows = _concat(empty)
            report.empty_window_rows = empty_rows.height
            if connector.window_pushed_down:
                problems += _outside_window(empty_rows, empty_window, date_column, lookback_days)
            elif rows is not None and not report.pushed_down and not _same_rows(rows, empty_rows):
                problems.append(
                    "two windows gave different rows, but the connector says it did not filter at the source: set "
                    "window_pushed_down = True when it does (else the pipeline takes the rows it did not read as gone)"
                )
            if declared is not None:
                if not empty:
                    problems.append(
                        "the empty window yielded no frame: yield an empty frame of the declared schema"
                    )
                wrong = [_schema(frame) for frame in empty if _schema(frame) != declared]
                if wrong:
                    problems.append(
                        f"the empty window's frame has {_show(wrong[0])}, not the declared {_show(declared)}"
                    )
            elif (
                report.schema
                and empty
                and any(_schema(frame) and _schema(frame) != report.schema for frame in empty)
            ):
                problems.append("the empty window's frames have other columns or types than the window's")

    if broken is not None:
        try:
            for _ in broken.extract(window, date_column):
                pass
            problems.append("the broken source raised no error")
        except SourceError as error:
            report.error = str(error)
            if repr(broken.source_name) not in report.error and broken.source_name not in report.error:
                problems.append(
                    f"the broken source's error does not name the source {broken.source_name!r}: {error}"
                )
            problems += _secret_problems(report.error, secrets, "the broken source's error")
        except Exception as error:  # noqa: BLE001 - any other exception breaks the contract
            problems.append(
                f"the broken source raised {type(error).__name__}, not SourceError"
                + ("" if _holds_secret(str(error), secrets) else f": {error}")
            )

    return report, problems


def day_bounds(window: ExtractWindow) -> tuple[date, date]:
    """The first and last day a connector filtering at the source may return (one day of slack)."""
    first, after_last = window.source_bounds()
    return first, after_last - timedelta(days=1)


def _check_declaration(connector: type[Connector], problems: list[str]) -> None:
    for attribute in ("name", "description", "Options"):
        if not getattr(connector, attribute, None):
            problems.append(f"{connector.__name__} does not set {attribute}")
    options = getattr(connector, "Options", None)
    if options is None:
        return
    if not (isinstance(options, type) and issubclass(options, ConnectorOptions)):
        problems.append(f"{connector.__name__}.Options is not a connectors.base.ConnectorOptions")
        return
    try:
        options.model_validate({"_no_such_option": 1})
        problems.append(f"{connector.__name__}.Options accepts an unknown key")
    except ValidationError as error:
        if not any(problem["type"] == "extra_forbidden" for problem in error.errors()):
            problems.append(f"{connector.__name__}.Options does not refuse unknown keys")


def _extract(
    connector: Connector,
    window: ExtractWindow | None,
    date_column: str | None,
    what: str,
    problems: list[str],
) -> list[pl.DataFrame] | None:
    try:
        frames = []
        for frame in connector.extract(window, date_column):
            if isinstance(frame, pl.LazyFrame):
                frame = frame.collect()
            if not isinstance(frame, pl.DataFrame):
                problems.append(f"extract of {what} yielded a {type(frame).__name__}, not a Polars frame")
                return None
            frames.append(frame)
        return frames
    except SourceError as error:
        problems.append(f"extract of {what} failed: {error}")
    return None


def _schema(frame: pl.DataFrame) -> dict[str, pl.DataType]:
    return {name: dtype for name, dtype in frame.schema.items() if name not in PROTOCOL_COLUMNS}


def _show(schema: dict[str, pl.DataType]) -> str:
    return "{" + ", ".join(f"{name}: {dtype}" for name, dtype in schema.items()) + "}"


def _distinct(schemas: list[dict[str, pl.DataType]]) -> str:
    shown = list(dict.fromkeys(_show(schema) for schema in schemas))
    return " vs ".join(shown[:2])


def _protocol_problems(frames: list[pl.DataFrame]) -> list[str]:
    problems = []
    for frame in frames:
        present = [name for name in PROTOCOL_COLUMNS if name in frame.columns]
        if present and len(present) != 2:
            problems.append(f"a frame has {present[0]} without {set(PROTOCOL_COLUMNS) - set(present)}")
        if any(frame.schema[name] != pl.String() for name in present):
            problems.append("the bad-record columns must be String")
    return problems


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [frame.select(_schema(frame).keys()) for frame in frames]
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")


def _days(rows: pl.DataFrame, date_column: str | None) -> pl.Series | None:
    """The readable day of each row's date column (null where unreadable), or None without one."""
    if date_column is None or date_column not in rows.columns:
        return None
    column = rows[date_column]
    if isinstance(column.dtype, pl.Date):
        return column
    if isinstance(column.dtype, pl.Datetime):
        return column.dt.date()
    if isinstance(column.dtype, pl.String):
        # the day as written (an ISO date, or a timestamp's date before its time and offset)
        return column.str.strip_chars().str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
    return None


def _outside_window(
    rows: pl.DataFrame, window: ExtractWindow, date_column: str | None, lookback_days: int
) -> list[str]:
    if date_column is None or rows.height == 0:
        return []
    if date_column not in rows.columns:
        return [f"the frames have no column {date_column!r} (date_column)"]
    days = _days(rows, date_column)
    if days is None:
        return [
            f"cannot check the window: {date_column!r} is {rows.schema[date_column]}, not a date, a timestamp "
            "or ISO text"
        ]
    first, last = day_bounds(window)
    first -= timedelta(days=lookback_days)
    outside = days.filter(days.is_not_null() & ((days < first) | (days > last)))
    if outside.is_empty():
        return []
    shown = ", ".join(str(day) for day in sorted(set(outside.to_list()))[:3])
    return [
        f"the connector says it filtered {window.start} .. {window.end} at the source, but returned "
        f"{outside.len()} row(s) dated outside {first} .. {last}: {shown}"
    ]


@contextmanager
def _captured_logs() -> Iterator[list[str]]:
    """Every log record (any logger, any level) while the block runs, as text."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _same_rows(left: pl.DataFrame, right: pl.DataFrame) -> bool:
    if left.schema != right.schema or left.height != right.height:
        return False
    columns = [name for name, dtype in left.schema.items() if dtype.is_nested() is False]
    return left.sort(columns, nulls_last=True).equals(right.sort(columns, nulls_last=True))


def _holds_secret(text: str | None, secrets: Sequence[str]) -> bool:
    return text is not None and any(secret and secret in text for secret in secrets)


def _secret_problems(text: str | None, secrets: Sequence[str], where: str) -> list[str]:
    return [f"{where} holds a secret"] if _holds_secret(text, secrets) else []
