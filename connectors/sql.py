"""The `sql` connector: a table or a query from any database SQLAlchemy reaches."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import polars as pl
import sqlalchemy as sa
from pydantic import model_validator

from connectors.base import Connector, ConnectorOptions, ExtractWindow, SourceError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


class SqlOptions(ConnectorOptions):
    url: str
    """A SQLAlchemy URL. A relative SQLite/DuckDB path is relative to the config file."""
    password_env: str | None = None
    """The environment variable holding the password; never put the password in the config."""
    table: str | None = None
    """A table (or `schema.table`) to read; or give `query`."""
    query: str | None = None
    """A SELECT to read; a dated extract wraps it in a filter on the date column."""
    date_column: str | None = None
    """The source column the window filters on; defaults to the column mapped to the entity's date."""
    batch_size: int = 500_000
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


class SqlConnector(Connector):
    name = "sql"
    description = "A table or a query from any SQLAlchemy URL; dated extracts filter on the date column."
    Options = SqlOptions
    options: SqlOptions

    def engine(self) -> sa.Engine:
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
        return sa.create_engine(url)

    def statement(self, window: ExtractWindow | None, source_date_column: str | None) -> sa.TextClause:
        base = f"SELECT * FROM {self.options.table}" if self.options.table else self.options.query
        date_column = self.options.date_column or source_date_column
        if window is None:
            return sa.text(str(base))
        if date_column is None or not IDENTIFIER.match(date_column):
            raise SourceError(
                f"source {self.source_name!r}: a dated extract needs a plain source date column; "
                f"set options.date_column"
            )
        first, after_last = window.source_bounds()
        # Bound as dates, not text: PostgreSQL has no `date >= varchar`; SQLite gets ISO text.
        return sa.text(
            f"SELECT * FROM ({base}) AS extract WHERE {date_column} >= :first AND {date_column} < :after_last"
        ).bindparams(
            sa.bindparam("first", first, type_=sa.Date()),
            sa.bindparam("after_last", after_last, type_=sa.Date()),
        )

    def extract(self, window: ExtractWindow | None, source_date_column: str | None) -> Iterator[pl.DataFrame]:
        engine = self.engine()
        statement = self.statement(window, source_date_column)
        try:
            with engine.connect() as connection:
                batches = pl.read_database(
                    statement, connection, iter_batches=True, batch_size=self.options.batch_size
                )
                yielded = False
                for batch in batches:
                    yielded = True
                    yield batch
                if not yielded:
                    yield pl.DataFrame()
        except sa.exc.SQLAlchemyError as error:
            # The original error text can carry the URL; name the source and the database only.
            cause = getattr(error, "orig", None) or error
            raise SourceError(
                f"source {self.source_name!r}: query on {engine.url.render_as_string(hide_password=True)!r} "
                f"failed: {type(cause).__name__}: {str(cause).splitlines()[0]}"
            ) from None
        finally:
            engine.dispose()
