"""Bulk loads and reads on the server warehouses, without a Python loop over rows on PostgreSQL.

- PostgreSQL: `copy_into` streams a frame as CSV into `COPY ... FROM STDIN` (psycopg 3's
  `cursor.copy`); `read_frame` reads `COPY (select) TO STDOUT` as CSV straight into Polars.
- MariaDB/MySQL: `insert_batched` hands pymysql's `executemany` plain tuples, which it rewrites into
  multi-row `INSERT ... VALUES (...), (...)` statements of at most `max_stmt_length` bytes (1 MB, under
  the server's `max_allowed_packet`). `read_frame` fetches the driver's tuples into a frame. pymysql
  is pure Python: without another driver (mysqlclient, connectorx, ADBC) every value of a MariaDB
  result is decoded in Python, so its reads are only a little faster than `pl.read_database`.
- `load` and `read` pick the path by dialect, and return None where there is none (DuckDB, SQLite):
  the caller keeps its own path there.

Everything runs on the caller's SQLAlchemy connection and inside its transaction (the same DBAPI
connection), so a partition's DELETE and its new rows commit or roll back together.

CSV, both ways, keeps null and the empty string apart: PostgreSQL's CSV format reads an unquoted
empty field as NULL and a quoted one (`""`) as the empty string, and Polars writes and reads them the
same way. Dates and timestamps travel as ISO 8601 (timestamps with time zone with their offset on the
way in, in UTC on the way out), booleans as true/false, floats in their shortest exact form (both
Polars and PostgreSQL 12+ print the shortest digits that read back to the same double; NaN and
±infinity pass through as `NaN`, `inf`).
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl
import sqlalchemy as sa

COPY_CHUNK_ROWS = 100_000
"""Rows per CSV chunk written to COPY: ~5 MB for an entity's rows, so the frame is never doubled in
memory as one CSV text."""

INSERT_BATCH_ROWS = 50_000
"""Rows per pymysql `executemany` call (each call is split by pymysql into statements of ~1 MB)."""

POSTGRESQL = {"postgresql"}
MYSQL = {"mysql", "mariadb"}

_COPY_TYPES: tuple[type[pl.DataType], ...] = (
    pl.String,
    pl.Boolean,
    pl.Date,
    pl.Datetime,
    pl.Time,
    pl.Decimal,
    pl.Null,
    pl.Categorical,
    pl.Enum,
)


def load(connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> bool:
    """Insert `frame` into `table` by the dialect's bulk path, inside the caller's transaction.

    Returns True when it did (PostgreSQL: `copy_into`; MariaDB/MySQL: `insert_batched`), False for a
    dialect without one (DuckDB, SQLite), where the caller inserts its own way.
    """
    name = connection.dialect.name
    if name in POSTGRESQL:
        copy_into(connection, table, frame)
        return True
    if name in MYSQL:
        insert_batched(connection, table, frame)
        return True
    return False


def read(
    connection: sa.Connection, statement: sa.Select, schema: dict[str, pl.DataType]
) -> pl.DataFrame | None:
    """`read_frame` on PostgreSQL and MariaDB/MySQL; None on another dialect (the caller reads its way)."""
    if connection.dialect.name in POSTGRESQL | MYSQL:
        return read_frame(connection, statement, schema)
    return None


def copy_into(
    connection: sa.Connection, table: sa.Table, frame: pl.DataFrame, chunk_rows: int = COPY_CHUNK_ROWS
) -> None:
    """Append `frame`'s rows to `table` on PostgreSQL with `COPY table (frame's columns) FROM STDIN`.

    `frame`: columns named as (a subset of) `table`'s columns, of Polars types PostgreSQL reads from
    CSV text: strings, booleans, integers, floats, decimals, dates, times, datetimes (with a time
    zone for `timestamptz` columns: they are written with their offset). Columns left out take their
    defaults. Runs on `connection`'s DBAPI connection inside its transaction (one is begun if none
    is open, as SQLAlchemy's autobegin would), so nothing is visible or kept until the caller commits.

    Raises ValueError (a column the table lacks), TypeError (a Polars type without a CSV form
    PostgreSQL reads, e.g. lists, structs, binary), and the SQLAlchemy error of the failing row
    (`sa.exc.DataError` for a value too long, `sa.exc.IntegrityError` for a null in a NOT NULL
    column...), as `connection.execute(table.insert(), ...)` would: the transaction is then failed
    and the caller's rollback undoes the partition's DELETE too.
    """
    _require_dialect(connection, POSTGRESQL, "copy_into")
    frame = _copy_ready(table, frame)
    if frame.is_empty():
        return
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in frame.columns)
    statement = (
        f"COPY {preparer.format_table(table)} ({columns}) FROM STDIN WITH (FORMAT csv, ENCODING 'UTF8')"
    )
    driver = _driver_connection(connection)
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for chunk in frame.iter_slices(chunk_rows):
                buffer = io.BytesIO()
                chunk.write_csv(buffer, include_header=False)
                copy.write(buffer.getbuffer())
    except driver_error(connection) as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error(connection)) from error


def insert_batched(
    connection: sa.Connection, table: sa.Table, frame: pl.DataFrame, batch_rows: int = INSERT_BATCH_ROWS
) -> None:
    """Append `frame`'s rows to `table` on MariaDB/MySQL with multi-row INSERTs, inside the caller's
    transaction (one is begun if none is open).

    `INSERT INTO table (columns) VALUES (%s, ...)` goes to pymysql's `executemany` with the rows as
    tuples, `batch_rows` at a time: pymysql rewrites it into `VALUES (...), (...), ...` statements of
    at most its `max_stmt_length` (1,024,000 bytes, under MariaDB's default `max_allowed_packet` of
    16 MB). SQLAlchemy's `execute(table.insert(), frame.to_dicts())` ends in the same rewrite, but
    builds a dict per row and looks up each parameter by name on the way: this skips both.

    Datetimes with a time zone are stored as their UTC wall time (MariaDB's DATETIME has no zone).
    Raises ValueError (a column the table lacks, or NaN/infinity, which MariaDB's DOUBLE cannot
    hold) and the SQLAlchemy error of a failing statement (`sa.exc.DataError` for a value too long
    in strict mode...): the caller's rollback then undoes the whole partition.
    """
    _require_dialect(connection, MYSQL, "insert_batched")
    frame = _known_columns(table, frame)
    if frame.is_empty():
        return
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    if floats and frame.select(pl.any_horizontal(~pl.col(floats).is_finite())).to_series().any():
        raise ValueError(f"{table.name}: NaN or infinity in {floats}: MariaDB's DOUBLE cannot hold them")
    frame = frame.with_columns(
        pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
    preparer = connection.dialect.identifier_preparer
    columns = ", ".join(preparer.quote(name) for name in frame.columns)
    placeholders = ", ".join(["%s"] * frame.width)
    statement = f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES ({placeholders})"
    driver = _driver_connection(connection)
    try:
        with driver.cursor() as cursor:
            for chunk in frame.iter_slices(batch_rows):
                cursor.executemany(statement, chunk.rows())
    except driver_error(connection) as error:
        raise sa.exc.DBAPIError.instance(statement, None, error, driver_error(connection)) from error


def read_frame(
    connection: sa.Connection, statement: sa.Select, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The rows of `statement` as a frame of `schema` (its keys: the statement's column names).

    PostgreSQL: `COPY (statement) TO STDOUT WITH (FORMAT csv)`, parsed by Polars' CSV reader; no
    value passes through Python. The statement is compiled with its parameters rendered as literals
    by SQLAlchemy's PostgreSQL compiler (quotes doubled, backslashes escaped when
    standard_conforming_strings is off; a type without a literal form raises
    `sa.exc.CompileError`), because COPY takes no parameters. Dates, timestamps and booleans are
    formatted in SQL (`to_char`, `::text`) so the session's DateStyle and TimeZone do not matter;
    timestamps with a time zone are read in UTC and converted to the schema's zone.
    MariaDB/MySQL: the driver's tuples into a frame (pymysql decodes each value in Python; there is
    no faster path without another driver), booleans from MariaDB's 0/1.

    Raises ValueError when a selected column is not in `schema`, or for another dialect.
    """
    names = [column.name for column in statement.selected_columns]
    missing = [name for name in names if name not in schema]
    if missing:
        raise ValueError(f"read_frame: no dtype in the schema for the selected columns {missing}")
    wanted = {name: schema[name] for name in names}
    name = connection.dialect.name
    if name in POSTGRESQL:
        return _copy_out(connection, statement, wanted)
    if name in MYSQL:
        return _fetch_rows(connection, statement, wanted)
    raise ValueError(f"read_frame: no bulk read for the {name} dialect")


def read_columnar(url: sa.URL, statement: sa.Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows of `statement` on PostgreSQL or MySQL/MariaDB as a frame of `schema`, read by
    connectorx straight into Arrow (no Python object per value: about three times `pl.read_database`
    on a million rows here). It opens its own connection to `url` (the password in it), so it reads
    what is committed: the warehouse's reads are. The statement is compiled with its parameters as
    literals, as for COPY.

    Raises ValueError for another dialect or a selected column not in `schema`, and RuntimeError
    (the password removed) when the database refuses the query."""
    names = [column.name for column in statement.selected_columns]
    missing = [name for name in names if name not in schema]
    if missing:
        raise ValueError(f"read_columnar: no dtype in the schema for the selected columns {missing}")
    backend = url.get_backend_name()
    scheme = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
    if scheme is None:
        raise ValueError(f"read_columnar: no columnar read for the {backend} dialect")
    dialect = url.get_dialect()()
    sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.paramstyle in ("format", "pyformat"):
        sql = sql.replace("%%", "%")  # (no parameters are sent: undo the compiler's doubling)
    uri = url.set(drivername=scheme).render_as_string(hide_password=False)
    try:
        frame = pl.read_database_uri(sql, uri, engine="connectorx")
    except Exception as error:  # connectorx raises its own untyped errors, which may hold the URI
        message = str(error).replace(uri, url.render_as_string(hide_password=True))
        if url.password:
            message = message.replace(str(url.password), "***")
        raise RuntimeError(f"reading {url.render_as_string(hide_password=True)}: {message}") from None
    wanted = {name: schema[name] for name in names}
    if frame.is_empty():
        return pl.DataFrame(schema=wanted)
    return frame.select(_as(name, frame.schema[name], dtype) for name, dtype in wanted.items())


def _as(name: str, read: pl.DataType, wanted: pl.DataType) -> pl.Expr:
    """Column `name`, read as `read`, as `wanted` (a timestamp with a zone converted, not cast)."""
    column = pl.col(name)
    if isinstance(wanted, pl.Datetime) and isinstance(read, pl.Datetime) and wanted.time_zone is not None:
        zoned = (
            column.dt.convert_time_zone(wanted.time_zone)
            if read.time_zone
            else column.dt.replace_time_zone("UTC").dt.convert_time_zone(wanted.time_zone)
        )
        return zoned.dt.cast_time_unit(wanted.time_unit)
    return column.cast(wanted)


def driver_error(connection: sa.Connection) -> type[Exception]:
    """The DBAPI module's base error class (psycopg.Error, pymysql.Error)."""
    return connection.dialect.loaded_dbapi.Error  # type: ignore[no-any-return]


def _copy_out(
    connection: sa.Connection, statement: sa.Select, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    subquery = statement.subquery("selected")
    as_text: list[sa.ColumnElement[Any]] = []
    read_schema: dict[str, pl.DataType] = {}
    for name, dtype in schema.items():
        column: sa.ColumnElement[Any] = subquery.c[name]
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = sa.func.timezone("UTC", column)
            as_text.append(sa.func.to_char(column, 'YYYY-MM-DD"T"HH24:MI:SS.US').label(name))
            read_schema[name] = pl.Datetime("us")
        elif isinstance(dtype, pl.Date):
            as_text.append(sa.func.to_char(column, "YYYY-MM-DD").label(name))
            read_schema[name] = dtype
        elif isinstance(dtype, pl.Boolean):
            as_text.append(sa.cast(column, sa.Text).label(name))  # 'true'/'false' (COPY would say t/f)
            read_schema[name] = dtype
        else:
            as_text.append(column.label(name))
            read_schema[name] = dtype
    select = sa.select(*as_text).select_from(subquery)
    sql = str(select.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    if connection.dialect.paramstyle in ("format", "pyformat"):
        # The compiler doubles every % for the driver's placeholders; without parameters, psycopg
        # sends the text as it is: undo it (left to right, so `%%%%` from a literal `%%` gives `%%`).
        sql = sql.replace("%%", "%")
    copy_sql = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv, ENCODING 'UTF8')"
    driver = _driver_connection(connection)
    chunks: list[bytes | memoryview] = []
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            # (PostgreSQL sends a message per row: a read per message, no Python object per value)
            while chunk := copy.read():
                chunks.append(chunk)
    except driver_error(connection) as error:
        raise sa.exc.DBAPIError.instance(copy_sql, None, error, driver_error(connection)) from error
    if not chunks:
        return pl.DataFrame(schema=schema)
    data = b"".join(chunks)
    frame = pl.read_csv(io.BytesIO(data), has_header=False, schema=read_schema, infer_schema=False)
    return frame.with_columns(
        pl.col(name)
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(dtype.time_zone)
        .dt.cast_time_unit(dtype.time_unit)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
        else pl.col(name).cast(dtype)
        for name, dtype in schema.items()
    )


def _fetch_rows(
    connection: sa.Connection, statement: sa.Select, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    result = connection.execute(statement)
    rows = result.cursor.fetchall() if result.cursor is not None else []  # the driver's tuples, not Rows
    result.close()
    if not rows:
        return pl.DataFrame(schema=schema)
    raw_schema = {
        name: pl.Int64() if isinstance(dtype, pl.Boolean) else dtype for name, dtype in schema.items()
    }
    frame = pl.DataFrame(rows, schema=raw_schema, orient="row", infer_schema_length=None)
    return frame.with_columns(
        pl.col(name).dt.replace_time_zone(dtype.time_zone)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
        else pl.col(name).cast(dtype)
        for name, dtype in schema.items()
    )


def _require_dialect(connection: sa.Connection, names: set[str], function: str) -> None:
    if connection.dialect.name not in names:
        raise ValueError(f"{function} works on {sorted(names)}, not on {connection.dialect.name}")


def _known_columns(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    unknown = [name for name in frame.columns if name not in table.columns]
    if unknown:
        raise ValueError(f"{table.name} has no columns {unknown}")
    return frame


def _copy_ready(table: sa.Table, frame: pl.DataFrame) -> pl.DataFrame:
    frame = _known_columns(table, frame)
    unsupported = {
        name: dtype
        for name, dtype in frame.schema.items()
        if not (dtype.is_numeric() or isinstance(dtype, _COPY_TYPES))
    }
    if unsupported:
        raise TypeError(f"{table.name}: no CSV form for COPY of the columns {unsupported}")
    return frame.with_columns(
        pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Categorical | pl.Enum)
    )


def _driver_connection(connection: sa.Connection) -> Any:
    """The DBAPI connection under `connection`, with a transaction begun on it if none is open (as the
    next `connection.execute` would), so the caller's commit or rollback covers what is done on it."""
    if not connection.in_transaction():
        connection.begin()
    return connection.connection.dbapi_connection
