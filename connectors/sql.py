"""The `sql` connector: a table or a query from any database SQLAlchemy reaches.

Statements are built with SQLAlchemy (names quoted per dialect, values bound), never by formatting
text. A dated extract pushes its day window down to the database only where that is known to be
right: a column the database types as a date or timestamp, ISO text on SQLite, or a column the
config vouches for (`filter_at_source: true`). A window pushed down also reads every row that has
no usable date (null; on MySQL/MariaDB also zero and partial dates), whatever the window: the mapping
quarantines those once, as rows of no day, instead of losing them. Otherwise every row is read and the
mapping (`assets/sources/transforms.py`) cuts the window after parsing the dates. Frames are built one
column at a time from the driver's values, so a value Polars cannot hold is reported with its column;
a column whose values are of mixed types (text among numbers, a MySQL partial date among dates) is
delivered as text, for the mapping to apply `null_values` and type each row. A value the driver
itself cannot fetch (a PostgreSQL date of 'infinity', an interval longer than Python's,
...) fails the whole fetch without a column: on that error path only, the statement is read again one
column at a time to name the column and an example value (`SqlConnector.fetch_failure`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus

import polars as pl
import sqlalchemy as sa
from pydantic import ConfigDict, Field, model_validator

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError
from connectors.values import EXACT_FLOAT_INTEGER, exact_text, sample

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
"""What `table` and `date_column` accept: a plain `name` or `schema.name` (quoted per dialect later)."""
MAPPED_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_ ]*$")
"""How the mapping tells a source column's name from an expression (as in assets/sources/transforms.py)."""
ISO_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
"""SQLite text that starts like an ISO date (2026-01-05, 2026-01-05T10:00:00, ...) compares as a date."""
MYSQL_ZERO_DATE = re.compile(r"^0000-00-00( 00:00:00(\.0+)?)?$")
"""MySQL/MariaDB's "no date": drivers hand it over as text (PyMySQL) or None; it reads as null."""
MYSQL_NO_DATE_BEFORE = date(1000, 1, 1)
"""MySQL/MariaDB's first supported date: a date column's values before it are zero dates (0000-00-00)
or dates of year 0, which no driver reads as dates."""
MYSQL_DATE_TYPE_CODES = frozenset({7, 10, 12, 14})
"""TIMESTAMP, DATE, DATETIME, NEWDATE in the MySQL protocol (the cursor's type codes, in any driver)."""
DESCRIBED_TYPES: dict[str, dict[int, pl.DataType]] = {
    # MySQL protocol field types (PyMySQL, mysqlclient, mysql-connector, mariadb).
    "mysql": {
        1: pl.Int64(),
        2: pl.Int64(),
        3: pl.Int64(),
        4: pl.Float64(),
        5: pl.Float64(),
        7: pl.Datetime("us"),
        8: pl.Int64(),
        9: pl.Int64(),
        10: pl.Date(),
        11: pl.Duration("us"),
        12: pl.Datetime("us"),
        13: pl.Int64(),
        14: pl.Date(),
        15: pl.String(),
        253: pl.String(),
        254: pl.String(),
    },
    # PostgreSQL type OIDs (psycopg, asyncpg, pg8000).
    "postgresql": {
        16: pl.Boolean(),
        20: pl.Int64(),
        21: pl.Int64(),
        23: pl.Int64(),
        25: pl.String(),
        700: pl.Float64(),
        701: pl.Float64(),
        1042: pl.String(),
        1043: pl.String(),
        1082: pl.Date(),
        1083: pl.Time(),
        1114: pl.Datetime("us"),
        1184: pl.Datetime("us", "UTC"),
    },
}
"""The Polars type of a column the cursor describes by these type codes, for a column without
reflected type (a query's) that holds only nulls, or an empty result."""
DESCRIBED_DECIMAL_CODES = {"mysql": frozenset({0, 246}), "postgresql": frozenset({1700})}
QUERY_ALIAS = "source_query"
TEXT_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")
"""What `sa.text` takes for a bound parameter (as sqlalchemy.sql.elements.TextClause._bind_params_regex)."""
TEXT_BIND_ESCAPE = re.compile(r"\\(:\w*)(?![:\w])")
"""What `sa.text` unescapes to a literal colon (as sqlalchemy.sql.compiler.BIND_PARAMS_ESC)."""
INFINITIES = frozenset({"infinity", "-infinity"})
"""PostgreSQL's dates and timestamps beyond every other, as it writes them as text."""
INFINITY_IN_MESSAGE = re.compile(r"'-?infinity'", re.IGNORECASE)
"""How psycopg names them in its error when the example cannot be found."""
SECRET_QUERY_KEY = re.compile(r"password|pwd|secret|token", re.IGNORECASE)
"""A URL query parameter whose value is a secret (`sslpassword`, `PWD`, `access_token`, ...)."""
SECRET_QUERY_KEYS_WHOLE = frozenset({"odbc_connect"})
"""Query parameters that are a whole connection string (which may hold a password): masked whole."""
MASK = "***"


class SqlOptions(ConnectorOptions):
    # A URL refused for holding a secret must not be echoed by the error's text (errors() still has it).
    model_config = ConfigDict(hide_input_in_errors=True)

    url: str
    """A SQLAlchemy URL. A relative SQLite/DuckDB path is relative to the config file."""
    password_env: str | None = None
    """The environment variable holding the password; never put the password in the config."""
    table: str | None = None
    """A table (or `schema.table`) to read; or give `query`. Names are case-sensitive where the database's are."""
    query: str | None = None
    """A SELECT to read; a dated extract wraps it as a subquery (filtered only with `filter_at_source: true`)."""
    date_column: str | None = None
    """The source column the window filters on; defaults to the column mapped to the entity's date."""
    filter_at_source: bool | None = None
    """Push the day window down to the database: unset = when the table's date column is a date or
    timestamp (on SQLite: ISO text); true = you vouch that it is a date, a timestamp or ISO text (needed
    for a query); false = never, every row is read and the window cut after parsing."""
    batch_size: int = Field(default=500_000, gt=0)
    """Rows per frame while streaming a large extract."""

    @model_validator(mode="after")
    def no_password_in_the_url(self) -> SqlOptions:
        try:
            url = sa.make_url(self.url)
        except sa.exc.ArgumentError:
            raise ValueError(
                "url: expected a SQLAlchemy URL like postgresql+psycopg://reader@host/db"
            ) from None
        if url.password is not None:
            raise ValueError(
                "url holds a password: remove it, and name the variable holding it in password_env"
            )
        secret_keys = sorted(key for key in url.query if is_secret_key(key))
        if secret_keys:
            raise ValueError(
                f"url holds a secret in its query string ({', '.join(secret_keys)}): remove it, and "
                f"name the variable holding the password in password_env"
            )
        return self

    @model_validator(mode="after")
    def one_of_table_or_query(self) -> SqlOptions:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of `table` or `query`")
        if self.table is not None and not IDENTIFIER.match(self.table):
            raise ValueError(f"table {self.table!r} is not a plain [schema.]name")
        if self.date_column is not None and not IDENTIFIER.match(self.date_column):
            raise ValueError(f"date_column {self.date_column!r} is not a plain column name")
        return self


@dataclass(frozen=True)
class ReadPlan:
    """What one extract runs: the statement, the SQL types reflected for its columns, and the window
    decision (`note` says why, for the run's metadata)."""

    statement: sa.Select[Any] | sa.CompoundSelect
    column_types: dict[str, sa.types.TypeEngine[Any]] = field(default_factory=dict)
    pushed_down: bool = False
    note: str | None = None


class UndecodedText(bytes):
    """SQLite text that is not valid UTF-8, kept as its bytes so the failure can name its column."""


def literal_text(sql: str) -> str:
    """`sql` escaped for `sa.text` so that it renders unchanged: `:name` stays text, not a parameter."""
    return TEXT_BIND.sub(r"\\:\1", TEXT_BIND_ESCAPE.sub(r"\\\\\1", sql))


def polars_type(sql_type: sa.types.TypeEngine[Any] | None, dialect_name: str) -> pl.DataType | None:
    """The Polars type a column of `sql_type` takes when it has values, or None when not known.

    Used for columns that hold only nulls (and for empty results). SQLite has no date, time or decimal
    storage: its drivers return text and numbers there, so those types map to what comes back.
    """
    if sql_type is None:
        return None
    sqlite = dialect_name == "sqlite"
    if isinstance(sql_type, sa.Boolean):
        return pl.Boolean()
    if isinstance(sql_type, sa.Integer):
        return pl.Int64()
    if isinstance(sql_type, sa.Float):
        return pl.Float64()
    if isinstance(sql_type, sa.Numeric):
        scale = sql_type.scale
        if sqlite or not sql_type.asdecimal or scale is None or not 0 <= scale <= 38:
            return pl.Float64()
        return pl.Decimal(38, scale)
    if isinstance(sql_type, sa.DateTime | sa.Date | sa.Time) and sqlite:
        return pl.String()
    if isinstance(sql_type, sa.DateTime):
        return pl.Datetime("us", "UTC" if sql_type.timezone else None)
    if isinstance(sql_type, sa.Date):
        return pl.Date()
    if isinstance(sql_type, sa.Time):
        return pl.Time()
    if isinstance(sql_type, sa.Interval):
        return pl.Duration("us")
    if isinstance(sql_type, sa.LargeBinary):
        return pl.Binary()
    if isinstance(sql_type, sa.String):
        return pl.String()
    return None


def described_type(dialect_name: str, type_code: object, scale: object) -> pl.DataType | None:
    """The Polars type of a column the cursor describes as `type_code` (with `scale` for a decimal),
    or None when not known (SQLite describes no types)."""
    if not isinstance(type_code, int):
        return None
    if type_code in DESCRIBED_DECIMAL_CODES.get(dialect_name, ()):
        return pl.Decimal(38, scale) if isinstance(scale, int) and 0 <= scale <= 38 else pl.Float64()
    return DESCRIBED_TYPES.get(dialect_name, {}).get(type_code)


def is_secret_key(key: str) -> bool:
    """A URL query parameter whose value is a secret, or may hold one (`odbc_connect`)."""
    return key.lower() in SECRET_QUERY_KEYS_WHOLE or bool(SECRET_QUERY_KEY.search(key))


def masked_url(url: sa.URL) -> str:
    """`url` as text without its secrets: the password and every secret query parameter as ***."""
    placeholder = "KPIMASKEDSECRET"
    query = {key: (placeholder if is_secret_key(key) else value) for key, value in url.query.items()}
    text = url.set(query=query).render_as_string(hide_password=True)
    return text.replace(placeholder, MASK)


def url_secrets(url: sa.URL) -> list[str]:
    """The secrets `url` holds: its password, the values of its secret query parameters, and within an
    `odbc_connect` connection string the values of its secret keys (PWD=...); longest first."""
    secrets = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if not is_secret_key(key):
            continue
        for item in (value,) if isinstance(value, str) else value:
            secrets.append(item)
            for part in item.split(";"):
                name, equals, inner = part.partition("=")
                if equals and is_secret_key(name.strip()):
                    secrets.append(inner.strip().strip("{}"))
    return sorted({secret for secret in secrets if secret}, key=len, reverse=True)


def is_date_type(sql_type: sa.types.TypeEngine[Any] | None) -> bool:
    """A date or a timestamp type (DATE, DATETIME, TIMESTAMP and their dialects' subclasses)."""
    return isinstance(sql_type, sa.Date | sa.DateTime)


class SqlConnector(Connector):
    """Reads `options.table` or `options.query` through SQLAlchemy and yields Polars frames.

    `extract` yields one frame per `batch_size` rows (one empty frame, with the columns' names, for an
    empty result) and sets `window_pushed_down` and `window_note` to what it decided about the window.
    Every failure (connection, SQL, a value the driver cannot fetch, a value no column type can hold)
    is a `SourceError` naming the source, and where it is about values the column and an example value;
    never the password.
    """

    name = "sql"
    description = (
        "A table or a query from any SQLAlchemy URL; dated extracts filter at the source on a date "
        "or timestamp column."
    )
    Options = SqlOptions
    options: SqlOptions

    def engine(self) -> sa.Engine:
        """An engine for `options.url`, the password from `password_env`, a relative SQLite/DuckDB path
        resolved against the config's folder. Raises SourceError when `password_env` is not set."""
        url = sa.make_url(self.options.url)
        if url.get_backend_name() in ("sqlite", "duckdb") and url.database not in (None, "", ":memory:"):
            url = url.set(database=str(self.resolve_path(url.database)))
        if self.options.password_env:
            if self.options.password_env not in os.environ:
                raise SourceError(
                    f"source {self.source_name!r}: environment variable {self.options.password_env!r} "
                    f"(options.password_env) is not set"
                )
            url = url.set(password=os.environ[self.options.password_env])
        try:
            engine = sa.create_engine(url)
        except Exception as error:  # an unknown dialect, a driver that is not installed
            raise self.failure(url, error) from None
        if engine.dialect.name == "sqlite" and engine.dialect.driver == "pysqlite":
            sa.event.listen(engine, "connect", _keep_undecodable_text)
        return engine

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        """Yield the source's rows as frames of at most `batch_size` rows, with the driver's types
        (Decimal columns stay `pl.Decimal`; text dates stay text).

        With a `window`, the rows of `window.source_bounds()` and those of no usable date (see
        `pushed`) when the window is pushed down, else every row (the mapping cuts the window). `source_date_column` is the mapping of the entity's
        date: a column name, or an expression (then the window is not pushed down unless
        `options.date_column` names a column). Raises SourceError.
        """
        self.window_pushed_down = False
        self.window_note = None
        engine = self.engine()
        try:
            with self.reporting(engine.url):
                connection = engine.connect()
            with connection:
                with self.reporting(engine.url):
                    plan = self.plan(connection, window, source_date_column)
                    self.window_pushed_down, self.window_note = plan.pushed_down, plan.note
                # Some drivers convert the rows while executing, others while fetching.
                fetch_error: Exception | None = None
                try:
                    result = connection.execution_options(yield_per=self.options.batch_size).execute(
                        plan.statement
                    )
                except Exception as error:
                    fetch_error = error
                else:
                    frames = self.frames(result, plan.column_types, connection.dialect.name)
                    while True:
                        try:
                            frame = next(frames, None)
                        except SourceError:
                            raise
                        except Exception as error:
                            fetch_error = error
                            break
                        if frame is None:
                            break
                        yield frame
            if fetch_error is not None:
                # Outside the failed connection (its transaction may be aborted): find the column.
                raise self.fetch_failure(engine, plan, fetch_error) from None
        finally:
            engine.dispose()

    def plan(
        self, connection: sa.Connection, window: ExtractWindow | None, source_date_column: str | None
    ) -> ReadPlan:
        """The statement for this extract and the window decision; reflects a table's columns."""
        dialect = connection.dialect.name
        column_types: dict[str, sa.types.TypeEngine[Any]] = {}
        not_null: set[str] = set()
        statement: sa.Select[Any]
        if self.options.table is not None:
            schema, _, name = self.options.table.rpartition(".")
            try:
                reflected = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=connection)
            except (sa.exc.NoSuchTableError, sa.exc.DBAPIError) as error:
                # Not visible to reflection, or a dialect whose reflection fails (duckdb_engine on
                # SQLAlchemy 2.1): read it untyped, and let the database say what is wrong if the
                # table cannot be read either.
                if isinstance(error, sa.exc.DBAPIError):
                    connection.rollback()
                source: sa.FromClause = sa.table(name, schema=schema or None)
                statement = sa.select(sa.literal_column("*")).select_from(source)
            else:
                column_types = {column.name: column.type for column in reflected.columns}
                not_null = {column.name for column in reflected.columns if not column.nullable}
                # Lightweight columns: quoted like the table's, but the driver's values come through
                # untouched (no SQLAlchemy result processing that could fail without naming a column).
                source = sa.table(
                    name, *(sa.column(column) for column in column_types), schema=schema or None
                )
                statement = sa.select(*source.columns)
        else:
            query = str(self.options.query).strip().rstrip(";").strip()
            # The query is the user's SQL, not a template: `:name` in it is text, not a parameter.
            source = sa.text(literal_text(query)).columns().subquery(QUERY_ALIAS)
            statement = sa.select(sa.literal_column("*")).select_from(source)
        if window is None:
            return ReadPlan(statement, column_types)

        column = self.options.date_column or source_date_column
        not_pushed = "; all rows read and cut after parsing"
        if self.options.filter_at_source is False:
            return ReadPlan(
                statement, column_types, note=f"window not pushed down: filter_at_source is false{not_pushed}"
            )
        if column is None:
            return ReadPlan(
                statement, column_types, note=f"window not pushed down: no date column is mapped{not_pushed}"
            )
        if not MAPPED_COLUMN.match(column):
            return ReadPlan(
                statement,
                column_types,
                note=f"window not pushed down: the date is the expression {column!r}, not a column "
                f"(set options.date_column to filter on one){not_pushed}",
            )
        if self.options.table is not None and column_types and column not in column_types:
            return ReadPlan(
                statement,
                column_types,
                note=f"window not pushed down: {column} is not a column of {self.options.table}{not_pushed}",
            )

        # A table's column qualified by the table; a query's by nothing (its columns are not declared).
        date_column = source.c[column] if column in source.c else sa.column(column)
        sql_type = column_types.get(column)
        type_name = _type_name(sql_type, connection.dialect) if sql_type is not None else None
        if self.options.filter_at_source:
            reason = "filter_at_source is true" + (f", {type_name}" if type_name else "")
            return self.pushed(
                statement,
                column_types,
                date_column,
                window,
                is_date_type(sql_type),
                reason,
                dialect,
                column not in not_null,
            )
        if not column_types:
            return ReadPlan(
                statement,
                column_types,
                note=f"window not pushed down: the type of {column} is not known (a query, or an "
                f"unreflected table; set filter_at_source: true if it is a date, a timestamp or ISO "
                f"text){not_pushed}",
            )
        if dialect == "sqlite":
            # The GLOB checks the shape of an ISO date, not that it is one: '2026-02-30' passes. That is
            # fine: such text is compared as text, so it comes back when it sorts inside the window's
            # bounds, and the mapping quarantines its row as an unreadable date (type:<column>).
            bad, example = connection.execute(
                sa.select(sa.func.count(), sa.func.min(date_column))
                .select_from(source)
                .where(date_column.is_not(None), sa.not_(date_column.op("GLOB")(ISO_DATE_GLOB)))
            ).one()
            if bad == 0:
                return self.pushed(
                    statement,
                    column_types,
                    date_column,
                    window,
                    False,
                    "ISO text",
                    dialect,
                    column not in not_null,
                )
            return ReadPlan(
                statement,
                column_types,
                note=f"window not pushed down: {column} is {type_name} on SQLite and {bad} value(s) are "
                f"not ISO dates (e.g. {sample(example)}){not_pushed}",
            )
        if is_date_type(sql_type):
            return self.pushed(
                statement,
                column_types,
                date_column,
                window,
                True,
                str(type_name),
                dialect,
                column not in not_null,
            )
        return ReadPlan(
            statement, column_types, note=f"window not pushed down: {column} is {type_name}{not_pushed}"
        )

    def pushed(
        self,
        statement: sa.Select[Any],
        column_types: dict[str, sa.types.TypeEngine[Any]],
        date_column: sa.ColumnElement[Any],
        window: ExtractWindow,
        as_dates: bool,
        reason: str,
        dialect: str,
        nullable: bool = True,
    ) -> ReadPlan:
        """The statement filtered on [first day, day after the last) of `window.source_bounds()`, and
        every row that has no usable date, whatever the window: `col IS NULL`, and on MySQL/MariaDB
        zero and partial dates (0000-00-00, 2026-00-10, 2026-01-00: before 1000-01-01, or with a zero
        month or day), which SQL does not see as null. Those rows have no day: each window's extract
        holds them, and the mapping quarantines them once, under no day (`missing:` or `type:`).

        Bound as dates for a date or timestamp column; else as untyped ISO text, which the database
        compares as text (SQLite, text columns) or casts to the column's type (PostgreSQL, MySQL)."""
        first, after_last = window.source_bounds()
        bound_type: sa.types.TypeEngine[Any] = sa.Date() if as_dates else sa.types.NullType()

        def bound(name: str, day: date) -> sa.BindParameter[Any]:
            return sa.bindparam(name, day if as_dates else day.isoformat(), type_=bound_type)

        no_date: list[sa.ColumnElement[bool]] = [date_column.is_(None)]
        if dialect == "mysql":
            no_date += [
                date_column < bound("no_date_before", MYSQL_NO_DATE_BEFORE),
                sa.func.month(date_column) == 0,
                sa.func.dayofmonth(date_column) == 0,
            ]
        in_window = sa.and_(
            date_column >= bound("first_day", first), date_column < bound("after_last_day", after_last)
        )
        if len(no_date) > 1:  # a MySQL partial date (2026-02-00) may sort inside the window: not twice
            in_window = in_window & sa.not_(sa.or_(*no_date[1:]))
        elif not nullable:  # a NOT NULL column (outside MySQL) has no row without a date to add
            no_date = []
        # Two selects, not one with OR: an OR of the window and IS NULL keeps SQLite from the date's
        # index (a scan of every row, the whole history, to read one day).
        windowed = statement.where(in_window)
        return ReadPlan(
            sa.union_all(windowed, statement.where(sa.or_(*no_date))) if no_date else windowed,
            column_types,
            pushed_down=True,
            note=f"window pushed down on {date_column.key} ({reason})",
        )

    def frames(
        self, result: sa.CursorResult[Any], column_types: dict[str, sa.types.TypeEngine[Any]], dialect: str
    ) -> Iterator[pl.DataFrame]:
        """One frame per partition of the result, built column by column (see `build_column`)."""
        names = list(result.keys())
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise SourceError(
                f"source {self.source_name!r}: the result has more than one column named "
                f"{', '.join(map(repr, duplicates))}; give them distinct names (AS ...)"
            )
        known_types = {
            name: dtype
            for name in names
            if (dtype := polars_type(column_types.get(name), dialect)) is not None
        }
        date_columns = {name for name in names if is_date_type(column_types.get(name))}
        description = result.cursor.description if result.cursor is not None else None
        for name, type_code, *sizes in description or ():
            described = described_type(dialect, type_code, sizes[3] if len(sizes) > 3 else None)
            if described is not None:
                known_types.setdefault(name, described)
            if dialect == "mysql" and type_code in MYSQL_DATE_TYPE_CODES:
                date_columns.add(name)
        yielded = False
        for rows in result.partitions():
            columns = []
            for index, name in enumerate(names):
                series = self.build_column(
                    name, [row[index] for row in rows], known_types.get(name), dialect, name in date_columns
                )
                if series.null_count() < series.len():
                    known_types.setdefault(name, series.dtype)
                columns.append(series)
            yielded = True
            yield pl.DataFrame(columns)
        if not yielded:
            yield pl.DataFrame(
                [pl.Series(name, [], dtype=known_types.get(name, pl.String())) for name in names]
            )

    def build_column(
        self,
        name: str,
        values: list[Any],
        null_type: pl.DataType | None,
        dialect: str,
        is_date_column: bool,
    ) -> pl.Series:
        """One column of driver values as a Series of the type its values have (`null_type`, else
        String, when all are null). Integers mixed with floats become floats when no digit is lost;
        values Polars can only hold as objects (UUIDs, ...) become text. Values of mixed types (text
        among numbers, as SQLite stores them; a MySQL partial date, which the driver hands over as
        text, among dates; an integer a float cannot hold among floats) make a text column of their
        exact texts (see `exact_text`), which the mapping types row by row. On MySQL/MariaDB a zero
        date in a date column is null. Raises SourceError naming the column and an example value for
        text that is not UTF-8, a value Polars cannot hold, or values of mixed types one of which has
        no exact text (a BLOB among numbers)."""
        if dialect == "mysql" and is_date_column:
            values = [
                None if isinstance(value, str) and MYSQL_ZERO_DATE.match(value) else value for value in values
            ]
        present = [value for value in values if value is not None]
        if not present:
            return pl.Series(name, values, dtype=null_type or pl.String())
        kinds = {type(value) for value in present}
        undecoded = next((value for value in present if isinstance(value, UndecodedText)), None)
        if undecoded is not None:
            raise self.bad_value(name, bytes(undecoded), "holds text that is not UTF-8")
        if kinds == {int, float} and all(
            abs(value) <= EXACT_FLOAT_INTEGER for value in present if isinstance(value, int)
        ):
            values = [None if value is None else float(value) for value in values]
        elif len(kinds) > 1:
            texts = [None if value is None else exact_text(value) for value in values]
            if any(text is None for text, value in zip(texts, values, strict=True) if value is not None):
                raise self.mixed_types(name, values)
            return pl.Series(name, texts, dtype=pl.String())
        not_finite = next((v for v in present if isinstance(v, Decimal) and not v.is_finite()), None)
        if not_finite is not None:
            raise self.bad_value(name, not_finite, "has a value a decimal column cannot hold")
        try:
            series = pl.Series(name, values, strict=True)
        except BaseException as error:
            if not _refused_by_polars(error):
                raise
            raise self.unholdable(name, values, error) from None
        if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone not in (None, "UTC"):
            # One zone for every batch and source (psycopg hands over the session's zone); the mapping
            # converts to the reporting time zone.
            return series.dt.convert_time_zone("UTC")
        if series.dtype == pl.Object:
            return pl.Series(
                name, [None if value is None else str(value) for value in values], dtype=pl.String()
            )
        return series

    # --- failures ------------------------------------------------------------------------------

    def mixed_types(self, column: str, values: Sequence[object]) -> SourceError:
        """The column's first value of its first type and the first value of another type."""
        present = [value for value in values if value is not None]
        first = present[0]
        other = next(value for value in present if type(value) is not type(first))
        return SourceError(
            f"source {self.source_name!r}: column {column!r} has values of mixed types: "
            f"{sample(first)} and {sample(other)}"
        )

    def bad_value(self, column: str, value: object, problem: str) -> SourceError:
        return SourceError(f"source {self.source_name!r}: column {column!r} {problem}: {sample(value)}")

    def unholdable(self, column: str, values: Sequence[object], error: BaseException) -> SourceError:
        """A value Polars refused: found by building the column one value at a time (the first value
        when each alone is accepted)."""
        present = [value for value in values if value is not None]
        offender = present[0]
        for value in present:
            try:
                pl.Series([value], strict=True)
            except BaseException as single_error:
                if not _refused_by_polars(single_error):
                    raise
                offender, error = value, single_error
                break
        return self.bad_value(column, offender, f"has a value Polars cannot hold ({_first_line(error)})")

    @contextmanager
    def reporting(self, url: sa.URL) -> Iterator[None]:
        """Turn any failure inside the block into a SourceError naming the source and the database,
        without the password, and without chaining the original (whose text may hold the URL)."""
        try:
            yield
        except SourceError:
            raise
        except Exception as error:
            raise self.failure(url, error) from None

    def failure(self, url: sa.URL, error: Exception) -> SourceError:
        cause = getattr(error, "orig", None) or error
        text = _first_line(cause) or type(cause).__name__
        if isinstance(error, sa.exc.NoSuchColumnError | sa.exc.NoSuchTableError) and cause is error:
            text = f"not found: {text}"
        return SourceError(
            scrub(
                f"source {self.source_name!r}: query on {masked_url(url)!r} "
                f"failed: {type(cause).__name__}: {text}",
                url,
            ),
            # (a server that cannot be reached or drops the connection may answer on the next try)
            transient=isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)
            or bool(getattr(error, "connection_invalidated", False)),
        )

    def fetch_failure(self, engine: sa.Engine, plan: ReadPlan, error: Exception) -> SourceError:
        """A failure while running the statement or fetching its rows (the driver could not turn a
        value into a Python one), as a SourceError naming the column, with the driver's message and an
        example value where one can be found (see `locate`); a failure no single column explains (a
        wrong query, a lost connection) is reported as `failure`."""
        url = engine.url
        try:
            located = self.locate(engine, plan.statement)
        except Exception:
            located = None
        if located is None:
            return self.failure(url, error)
        column, column_error, example, dialect = located
        cause = getattr(column_error, "orig", None) or column_error
        driver = f"{type(cause).__name__}: {_first_line(cause) or type(cause).__name__}"
        text = f"source {self.source_name!r}: column {column!r} holds a value the driver cannot read"
        text += f" ({driver})" if example is None else f": {sample(example)} ({driver})"
        infinite = (example or "").strip().lower() in INFINITIES or bool(INFINITY_IN_MESSAGE.search(driver))
        if infinite and dialect.name == "postgresql":
            quoted = dialect.identifier_preparer.quote(column)
            text += (
                f"; PostgreSQL's 'infinity' and '-infinity' have no Python date or time, and what they "
                f"mean in {column!r} (no end yet? unknown?) is for the source to say: read it through "
                f"a `query` that maps them, e.g. `CASE WHEN isfinite({quoted}) THEN {quoted} END AS "
                f"{quoted}` for null (a `columns` expression in the config runs too late: after the read)"
            )
        return SourceError(scrub(text, url))

    def locate(
        self, engine: sa.Engine, statement: sa.Select[Any] | sa.CompoundSelect
    ) -> tuple[str, Exception, str | None, sa.Dialect] | None:
        """The first column whose values `statement` cannot fetch on its own, the driver's error,
        an example of the value (as the database writes it as text, when it can) and the dialect; or
        None when the statement's rows cannot even be counted, or every column fetches on its own.

        Only on the error path: each column is read in full, one at a time; the example is found by
        halving the failing column's rows, ordered by their text, until one row is left."""
        with engine.connect() as connection:
            fetched = statement.subquery("fetched")
            total = self.probe(connection, sa.select(sa.func.count()).select_from(fetched))
            if isinstance(total, Exception):
                return None
            empty: sa.CursorResult[Any] = connection.execute(
                sa.select(sa.literal_column("*")).select_from(fetched).limit(0)
            )
            names = list(empty.keys())
            empty.close()
            if len(set(names)) < len(names):
                return None  # a column cannot be named alone (see `frames`)
            for name in names:
                column: sa.ColumnClause[Any] = sa.column(name)
                failed = self.probe(connection, sa.select(column).select_from(fetched))
                if isinstance(failed, Exception):
                    example, row_error = self.failing_value(
                        connection, fetched, column, total if isinstance(total, int) else 0
                    )
                    return name, row_error or failed, example, connection.dialect
        return None

    def failing_value(
        self, connection: sa.Connection, fetched: sa.Subquery, column: sa.ColumnClause[Any], total: int
    ) -> tuple[str | None, Exception | None]:
        """The text of one value of `column` the driver cannot fetch and the driver's error for that
        one row; (None, None) when it cannot be found (the database cannot write the column as text,
        or the fetch fails in no one row)."""
        as_text = sa.cast(column, sa.String())
        ordered = sa.select(column).select_from(fetched).order_by(as_text)
        low, high = 0, total  # a failing row is among [low, high) of the ordered rows
        if not isinstance(self.probe(connection, ordered), Exception):
            return None, None
        while high - low > 1:
            middle = (low + high) // 2
            if isinstance(self.probe(connection, ordered.offset(low).limit(middle - low)), Exception):
                high = middle
            else:
                low = middle
        row_error = self.probe(connection, ordered.offset(low).limit(1))
        value = self.probe(
            connection, sa.select(as_text).select_from(fetched).order_by(as_text).offset(low).limit(1)
        )
        if not isinstance(row_error, Exception) or not isinstance(value, str):
            return None, None
        return value, row_error

    def probe(self, connection: sa.Connection, statement: sa.Select[Any]) -> object:
        """Fetch every row of `statement`: its first row's first value, or the error (the
        transaction then rolled back, so the connection can run the next probe)."""
        first: object = None
        try:
            result = connection.execution_options(yield_per=self.options.batch_size).execute(statement)
            for index, rows in enumerate(result.partitions()):
                if index == 0 and rows:
                    first = rows[0][0]
        except Exception as error:
            connection.rollback()
            return error
        return first


def scrub(text: str, url: sa.URL) -> str:
    """`text` without the URL's secrets (its password, secret query parameters: see `masked_url`):
    the URL rendered with them becomes the URL rendered without them, and any other occurrence of a
    secret (plain or URL-quoted) becomes ***."""
    masked = masked_url(url)
    for rendered in (url.render_as_string(hide_password=False), url.render_as_string(hide_password=True)):
        text = text.replace(rendered, masked)
    for secret in url_secrets(url):
        for form in sorted({secret, quote(secret, safe=""), quote_plus(secret)}, key=len, reverse=True):
            text = text.replace(form, MASK)
    return text


def _refused_by_polars(error: BaseException) -> bool:
    """An error building a Series: any Exception, or a panic in Polars' Rust code (pyo3's
    PanicException derives from BaseException); never an interrupt or a generator's exit."""
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _type_name(sql_type: sa.types.TypeEngine[Any], dialect: sa.Dialect) -> str:
    if isinstance(sql_type, sa.types.NullType):
        return "untyped"
    try:
        return str(sql_type.compile(dialect=dialect))
    except Exception:
        return type(sql_type).__name__.upper()


def _keep_undecodable_text(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite text is decoded as UTF-8; text that is not stays bytes (UndecodedText) instead of
    failing the whole fetch, so the column building it can name its column."""
    dbapi_connection.text_factory = _decode_text


def _decode_text(raw: bytes) -> str | UndecodedText:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return UndecodedText(raw)
