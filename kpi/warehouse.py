"""The warehouse: its tables (we own the DDL), and loads that replace rows in one transaction.

Any SQLAlchemy URL works: DuckDB (the embedded default) is loaded through Arrow, PostgreSQL with COPY
and MySQL/MariaDB with multi-row inserts (`kpi/bulk.py`), others through executemany. The tables and
views are defined in `kpi/schema.py` and migrated by `kpi/migrations.py`.
"""

from __future__ import annotations

import atexit
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert

from kpi import bulk
from kpi.entities import BUILT_IN_ENTITIES, Entity
from kpi.migrations import schema_lock, upgrade
from kpi.schema import ENTITY_TABLES, entity_table, frame_schema, kpi_values, loaded_partitions, quarantine

# The tables live in kpi/schema.py; the names the pipeline imports from here stay.
from kpi.schema import TEXT as TEXT
from kpi.schema import dq_results as dq_results
from kpi.schema import key_result_definitions as key_result_definitions
from kpi.schema import key_results as key_results
from kpi.schema import kpi_definitions as kpi_definitions
from kpi.schema import metadata as metadata
from kpi.schema import objectives as objectives

_TABLES_CREATED: set[tuple[str, tuple]] = set()
_ENGINES: dict[str, sa.Engine] = {}
INSERT_NEW_CHUNK = 10_000  # rows per INSERT ... ON CONFLICT statement (insertmanyvalues batches it)
KEY_CHUNK = 5000  # keys per DELETE ... IN (...) statement on servers


@atexit.register
def dispose_all() -> None:
    """Close every cached engine (DuckDB complains at interpreter exit about connections left open)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    _TABLES_CREATED.clear()


@contextmanager
def _registered(connection: sa.Connection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """`frame` visible to DuckDB SQL on `connection` as the view `name` (through Arrow, no copy row by row)."""
    driver = connection.connection.dbapi_connection
    driver.register(name, frame.to_arrow())  # type: ignore[union-attr]
    try:
        yield
    finally:
        driver.unregister(name)  # type: ignore[union-attr]


class SchemaConflict(Exception):
    """The warehouse holds a declared entity's column with another type than the config declares."""


class Warehouse:
    """One SQLAlchemy engine on the warehouse, with the loads the pipeline needs."""

    def __init__(self, url: sa.URL | str) -> None:
        # One engine per warehouse and process: a new DuckDB engine costs a tenth of a second.
        key = sa.make_url(url).render_as_string(hide_password=False)
        if key not in _ENGINES:
            _ENGINES[key] = sa.create_engine(url)
        self.engine = _ENGINES[key]

    @property
    def display_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def create_tables(self, entities: Iterable[Entity] = ()) -> None:
        """Bring the warehouse to this release's schema (kpi/migrations.py: migrations, views, comments)
        and create or extend the tables of `entities` a config declared (a new entity's table; a column
        a config added to an entity), once per warehouse, entities and process: it costs catalog
        queries even when there is nothing to do. A declared column is never dropped or retyped: a
        column whose type changed raises SchemaConflict naming the table and column."""
        url = self.engine.url.render_as_string(hide_password=False)
        declared = [
            entity_table(entity)
            for entity in entities
            if entity_table(entity).name not in ENTITY_TABLES or entity.dimensions
        ]
        key = (url, tuple(sorted((table.name, tuple(table.c.keys())) for table in declared)))
        if key in _TABLES_CREATED:
            return
        if (url, ()) not in _TABLES_CREATED:
            upgrade(self.engine)
            _TABLES_CREATED.add((url, ()))
        if declared:
            # Two processes starting on a new config at once (`kpi run` and a run the daemon launched)
            # take turns, as for migrations: the second finds the table made.
            with self.engine.connect() as connection, schema_lock(connection):
                for table in declared:
                    self._create_or_extend(table)
        _TABLES_CREATED.add(key)

    def _create_or_extend(self, table: sa.Table) -> None:
        existing = self._column_types(table.name)
        if not existing:
            with self.engine.begin() as connection:
                table.create(connection)
            return
        with self.engine.begin() as connection:
            for column in table.columns:
                if column.name not in existing:
                    kind = column.type.compile(dialect=self.engine.dialect)
                    connection.exec_driver_sql(
                        f"ALTER TABLE {self._quote(table.name)} ADD COLUMN {self._quote(column.name)} {kind}"
                    )
                elif _type_family(existing[column.name]) != _type_family(
                    column.type.compile(dialect=self.engine.dialect)
                ):
                    raise SchemaConflict(
                        f"warehouse table {table.name}: column {column.name} holds {existing[column.name]}, the "
                        f"config declares {column.type}; a declared column's type cannot change in place "
                        "(declare a new column, or migrate the table yourself)"
                    )

    def _column_types(self, table_name: str) -> dict[str, str]:
        """The warehouse table's columns and their types as the database names them; {} when it has no
        such table. (duckdb-engine's SQLAlchemy inspector queries PostgreSQL catalogs DuckDB lacks.)"""
        if self.engine.dialect.name == "duckdb":
            with self.engine.connect() as connection:
                rows = connection.execute(
                    sa.text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = :name AND table_schema = current_schema()"
                    ),
                    {"name": table_name},
                ).all()
            return {name: kind for name, kind in rows}
        inspector = sa.inspect(self.engine)
        if not inspector.has_table(table_name):
            return {}
        return {
            column["name"]: column["type"].compile(dialect=self.engine.dialect)
            for column in inspector.get_columns(table_name)
        }

    def _quote(self, name: str) -> str:
        return self.engine.dialect.identifier_preparer.quote(name)

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    def insert(self, connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
        if frame.is_empty():
            return
        frame = frame.select([column.name for column in table.columns if column.name in frame.columns])
        if self.engine.dialect.name == "duckdb":
            columns = ", ".join(f'"{name}"' for name in frame.columns)
            with _registered(connection, "incoming_rows", frame):
                connection.exec_driver_sql(
                    f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM incoming_rows'
                )
        elif not bulk.load(connection, table, frame):  # PostgreSQL: COPY; MySQL/MariaDB: multi-row inserts
            connection.execute(table.insert(), frame.to_dicts())

    def insert_new(self, connection: sa.Connection, table: sa.Table, frame: pl.DataFrame) -> None:
        """Insert the rows of `frame` whose primary key `table` does not hold yet; the rows it holds
        stay as they are (DuckDB: INSERT OR IGNORE; PostgreSQL: ON CONFLICT DO NOTHING; MySQL/MariaDB:
        ON DUPLICATE KEY UPDATE of nothing, which unlike INSERT IGNORE still fails on other errors)."""
        if frame.is_empty():
            return
        frame = frame.select([column.name for column in table.columns if column.name in frame.columns])
        dialect = self.engine.dialect.name
        if dialect == "duckdb":
            columns = ", ".join(f'"{name}"' for name in frame.columns)
            with _registered(connection, "incoming_rows", frame):
                connection.exec_driver_sql(
                    f'INSERT OR IGNORE INTO "{table.name}" ({columns}) SELECT {columns} FROM incoming_rows'
                )
            return
        statement: sa.Insert
        if dialect == "postgresql":
            statement = postgresql_insert(table).on_conflict_do_nothing()
        elif dialect in ("mysql", "mariadb"):
            first_key = table.primary_key.columns.values()[0].name
            mysql_statement = mysql_insert(table)
            statement = mysql_statement.on_duplicate_key_update(
                {first_key: mysql_statement.inserted[first_key]}
            )
        else:
            raise NotImplementedError(f"insert_new on {dialect}")
        for start in range(0, frame.height, INSERT_NEW_CHUNK):
            connection.execute(statement, frame.slice(start, INSERT_NEW_CHUNK).to_dicts())

    def move_out(
        self,
        connection: sa.Connection,
        entity: Entity | str,
        source: str,
        keys: pl.Series,
        days: Sequence[date],
    ) -> list[date]:
        """Delete the rows of `source` whose key is one of `keys` and that it had delivered on another
        day than `days` (the source moved them: a restatement); returns those old days. Rows of other
        sources are never touched: keys are scoped by source."""
        if keys.is_empty():
            return []
        entity = _entity(entity)
        table = entity_table(entity)
        key, date_column = entity.key, entity.date_column
        assert date_column is not None, f"{entity.name} is a snapshot: it has no days to move rows between"
        elsewhere = (table.c.source == source) & table.c[date_column].not_in(list(days))
        old_days: set[date] = set()

        def move(matching_keys: sa.ColumnElement[bool]) -> None:
            selected = sa.select(table.c[date_column]).distinct().where(elsewhere & matching_keys)
            old_days.update(day for (day,) in connection.execute(selected))
            connection.execute(table.delete().where(elsewhere & matching_keys))

        if self.engine.dialect.name == "duckdb":
            with _registered(connection, "incoming_keys", pl.DataFrame({"key": keys.unique()})):
                move(table.c[key].in_(sa.select(sa.column("key")).select_from(sa.table("incoming_keys"))))
        else:
            values = keys.unique().to_list()
            for start in range(0, len(values), KEY_CHUNK):
                move(table.c[key].in_(values[start : start + KEY_CHUNK]))
        return sorted(old_days)

    def replace(
        self,
        connection: sa.Connection,
        table: sa.Table,
        frame: pl.DataFrame,
        where: sa.ColumnElement[bool] | None,
    ) -> int:
        """Delete the rows `where` selects (all rows when None) and insert `frame`; returns rows deleted."""
        deleted = connection.execute(table.delete().where(where) if where is not None else table.delete())
        self.insert(connection, table, frame)
        return deleted.rowcount

    def read(self, statement: sa.Select | sa.TextClause, schema: dict[str, pl.DataType]) -> pl.DataFrame:
        """The rows of `statement` as a frame of `schema`: on PostgreSQL and MySQL/MariaDB read
        columnar by connectorx (`kpi/bulk.py`), elsewhere through the driver."""
        if isinstance(statement, sa.Select) and self.engine.dialect.name in (
            "postgresql",
            "mysql",
            "mariadb",
        ):
            return bulk.read_columnar(self.engine.url, statement, schema)
        with self.engine.connect() as connection, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Polars' note on DuckDB's extra Arrow copy
            frame = pl.read_database(statement, connection)
        if frame.is_empty():
            return pl.DataFrame(schema=schema)
        return frame.cast({name: dtype for name, dtype in schema.items() if name in frame.columns})  # type: ignore[arg-type]

    def read_entity(
        self,
        entity: Entity | str,
        first_day: date | None = None,
        last_day: date | None = None,
        sources: Sequence[str] | None = None,
        days: Sequence[date] | None = None,
    ) -> pl.DataFrame:
        """An entity's rows (its schema), only those dated in [first_day, last_day] when both are given,
        and of `days` when given, and only those of `sources` when given (rows a source no longer
        configured left stay unread)."""
        entity = _entity(entity)
        table = entity_table(entity)
        columns = [table.c[name] for name in entity.schema]
        statement = sa.select(*columns)
        if sources is not None:
            statement = statement.where(table.c.source.in_(list(sources)))
        date_column = entity.date_column
        if date_column is not None and first_day is not None and last_day is not None:
            statement = statement.where(table.c[date_column].between(first_day, last_day))
        if date_column is not None and days is not None:
            wanted = sorted(set(days))
            if wanted and len(wanted) == (wanted[-1] - wanted[0]).days + 1:  # every day of a range
                statement = statement.where(table.c[date_column].between(wanted[0], wanted[-1]))
            else:
                statement = statement.where(table.c[date_column].in_(wanted))
        return self.read(statement, entity.schema)

    def changed_span_days(self, entity: Entity, sources: Sequence[str], rows: pl.DataFrame) -> list[date]:
        """The days whose periods a new snapshot of a span entity changes, among the days kpi_values
        were already computed for (other days are computed when their run comes): comparing the rows
        of `sources` in the warehouse with `rows` by source and key,
        - a row added or removed, or with another value in a column other than its start and end (a
          dimension, a column a `where` reads), changes every day from its start to its end (an open
          end: every day after);
        - a row whose start or end moved changes the days between the old and the new date (a
          backdated termination: from it on; a derived customer who bought again after a churn day:
          from that day on)."""
        assert entity.span is not None, f"{entity.name} is not a span entity"
        start, end = entity.span
        key = ["source", entity.key]
        others = [column for column in entity.schema if column not in (entity.key, start, end)]
        table = entity_table(entity)
        schema = {"source": pl.String(), **entity.schema}
        old = self.read(
            sa.select(*(table.c[name] for name in schema)).where(table.c.source.in_(list(sources))), schema
        )
        new = rows.select(list(schema)).cast(schema)  # type: ignore[arg-type]
        pairs = old.with_columns(in_old=pl.lit(True)).join(
            new.with_columns(in_new=pl.lit(True)), on=key, how="full", coalesce=True, suffix="_new"
        )
        far = date(9999, 12, 31)
        old_end, new_end = pl.col(end).fill_null(far), pl.col(f"{end}_new").fill_null(far)
        same_others = pl.lit(True)
        for column in others:
            same_others = same_others & pl.col(column).eq_missing(pl.col(f"{column}_new"))
        in_both = pl.col("in_old").fill_null(False) & pl.col("in_new").fill_null(False)
        moved = in_both & same_others
        intervals = pl.concat(
            [
                pairs.filter(~moved).select(
                    pl.min_horizontal(start, f"{start}_new").alias("first"),
                    pl.max_horizontal(
                        pl.when(pl.col("in_old").fill_null(False)).then(old_end),
                        pl.when(pl.col("in_new").fill_null(False)).then(new_end),
                    ).alias("last"),
                ),
                pairs.filter(moved & (pl.col(start) != pl.col(f"{start}_new"))).select(
                    pl.min_horizontal(start, f"{start}_new").alias("first"),
                    pl.max_horizontal(start, f"{start}_new").alias("last"),
                ),
                pairs.filter(moved & (old_end != new_end)).select(
                    pl.min_horizontal(old_end, new_end).alias("first"),
                    pl.max_horizontal(old_end, new_end).alias("last"),
                ),
            ]
        ).drop_nulls()
        if intervals.is_empty():
            return []
        computed = pl.DataFrame({"day": self.loaded_days(KPI_VALUES_DAYS)}, schema={"day": pl.Date()})
        # Each computed day is changed when the latest interval starting on or before it reaches it.
        reach = (
            intervals.group_by("first")
            .agg(pl.col("last").max())
            .sort("first")
            .with_columns(pl.col("last").cum_max())
        )
        changed = computed.sort("day").join_asof(reach, left_on="day", right_on="first", strategy="backward")
        return changed.filter(pl.col("last") >= pl.col("day"))["day"].to_list()

    def customer_purchase_days(self, sources: Sequence[str]) -> pl.DataFrame:
        """One row per source and customer of the revenue transactions of `sources` with a customer
        and a positive amount (a purchase; a refund is not one): source, customer_id (String),
        first_purchase_on, last_purchase_on (Date). Aggregated in the warehouse."""
        table = ENTITY_TABLES["revenue_transactions"]
        statement = (
            sa.select(
                table.c.source,
                table.c.customer_id,
                sa.func.min(table.c.booked_on).label("first_purchase_on"),
                sa.func.max(table.c.booked_on).label("last_purchase_on"),
            )
            .where(table.c.source.in_(list(sources)), table.c.customer_id.is_not(None), table.c.amount > 0)
            .group_by(table.c.source, table.c.customer_id)
        )
        schema = {
            "source": pl.String(),
            "customer_id": pl.String(),
            "first_purchase_on": pl.Date(),
            "last_purchase_on": pl.Date(),
        }
        return self.read(statement, schema)

    def latest_loaded_day(self, entity: str | None = None) -> date | None:
        """The latest day loaded (of `entity` when given)."""
        statement = sa.select(sa.func.max(loaded_partitions.c.partition_date))
        if entity is not None:
            statement = statement.where(loaded_partitions.c.entity == entity)
        with self.engine.connect() as connection:
            return connection.execute(statement).scalar()

    def loaded_days(self, entity: str, sources: Sequence[str] | None = None) -> list[date]:
        """The days `entity` (or kpi_values, key_results) was loaded for; with `sources`, only the days
        every one of them loaded (a day loaded before a source was added is not covered by it)."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(loaded_partitions.c.partition_date, loaded_partitions.c.sources)
                .where(loaded_partitions.c.entity == entity)
                .order_by(loaded_partitions.c.partition_date)
            )
            wanted = set(sources or [])
            return [
                day
                for day, loaded_by in rows
                # (no sources recorded: a day an earlier release loaded, with the sources of its time)
                if loaded_by is None or wanted <= set(loaded_by.split(","))
            ]

    def days_to_recompute(self, stamp: str, inputs: Sequence[str]) -> list[date]:
        """The days one of `inputs` (entities, or kpi_values) was loaded after `stamp` (kpi_values,
        key_results) was last computed for it, or never computed: rows moved away from a day by a
        restatement, a day whose later step failed, an entity materialized alone from the UI."""
        stamped = loaded_partitions.alias("stamped")
        loaded = loaded_partitions.alias("loaded")
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(loaded.c.partition_date)
                .distinct()
                .select_from(
                    loaded.outerjoin(
                        stamped,
                        (stamped.c.entity == stamp) & (stamped.c.partition_date == loaded.c.partition_date),
                    )
                )
                .where(
                    loaded.c.entity.in_(list(inputs)),
                    stamped.c.loaded_at.is_(None) | (loaded.c.loaded_at > stamped.c.loaded_at),
                )
            )
            return sorted(row[0] for row in rows)

    def count_rows_on(
        self, connection: sa.Connection, entity: Entity | str, days: Sequence[date]
    ) -> dict[date, int]:
        """Rows of a dated entity on each of `days` (0 for none)."""
        entity = _entity(entity)
        column = entity_table(entity).c[entity.date_column]  # type: ignore[index]
        counts: dict[date, int] = dict(
            connection.execute(
                sa.select(column, sa.func.count()).where(column.in_(list(days))).group_by(column)
            ).all()
        )
        return {day: counts.get(day, 0) for day in days}

    def dispose(self) -> None:
        """Close the warehouse's connections (a DuckDB file is then free for another process)."""
        key = self.engine.url.render_as_string(hide_password=False)
        _ENGINES.pop(key, None)
        _TABLES_CREATED.discard(key)
        self.engine.dispose()


KPI_VALUES_DAYS = "kpi_values"
"""loaded_partitions' name for the days kpi_values were computed for."""
KEY_RESULTS_DAYS = "key_results"
"""loaded_partitions' name for the as-of days key results were computed for."""


def _entity(entity: Entity | str) -> Entity:
    """An entity, or a built-in one by name."""
    return BUILT_IN_ENTITIES[entity] if isinstance(entity, str) else entity


def _type_family(type_name: str) -> str:
    """What a column type holds, from its name in any of our dialects: text, date, float, integer,
    boolean (MariaDB's BOOL is TINYINT(1)), timestamp."""
    name = type_name.upper()
    for family, markers in (
        ("boolean", ("BOOL", "TINYINT(1)")),
        ("timestamp", ("TIMESTAMP", "DATETIME")),
        ("date", ("DATE",)),
        ("text", ("CHAR", "TEXT", "STRING")),
        ("float", ("DOUBLE", "FLOAT", "REAL", "NUMERIC", "DECIMAL")),
        ("integer", ("INT",)),
    ):
        if any(marker in name for marker in markers):
            return family
    return name


def loaded_days_of(
    warehouse: Warehouse, sources_by_entity: dict[str, list[str]], entities: dict[str, Entity] | None = None
) -> dict[str, list[date]]:
    """The days each dated entity (of `entities`, the built-ins by default) was loaded for by all of
    its sources (`sources_by_entity`)."""
    entities = entities or BUILT_IN_ENTITIES
    return {
        name: warehouse.loaded_days(name, sources)
        for name, sources in sources_by_entity.items()
        if entities[name].is_dated
    }


def record_loaded_days(
    warehouse: Warehouse,
    connection: sa.Connection,
    name: str,
    days: list[date],
    rows_per_day: dict[date, int],
    run_id: str,
    loaded_at: datetime,
    sources: Sequence[str] | None = None,
) -> None:
    """Replace the loaded_partitions rows of `name` (an entity loaded from `sources`, or kpi_values,
    key_results) for `days`."""
    warehouse.replace(
        connection,
        loaded_partitions,
        pl.DataFrame(
            {
                "entity": [name] * len(days),
                "partition_date": days,
                "row_count": [rows_per_day.get(day, 0) for day in days],
                "run_id": [run_id] * len(days),
                "loaded_at": [loaded_at] * len(days),
                "sources": [",".join(sorted(sources)) if sources is not None else None] * len(days),
            },
            schema=frame_schema(loaded_partitions),
        ),
        (loaded_partitions.c.entity == name) & loaded_partitions.c.partition_date.in_(days),
    )


def keys_match(table: sa.Table, keys: pl.DataFrame) -> sa.ColumnElement[bool]:
    """A WHERE clause selecting the rows whose key columns equal one of `keys`' rows."""
    columns = keys.columns
    clauses = [
        sa.and_(*(table.c[name] == value for name, value in zip(columns, row, strict=True)))
        for row in keys.unique().iter_rows()
    ]
    return sa.or_(*clauses) if clauses else sa.false()


def entity_rows_where(
    entity: Entity | str, sources: Sequence[str], days: Sequence[date] | None
) -> sa.ColumnElement[bool]:
    """The rows a load of `sources` for `days` replaces: theirs dated on those days, or their whole
    snapshot (days None). Another source's rows are never replaced."""
    entity = _entity(entity)
    table = entity_table(entity)
    of_sources = table.c.source.in_(list(sources))
    date_column = entity.date_column
    if date_column is None or days is None:
        return of_sources
    return of_sources & table.c[date_column].in_(list(days))


def quarantine_scope(
    source: str, days: Sequence[date], undated_rows: pl.Series | None = None
) -> sa.ColumnElement[bool]:
    """The quarantine rows a run of `source` over `days` replaces: those of its days, and its rows of
    no day (partition null), which every run of a whole extract finds again. An extract filtered at
    the source (`undated_rows` given: the raw rows of no day it found) replaces only those of its own,
    so the rows other windows found stay and a rerun does not repeat them."""
    of_days = quarantine.c.partition.in_([day.isoformat() for day in days])
    of_no_day: sa.ColumnElement[bool] = quarantine.c.partition.is_(None)
    if undated_rows is not None:
        of_no_day = of_no_day & quarantine.c.raw_row.in_(undated_rows.to_list())
    return (quarantine.c.source == source) & (of_days | of_no_day)


def periods_match(table: sa.Table, periods: pl.DataFrame) -> sa.ColumnElement[bool]:
    """The rows of `periods`' (grain, period_start) pairs."""
    return keys_match(table, periods.select("grain", "period_start"))


def load_kpi_values(
    warehouse: Warehouse,
    rows: pl.DataFrame,
    periods: pl.DataFrame,
    following: pl.DataFrame,
    run_id: str,
    computed_at: datetime,
    days: list[date],
) -> int:
    """Replace the rows of the recomputed periods and refresh the comparisons of the periods loaded
    earlier that compare themselves with them (`following`: kpi_id, grain, period_start, dimension,
    dimension_value, column (previous_value or year_ago_value), compared_value), in one transaction. Returns the rows deleted.
    The run's `days` are recorded in loaded_partitions (as `kpi_values`): with only snapshot entities,
    they are what is loaded."""
    stamped = rows.with_columns(
        computed_at=pl.lit(computed_at, dtype=pl.Datetime("us", "UTC")), run_id=pl.lit(run_id)
    )
    key = ["kpi_id", "grain", "period_start", "dimension", "dimension_value"]
    following = following.join(rows.select(key), on=key, how="anti")
    with warehouse.transaction() as connection:
        deleted = warehouse.replace(connection, kpi_values, stamped, periods_match(kpi_values, periods))
        record_loaded_days(warehouse, connection, KPI_VALUES_DAYS, days, {}, run_id, computed_at)
        for (column,), updates in following.partition_by("column", as_dict=True).items():
            connection.execute(
                kpi_values.update()
                .where(
                    kpi_values.c.kpi_id == sa.bindparam("key_kpi_id"),
                    kpi_values.c.grain == sa.bindparam("key_grain"),
                    kpi_values.c.period_start == sa.bindparam("key_period_start"),
                    kpi_values.c.dimension == sa.bindparam("key_dimension"),
                    kpi_values.c.dimension_value == sa.bindparam("key_dimension_value"),
                )
                .values({str(column): sa.bindparam("new_value")}),
                [
                    {
                        "key_kpi_id": kpi_id,
                        "key_grain": grain,
                        "key_period_start": start,
                        "key_dimension": dimension,
                        "key_dimension_value": dimension_value,
                        "new_value": value,
                    }
                    for kpi_id, grain, start, dimension, dimension_value, value in updates.select(
                        *key, "compared_value"
                    ).iter_rows()
                ],
            )
    return deleted


def read_kpi_values(warehouse: Warehouse, periods: pl.DataFrame) -> pl.DataFrame:
    """The loaded kpi_values rows of the given (grain, period_start) periods."""
    if periods.is_empty():
        return pl.DataFrame(schema=frame_schema(kpi_values))
    return warehouse.read(
        sa.select(kpi_values).where(periods_match(kpi_values, periods)), frame_schema(kpi_values)
    )
