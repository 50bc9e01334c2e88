"""Schema migrations: any warehouse an earlier release made is brought to kpi/schema.py's shape in place.

`MIGRATIONS` is the ordered history of the warehouse's shape; `schema_version` records the ones a
warehouse has (version, name, applied_at). A migration is a function of a connection and its dialect
that changes the tables in place, keeping their rows: add a column, or, for a change SQL cannot make
in place on every database (a new primary key on DuckDB), create the new table, copy, drop, rename.
On PostgreSQL and DuckDB each migration runs in its own transaction with its version row; MariaDB
commits every DDL statement, so a migration there must be safe to re-run after a failure half way (add
a column only when it is missing, and so on).

`upgrade(engine)`, called once per warehouse and process by `Warehouse.create_tables()`:
- a new warehouse gets every table at the latest shape and every version recorded;
- a warehouse without `schema_version` (the release before migrations, or issue 7's code that added
  columns with ALTER) has its version read from its columns, then the rest applied;
- the views are replaced (CREATE OR REPLACE; on PostgreSQL, when that is refused, the BI users' views
  on ours are read, dropped and recreated around ours in one transaction) and the table, column and
  view comments applied, only when their definitions changed since they were last applied
  (`schema_objects`) or a migration ran;
- a warehouse already up to date costs a few catalog queries.

Two processes upgrading one warehouse at once take turns: a PostgreSQL advisory lock, a MariaDB
GET_LOCK, an in-process lock for DuckDB (whose file admits one writing process); the version is read
again once the lock is held, and a duplicate version row (another process was first) is re-checked,
not raised.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa

from kpi import schema
from kpi.locks import MYSQL_LOCK_NAME

Columns = Mapping[str, set[str]]
"""The columns of each table a warehouse has (tables it lacks are absent)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[sa.Connection, sa.Dialect], None]
    # For the migrations made before schema_version existed: whether a warehouse without it already has
    # this migration's changes (read from its columns).
    found_in: Callable[[Columns], bool] | None = None


def column_names(connection: sa.Connection, table: str) -> set[str]:
    """The columns of `table` (from a query's result: duckdb-engine's catalog reflection fails on DuckDB 2)."""
    result = connection.execute(sa.select(sa.text("*")).select_from(sa.table(table)).limit(0))
    return set(result.keys())


def add_column_if_missing(connection: sa.Connection, table: str, column: sa.Column) -> bool:
    """ALTER TABLE ... ADD COLUMN, nullable, so existing rows keep theirs; False when it was there."""
    if column.name in column_names(connection, table):
        return False
    quote = connection.dialect.identifier_preparer.quote
    column_type = column.type.compile(dialect=connection.dialect)
    connection.exec_driver_sql(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(column.name)} {column_type}")
    return True


# ----------------------------------------------------------------------------------------------------
# Migration 1: the tables as the release before migrations (bf5e28a) created them. Frozen here: the
# tables of kpi/schema.py move on, this must not.


def _release_1_metadata() -> sa.MetaData:
    old = sa.MetaData()
    text, day, stamp = sa.String(255), sa.Date(), sa.DateTime(timezone=True)
    number: sa.Double[float] = sa.Double()
    entities: dict[str, list[tuple[str, sa.types.TypeEngine]]] = {
        "revenue_transactions": [
            ("transaction_id", text),
            ("booked_on", day),
            ("customer_id", text),
            ("amount", number),
        ],
        "expenses": [("expense_id", text), ("booked_on", day), ("category", text), ("amount", number)],
        "customers": [("customer_id", text), ("signed_up_on", day), ("churned_on", day), ("segment", text)],
        "survey_responses": [
            ("response_id", text),
            ("customer_id", text),
            ("responded_on", day),
            ("survey", text),
            ("score", sa.BigInteger()),
        ],
        "employees": [
            ("employee_id", text),
            ("hired_on", day),
            ("terminated_on", day),
            ("department", text),
            ("termination_type", text),
        ],
    }
    for name, columns in entities.items():
        sa.Table(
            name,
            old,
            *(sa.Column(column, column_type) for column, column_type in columns),
            sa.Column("source", text, nullable=False),
        )
    sa.Table(
        "loaded_partitions",
        old,
        sa.Column("entity", text, primary_key=True),
        sa.Column("partition_date", day, primary_key=True),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("run_id", text),
        sa.Column("loaded_at", stamp, nullable=False),
    )
    sa.Table(
        "kpi_values",
        old,
        sa.Column("kpi_id", text, primary_key=True),
        sa.Column("grain", text, primary_key=True),
        sa.Column("period_start", day, primary_key=True),
        sa.Column("period_end", day),
        *(sa.Column(name, number) for name in ("value", "numerator", "denominator", "previous_value")),
        sa.Column("unit", text),
        sa.Column("is_complete", sa.Boolean()),
        sa.Column("computed_at", stamp, nullable=False),
        sa.Column("run_id", text),
    )
    sa.Table(
        "key_results",
        old,
        sa.Column("objective_id", text),
        sa.Column("key_result_id", text, primary_key=True),
        sa.Column("kpi_id", text),
        sa.Column("as_of", day, primary_key=True),
        sa.Column("period_start", day),
        sa.Column("period_end", day),
        *(
            sa.Column(name, number)
            for name in ("baseline", "target", "actual", "progress_raw", "progress", "expected_progress")
        ),
        sa.Column("status", text),
        sa.Column("computed_at", stamp, nullable=False),
    )
    sa.Table(
        "objectives",
        old,
        sa.Column("objective_id", text, primary_key=True),
        sa.Column("title", text, nullable=False),
        sa.Column("owner", text, nullable=False),
        sa.Column("period_start", day, nullable=False),
        sa.Column("period_end", day, nullable=False),
    )
    sa.Table(
        "key_result_definitions",
        old,
        sa.Column("key_result_id", text, primary_key=True),
        sa.Column("objective_id", text, nullable=False),
        sa.Column("description", text, nullable=False),
        sa.Column("kpi_id", text, nullable=False),
        sa.Column("baseline", number, nullable=False),
        sa.Column("target", number, nullable=False),
    )
    sa.Table(
        "kpi_definitions",
        old,
        sa.Column("kpi_id", text, primary_key=True),
        sa.Column("name", text, nullable=False),
        sa.Column("formula", sa.String(1000), nullable=False),
        sa.Column("unit", text, nullable=False),
        sa.Column("direction", text, nullable=False),
        sa.Column("inputs", text, nullable=False),
        sa.Column("is_ratio", sa.Boolean(), nullable=False),
    )
    sa.Table(
        "dq_results",
        old,
        sa.Column("check", text, nullable=False),
        sa.Column("asset", text, nullable=False),
        sa.Column("partition", text),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("observed", sa.String(4000), nullable=False),
        sa.Column("run_id", text),
        sa.Column("checked_at", stamp, nullable=False),
    )
    sa.Table(
        "quarantine",
        old,
        sa.Column("source", text, nullable=False),
        sa.Column("entity", text, nullable=False),
        sa.Column("partition", text),
        sa.Column("rule", sa.String(2000), nullable=False),
        sa.Column("raw_row", sa.Text(), nullable=False),
        sa.Column("run_id", text),
        sa.Column("quarantined_at", stamp, nullable=False),
    )
    return old


RELEASE_1 = _release_1_metadata()
"""The tables of the release before migrations (tests build such a warehouse from it)."""


def _create_release_1_tables(connection: sa.Connection, dialect: sa.Dialect) -> None:
    RELEASE_1.create_all(connection, checkfirst=True)


def _has_release_1_tables(columns: Columns) -> bool:
    return all(name in columns for name in RELEASE_1.tables)


# ----------------------------------------------------------------------------------------------------
# Migration 2 (issue 7): year-ago values, covered days, the sources of a loaded day.

COVERAGE_COLUMNS: dict[str, list[sa.Column]] = {
    "kpi_values": [sa.Column("year_ago_value", sa.Double()), sa.Column("days_covered", sa.BigInteger())],
    "key_results": [sa.Column("days_covered", sa.BigInteger())],
    "loaded_partitions": [sa.Column("sources", sa.String(2000))],
}


def _add_coverage_columns(connection: sa.Connection, dialect: sa.Dialect) -> None:
    for table, columns in COVERAGE_COLUMNS.items():
        for column in columns:
            add_column_if_missing(connection, table, column)


def _has_coverage_columns(columns: Columns) -> bool:
    return all(
        column.name in columns.get(table, set())
        for table, table_columns in COVERAGE_COLUMNS.items()
        for column in table_columns
    )


# ----------------------------------------------------------------------------------------------------
# Migration 3: kpi_values broken down by dimension, and kpi_definitions' declaration columns. Frozen
# here, like migration 1's tables: kpi/schema.py moves on, this must not.
#
# kpi_values' key gains dimension and dimension_value; the rows already there are the KPIs' totals, so
# they get '' in both. Its key text columns get bounded lengths: MariaDB/InnoDB limits a key to 3072
# bytes, and four VARCHAR(255) columns of utf8mb4 (4 bytes a character) and a date take
# 4 * 255 * 4 + 3 = 4083 of them; (100 + 16 + 100 + 255) * 4 + 3 = 1887 fit with room. A value too long
# for its new length makes the migration fail, changing nothing (PostgreSQL and MariaDB refuse to cut
# it). A primary key cannot be changed in place on DuckDB: there the table is rebuilt (create, copy
# every row and column, drop, rename).

KPI_VALUES_KEY = ("kpi_id", "grain", "period_start", "dimension", "dimension_value")
KPI_VALUES_KEY_TYPES: dict[str, sa.String] = {"kpi_id": sa.String(100), "grain": sa.String(16)}
DIMENSION_COLUMNS: list[sa.Column] = [
    sa.Column("dimension", sa.String(100), nullable=False, server_default=""),
    sa.Column("dimension_value", sa.String(255), nullable=False, server_default=""),
]
DECLARATION_COLUMNS: list[sa.Column] = [
    sa.Column("numerator", sa.String(1000)),
    sa.Column("denominator", sa.String(1000)),
    sa.Column("scale", sa.Double()),
    sa.Column("dimensions", sa.String(1000)),
    sa.Column("declared_in", sa.String(1000)),
]


def _column_definition(connection: sa.Connection, column: sa.Column) -> str:
    """`name TYPE [NOT NULL] [DEFAULT ...]` of `column` in the connection's dialect."""
    quote = connection.dialect.identifier_preparer.quote
    parts = [quote(column.name), column.type.compile(dialect=connection.dialect)]
    if column.server_default is not None:
        default = column.server_default.arg  # type: ignore[attr-defined]
        parts.append(f"DEFAULT {_literal(connection, str(default))}")
    if not column.nullable:
        parts.append("NOT NULL")
    return " ".join(parts)


def _key_list(connection: sa.Connection) -> str:
    quote = connection.dialect.identifier_preparer.quote
    return ", ".join(quote(name) for name in KPI_VALUES_KEY)


def _kpi_values_by_dimension(connection: sa.Connection, dialect: sa.Dialect) -> None:
    for column in DECLARATION_COLUMNS:
        add_column_if_missing(connection, "kpi_definitions", column)
    if dialect.name == "duckdb":
        _rebuild_duckdb_kpi_values(connection)
    elif dialect.name == "postgresql":
        _rekey_postgresql_kpi_values(connection)
    elif dialect.name in ("mysql", "mariadb"):
        _rekey_mariadb_kpi_values(connection)
    else:
        raise NotImplementedError(f"migration 3 has no steps for {dialect.name}")


def _rebuild_duckdb_kpi_values(connection: sa.Connection) -> None:
    """Create kpi_values anew with the new key (its columns as they are, in their order, with dimension
    and dimension_value after period_end), copy every row, drop the old table, rename the new one. The
    views on kpi_values are bound by name when queried: they read the new table."""
    quote = connection.dialect.identifier_preparer.quote
    existing = connection.exec_driver_sql(
        "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
        "WHERE table_name = 'kpi_values' AND schema_name = current_schema() "
        "AND database_name = current_database() ORDER BY column_index"
    ).all()
    names = [name for name, *_ in existing]
    if all(column.name in names for column in DIMENSION_COLUMNS):
        return  # already rebuilt
    definitions = []
    for name, data_type, is_nullable, default in existing:
        definitions.append(
            f"{quote(name)} {data_type}"
            + (f" DEFAULT {default}" if default is not None else "")
            + ("" if is_nullable and name not in KPI_VALUES_KEY else " NOT NULL")
        )
        if name == "period_end":
            definitions += [_column_definition(connection, column) for column in DIMENSION_COLUMNS]
    if "period_end" not in names:
        definitions += [_column_definition(connection, column) for column in DIMENSION_COLUMNS]
    rebuilt = "kpi_values_migration_3"
    copied = ", ".join(quote(name) for name in names)
    connection.exec_driver_sql(
        f"CREATE TABLE {rebuilt} ({', '.join(definitions)}, PRIMARY KEY ({_key_list(connection)}))"
    )
    connection.exec_driver_sql(f"INSERT INTO {rebuilt} ({copied}) SELECT {copied} FROM kpi_values")
    before = connection.exec_driver_sql("SELECT count(*) FROM kpi_values").scalar()
    after = connection.exec_driver_sql(f"SELECT count(*) FROM {rebuilt}").scalar()
    if before != after:  # cannot happen: the old key is part of the new one
        raise RuntimeError(f"kpi_values: {after} rows copied of {before}; nothing was changed")
    connection.exec_driver_sql("DROP TABLE kpi_values")
    connection.exec_driver_sql(f"ALTER TABLE {rebuilt} RENAME TO kpi_values")


def _rekey_postgresql_kpi_values(connection: sa.Connection) -> None:
    """One ALTER TABLE: the new columns (existing rows get ''), the key columns shortened, the primary
    key dropped and added anew. PostgreSQL refuses to change the type of a column a view reads: the
    views on kpi_values (ours, and a BI user's, directly or through ours) are set aside and recreated
    as they were; the upgrade then replaces ours."""
    quote = connection.dialect.identifier_preparer.quote
    (primary_key,) = connection.exec_driver_sql(
        "SELECT quote_ident(conname) FROM pg_constraint "
        "WHERE conrelid = to_regclass('kpi_values') AND contype = 'p'"
    ).one()
    dependents = _postgresql_dependent_views(connection, "kpi_values")
    _drop_views(connection, dependents)
    changes = [f"DROP CONSTRAINT {primary_key}"]
    changes += [
        f"ALTER COLUMN {quote(name)} TYPE {column_type.compile(dialect=connection.dialect)}"
        for name, column_type in KPI_VALUES_KEY_TYPES.items()
    ]
    changes += [f"ADD COLUMN {_column_definition(connection, column)}" for column in DIMENSION_COLUMNS]
    changes.append(f"ADD PRIMARY KEY ({_key_list(connection)})")
    connection.exec_driver_sql(f"ALTER TABLE kpi_values {', '.join(changes)}")
    _recreate_views(connection, dependents, "kpi_values")


def _rekey_mariadb_kpi_values(connection: sa.Connection) -> None:
    """One ALTER TABLE (atomic, so a failure leaves the old table): the key columns shortened (MariaDB
    refuses to cut a longer value), the new columns after period_end (existing rows get ''), the primary
    key dropped and added anew. Skipped when an earlier run did it and failed afterwards."""
    quote = connection.dialect.identifier_preparer.quote
    key = sa.inspect(connection).get_pk_constraint("kpi_values")["constrained_columns"]
    if tuple(key) == KPI_VALUES_KEY:
        return
    present = column_names(connection, "kpi_values")
    changes = ["DROP PRIMARY KEY"]
    changes += [
        f"MODIFY COLUMN {quote(name)} {column_type.compile(dialect=connection.dialect)} NOT NULL"
        for name, column_type in KPI_VALUES_KEY_TYPES.items()
    ]
    after = "period_end"
    for column in DIMENSION_COLUMNS:
        if column.name not in present:
            changes.append(f"ADD COLUMN {_column_definition(connection, column)} AFTER {quote(after)}")
        after = column.name
    changes.append(f"ADD PRIMARY KEY ({_key_list(connection)})")
    connection.exec_driver_sql(f"ALTER TABLE kpi_values {', '.join(changes)}")


def _add_measure_tables(connection: sa.Connection, dialect: sa.Dialect) -> None:
    for table in (schema.measure_sets, schema.measure_days, schema.measure_first_days):
        table.create(connection, checkfirst=True)


# ----------------------------------------------------------------------------------------------------
# Migration 5: key results the way OKR teams write them (types, measures, weights, dimensions), aligned
# objectives, objective progress and alerts. The columns are frozen here; the new tables are created
# from kpi/schema.py as they are at this migration (like migration 4's).

OKR_COLUMNS: dict[str, list[sa.Column]] = {
    "objectives": [sa.Column("parent_objective_id", sa.String(255))],
    "key_result_definitions": [
        sa.Column("type", sa.String(16)),
        sa.Column("measure", sa.String(64)),
        sa.Column("weight", sa.Double()),
        sa.Column("dimension", sa.String(100)),
        sa.Column("dimension_value", sa.String(255)),
    ],
    "key_results": [sa.Column("window_start", sa.Date()), sa.Column("window_end", sa.Date())],
}


def _okr_types_and_objective_progress(connection: sa.Connection, dialect: sa.Dialect) -> None:
    for table, columns in OKR_COLUMNS.items():
        for column in columns:
            add_column_if_missing(connection, table, column)
    # a stay_above / stay_below key result has no baseline
    if dialect.name in ("mysql", "mariadb"):
        connection.exec_driver_sql("ALTER TABLE key_result_definitions MODIFY baseline DOUBLE NULL")
    else:
        connection.exec_driver_sql("ALTER TABLE key_result_definitions ALTER COLUMN baseline DROP NOT NULL")
    for new_table in (schema.objective_progress, schema.alerts):
        new_table.create(connection, checkfirst=True)


# ----------------------------------------------------------------------------------------------------
# Migration 6, MariaDB only: timestamps to the microsecond (DATETIME(6); its plain DATETIME keeps whole
# seconds, so a day loaded in the second kpi_values were computed for it compared equal), and a
# quarantined raw row of any size (LONGTEXT; TEXT holds 64 KB). PostgreSQL and DuckDB have both.


def _modify_columns(dialect: sa.Dialect, columns: Iterable[sa.Column]) -> list[str]:
    """MariaDB/MySQL `MODIFY COLUMN` clauses giving each column its whole definition in kpi/schema.py
    (type, nullability, comment): MODIFY replaces all of it."""
    compiler = dialect.ddl_compiler(dialect, None)  # type: ignore[arg-type]
    return [f"MODIFY COLUMN {compiler.get_column_specification(column)}" for column in columns]


def _microsecond_timestamps(connection: sa.Connection, dialect: sa.Dialect) -> None:
    if dialect.name not in ("mysql", "mariadb"):
        return
    quote = dialect.identifier_preparer.quote
    for table in schema.metadata.sorted_tables:
        if not _has_table(connection, table.name):
            continue
        changes = _modify_columns(
            dialect,
            (
                column
                for column in table.columns
                if isinstance(column.type, sa.DateTime) or column is schema.quarantine.c.raw_row
            ),
        )
        if changes:
            connection.exec_driver_sql(f"ALTER TABLE {quote(table.name)} {', '.join(changes)}")


MIGRATIONS: list[Migration] = [
    Migration(1, "tables of the first release", _create_release_1_tables, _has_release_1_tables),
    Migration(
        2,
        "kpi_values.year_ago_value and days_covered, key_results.days_covered, loaded_partitions.sources",
        _add_coverage_columns,
        _has_coverage_columns,
    ),
    Migration(
        3,
        "kpi_values.dimension and dimension_value in its key; kpi_definitions.numerator, denominator, "
        "scale, dimensions and declared_in",
        _kpi_values_by_dimension,
    ),
    Migration(
        4,
        "measure_sets, measure_days and measure_first_days: flow measures kept per day",
        _add_measure_tables,
    ),
    Migration(
        5,
        "key result types, measures, weights and dimensions; objectives' parent; key_results' measure "
        "window; tables objective_progress and alerts",
        _okr_types_and_objective_progress,
    ),
    Migration(
        6,
        "on MariaDB: timestamps to the microsecond, quarantine.raw_row of any size",
        _microsecond_timestamps,
    ),
]
LATEST_VERSION = MIGRATIONS[-1].version


# ----------------------------------------------------------------------------------------------------
# Reading a warehouse's state.


@dataclass
class SchemaState:
    version: int | None  # None: no schema_version table
    applied: dict[str, str] = field(default_factory=dict)  # schema_objects: object_name -> hash


def _has_table(connection: sa.Connection, name: str) -> bool:
    return sa.inspect(connection).has_table(name)


def read_state(connection: sa.Connection) -> SchemaState:
    if not _has_table(connection, schema.schema_version.name):
        return SchemaState(version=None)
    version = connection.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
    state = SchemaState(version=version or 0)
    if _has_table(connection, schema.schema_objects.name):
        objects = schema.schema_objects
        state.applied = dict(
            connection.execute(sa.select(objects.c.object_name, objects.c.definition_hash)).all()
        )
    return state


def existing_columns(connection: sa.Connection) -> dict[str, set[str]]:
    """The columns of each table of kpi/schema.py or of migration 1 the warehouse has."""
    names = set(schema.metadata.tables) | set(RELEASE_1.tables)
    return {name: column_names(connection, name) for name in sorted(names) if _has_table(connection, name)}


def detect_version(columns: Columns) -> int:
    """The version of a warehouse without schema_version: the last migration, in order, whose changes
    its columns show (0: none, a new warehouse)."""
    version = 0
    for migration in MIGRATIONS:
        if migration.found_in is None or not migration.found_in(columns):
            break
        version = migration.version
    return version


# ----------------------------------------------------------------------------------------------------
# Locking: one process at a time upgrades a warehouse.

_LOCAL_LOCKS: dict[str, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()
ADVISORY_LOCK_KEY = 7_314_159_265  # pg_advisory_lock key of the schema upgrade (per database)
LOCK_TIMEOUT_SECONDS = 600
SCHEMA_LOCK = "kpi_schema"  # MariaDB's GET_LOCK name, with the database's (kpi.locks.MYSQL_LOCK_NAME)


@contextmanager
def schema_lock(connection: sa.Connection) -> Iterator[None]:
    """Hold the warehouse's schema lock on `connection` (session-level: across its transactions)."""
    key = connection.engine.url.render_as_string(hide_password=False)
    with _LOCAL_LOCKS_GUARD:
        local = _LOCAL_LOCKS.setdefault(key, threading.Lock())
    dialect = connection.dialect.name
    with local:
        if dialect == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})")
        elif dialect in ("mysql", "mariadb"):
            got = connection.execute(
                sa.text(f"SELECT GET_LOCK({MYSQL_LOCK_NAME}, {LOCK_TIMEOUT_SECONDS})"), {"name": SCHEMA_LOCK}
            ).scalar()
            if got != 1:
                raise RuntimeError("another process has held the warehouse's schema lock for 10 minutes")
        connection.commit()
        try:
            yield
        finally:
            if connection.in_transaction():
                connection.rollback()
            if dialect == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")
            elif dialect in ("mysql", "mariadb"):
                connection.execute(sa.text(f"SELECT RELEASE_LOCK({MYSQL_LOCK_NAME})"), {"name": SCHEMA_LOCK})
            connection.commit()


# ----------------------------------------------------------------------------------------------------
# Migrating.


def _now() -> datetime:
    return datetime.now(UTC)


def _record(connection: sa.Connection, migrations: list[Migration]) -> None:
    if migrations:
        connection.execute(
            schema.schema_version.insert(),
            [{"version": m.version, "name": m.name, "applied_at": _now()} for m in migrations],
        )


def _is_recorded(connection: sa.Connection, version: int) -> bool:
    table = schema.schema_version
    return (
        connection.execute(sa.select(table.c.version).where(table.c.version == version)).first() is not None
    )


class NewerWarehouseError(RuntimeError):
    """The warehouse was migrated by a newer release than this code."""


def _refuse_newer(state: SchemaState) -> None:
    if state.version is not None and state.version > LATEST_VERSION:
        raise NewerWarehouseError(
            f"the warehouse is at schema version {state.version}, newer than this release's "
            f"{LATEST_VERSION}: run the release that migrated it (or a later one)"
        )


def _migrate_locked(connection: sa.Connection) -> list[int]:
    """Bring the warehouse to LATEST_VERSION (the schema lock held); the versions applied."""
    if connection.in_transaction():
        connection.commit()
    with connection.begin():
        has_version_table = _has_table(connection, schema.schema_version.name)
        columns = {} if has_version_table else existing_columns(connection)
    if not has_version_table:
        if not columns:
            # A new warehouse: every table at the latest shape, every version recorded, at once.
            with connection.begin():
                schema.metadata.create_all(connection, checkfirst=True)
                _record(connection, MIGRATIONS)
            return [migration.version for migration in MIGRATIONS]
        # Made before schema_version: its version is what its columns show.
        found = detect_version(columns)
        with connection.begin():
            schema.schema_version.create(connection, checkfirst=True)
            _record(connection, [m for m in MIGRATIONS if m.version <= found])
    with connection.begin():
        schema.schema_objects.create(connection, checkfirst=True)
    applied = []
    for migration in MIGRATIONS:
        try:
            with connection.begin():
                if _is_recorded(connection, migration.version):
                    continue
                migration.apply(connection, connection.dialect)
                _record(connection, [migration])
        except sa.exc.IntegrityError:
            # Another process recorded it first (and, having the same code, applied the same change).
            with connection.begin():
                if not _is_recorded(connection, migration.version):
                    raise
            continue
        applied.append(migration.version)
    return applied


MARIADB_CONCURRENT_DDL = {
    1412: "a table this transaction read was changed since its snapshot began (please retry)",
    1684: "a table described is being created or altered by another connection's DDL",
}
"""The MariaDB/MySQL errors by which a read without the schema lock meets another process's upgrade."""


def _unlocked_state(connection: sa.Connection) -> SchemaState | None:
    """The schema state, read without the schema lock (the quick check of a warehouse up to date), or
    None when another process's upgrade changed a table under the read (MARIADB_CONCURRENT_DDL): the
    caller then reads it again under the lock, after that upgrade."""
    try:
        return read_state(connection)
    except sa.exc.OperationalError as error:
        code = getattr(error.orig, "args", (None,))[0]
        if code not in MARIADB_CONCURRENT_DDL:
            raise
        return None
    finally:
        connection.rollback()


def _locked_state(connection: sa.Connection) -> SchemaState:
    """The schema state read under the schema lock; refuses a warehouse of a newer release."""
    with connection.begin():
        state = read_state(connection)
    _refuse_newer(state)
    return state


def migrate(engine: sa.Engine) -> list[int]:
    """Bring the warehouse to the latest version in place, its rows kept; the versions applied."""
    with engine.connect() as connection:
        state = _unlocked_state(connection)
        if state is not None and state.version == LATEST_VERSION:
            return []
        if state is not None:
            _refuse_newer(state)
        with schema_lock(connection):
            if state is None:
                _locked_state(connection)
            return _migrate_locked(connection)


# ----------------------------------------------------------------------------------------------------
# Views.


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _view_key(name: str) -> str:
    return f"view:{name}"


def _wanted_views(dialect: sa.Dialect) -> dict[str, str]:
    return {name: view.render(dialect) for name, view in schema.VIEWS.items()}


def _remember(connection: sa.Connection, name: str, definition_hash: str) -> None:
    objects = schema.schema_objects
    connection.execute(objects.delete().where(objects.c.object_name == name))
    connection.execute(
        objects.insert(), {"object_name": name, "definition_hash": definition_hash, "applied_at": _now()}
    )


class DependentViewError(RuntimeError):
    """A BI user's view on one of ours cannot be recreated on the new definition."""


def _replace_view(connection: sa.Connection, name: str, sql: str) -> None:
    quote = connection.dialect.identifier_preparer.quote
    if connection.dialect.name != "postgresql":
        # MariaDB and DuckDB resolve a view's references by name when it is queried: a user's view on
        # ours keeps working as long as the columns it names are still there.
        connection.exec_driver_sql(f"CREATE OR REPLACE VIEW {quote(name)} AS {sql}")
        return
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(f"CREATE OR REPLACE VIEW {quote(name)} AS {sql}")
        return
    except sa.exc.DBAPIError as error:
        # 42P16: columns renamed, dropped or inserted before the end. 42804: a column's type changed.
        if getattr(error.orig, "sqlstate", None) not in ("42P16", "42804"):
            raise
    dependents = _postgresql_dependent_views(connection, name)
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote(name)} CASCADE")
    connection.exec_driver_sql(f"CREATE VIEW {quote(name)} AS {sql}")
    _recreate_views(connection, dependents, name)


def _drop_views(connection: sa.Connection, views: list[_DependentView]) -> None:
    """Drop `views` (PostgreSQL), with what depends on them (which `views` lists too when it came from
    `_postgresql_dependent_views`)."""
    for view in views:
        kind = "MATERIALIZED VIEW" if view.kind == "m" else "VIEW"
        connection.exec_driver_sql(f"DROP {kind} IF EXISTS {view.qualified_name} CASCADE")


def _recreate_views(connection: sa.Connection, views: list[_DependentView], name: str) -> None:
    """Recreate `views` (PostgreSQL), read before `name` changed, in their order."""
    for view in views:
        try:
            with connection.begin_nested():
                for statement in view.statements():
                    connection.exec_driver_sql(statement)
        except sa.exc.DBAPIError as error:
            raise DependentViewError(
                f"the view {view.qualified_name} depends on {name} and cannot be recreated on its new "
                f"definition ({error.orig}); nothing was changed"
            ) from error


@dataclass
class _DependentView:
    qualified_name: str
    kind: str  # v: view, m: materialized view
    definition: str
    options: list[str]
    owner: str
    comment: str | None
    column_comments: dict[str, str]
    grants: list[str]
    indexes: list[str]
    literal: Callable[[str], str]

    def statements(self) -> list[str]:
        options = f" WITH ({', '.join(self.options)})" if self.options else ""
        kind = "MATERIALIZED VIEW" if self.kind == "m" else "VIEW"
        statements = [
            f"CREATE {kind} {self.qualified_name}{options} AS {self.definition.rstrip().rstrip(';')}"
        ]
        statements.append(f"ALTER {kind} {self.qualified_name} OWNER TO {self.owner}")
        if self.comment is not None:
            statements.append(f"COMMENT ON {kind} {self.qualified_name} IS {self.literal(self.comment)}")
        for column, comment in self.column_comments.items():
            statements.append(f"COMMENT ON COLUMN {self.qualified_name}.{column} IS {self.literal(comment)}")
        return [*statements, *self.indexes, *self.grants]


_DEPENDENTS_SQL = """
WITH RECURSIVE dependents(oid, depth) AS (
    SELECT r.ev_class, 1
    FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.refobjid = to_regclass(%(view)s) AND r.ev_class <> d.refobjid
    UNION ALL
    SELECT r.ev_class, dependents.depth + 1
    FROM dependents
    JOIN pg_depend d ON d.refobjid = dependents.oid AND d.refclassid = 'pg_class'::regclass
        AND d.classid = 'pg_rewrite'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE r.ev_class <> dependents.oid
)
SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind, max(dependents.depth),
    pg_get_viewdef(c.oid), coalesce(c.reloptions, '{}'), quote_ident(pg_get_userbyid(c.relowner)),
    obj_description(c.oid, 'pg_class')
FROM dependents JOIN pg_class c ON c.oid = dependents.oid JOIN pg_namespace n ON n.oid = c.relnamespace
GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.reloptions, c.relowner
ORDER BY max(dependents.depth), c.oid
"""

_GRANTS_SQL = """
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
    a.privilege_type, a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %(oid)s AND a.grantee <> c.relowner
"""


def _postgresql_dependent_views(connection: sa.Connection, name: str) -> list[_DependentView]:
    """Every view built on `name`, directly or through another, in an order to recreate them."""

    def literal(text: str) -> str:
        return str(
            sa.literal(text, sa.String()).compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
        )

    views = []
    for oid, qualified, kind, _depth, definition, options, owner, comment in connection.exec_driver_sql(
        _DEPENDENTS_SQL, {"view": name}
    ):
        column_comments = {
            connection.dialect.identifier_preparer.quote(column): text
            for column, text in connection.exec_driver_sql(
                "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
                "WHERE attrelid = %(oid)s AND attnum > 0 AND NOT attisdropped "
                "AND col_description(attrelid, attnum) IS NOT NULL ORDER BY attnum",
                {"oid": oid},
            )
        }
        grants = [
            f"GRANT {privilege} ON {qualified} TO {grantee}" + (" WITH GRANT OPTION" if grantable else "")
            for grantee, privilege, grantable in connection.exec_driver_sql(_GRANTS_SQL, {"oid": oid})
        ]
        indexes = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %(oid)s", {"oid": oid}
            )
        ]
        views.append(
            _DependentView(
                qualified,
                kind,
                definition,
                list(options),
                owner,
                comment,
                column_comments,
                grants,
                indexes,
                literal,
            )
        )
    return views


# ----------------------------------------------------------------------------------------------------
# Comments.


def _literal(connection: sa.Connection, text: str) -> str:
    return str(
        sa.literal(text, sa.String()).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
    )


def comment_statements(connection: sa.Connection) -> list[str]:
    """The statements that set every table, column and (where the database has them) view comment."""
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    statements = []
    tables = schema.metadata.sorted_tables
    if dialect.name in ("mysql", "mariadb"):
        # One ALTER TABLE per table; MODIFY needs the whole column definition (it is ours: the DDL is ours).
        for table in tables:
            parts = [f"COMMENT = {_literal(connection, table.comment or '')}"]
            parts += _modify_columns(dialect, table.columns)
            statements.append(f"ALTER TABLE {quote(table.name)} {', '.join(parts)}")
        return statements  # MariaDB views have no comments
    for table in tables:
        statements.append(
            f"COMMENT ON TABLE {quote(table.name)} IS {_literal(connection, table.comment or '')}"
        )
        statements += [
            f"COMMENT ON COLUMN {quote(table.name)}.{quote(column.name)} IS {_literal(connection, column.comment or '')}"
            for column in table.columns
        ]
    for view in schema.VIEWS.values():
        statements.append(f"COMMENT ON VIEW {quote(view.name)} IS {_literal(connection, view.comment)}")
        statements += [
            f"COMMENT ON COLUMN {quote(view.name)}.{quote(column)} IS {_literal(connection, comment)}"
            for column, comment in view.columns.items()
        ]
    return statements


# ----------------------------------------------------------------------------------------------------
# All of it.


@dataclass
class Upgrade:
    """What an upgrade changed."""

    migrations: list[int] = field(default_factory=list)
    views: list[str] = field(default_factory=list)
    comments: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.migrations or self.views or self.comments)


COMMENTS_KEY = "comments"


def upgrade(engine: sa.Engine) -> Upgrade:
    """Migrate the warehouse, replace the views whose definitions changed and apply the comments when
    they changed; a warehouse already up to date costs a few catalog queries."""
    with engine.connect() as connection:
        state = _unlocked_state(connection)
        views = _wanted_views(connection.dialect)
        comments_hash = _hash("\n".join(comment_statements(connection)))
        wanted = {_view_key(name): _hash(sql) for name, sql in views.items()} | {COMMENTS_KEY: comments_hash}
        if state is not None:
            if state.version == LATEST_VERSION and all(state.applied.get(k) == v for k, v in wanted.items()):
                return Upgrade()
            _refuse_newer(state)
        with schema_lock(connection):
            if state is None:
                _locked_state(connection)
            done = Upgrade(migrations=_migrate_locked(connection))
            with connection.begin():
                applied = read_state(connection).applied
            for name, sql in views.items():
                if done.migrations or applied.get(_view_key(name)) != _hash(sql):
                    with connection.begin():
                        _replace_view(connection, name, sql)
                        _remember(connection, _view_key(name), _hash(sql))
                    done.views.append(name)
            # (DuckDB forgets a view's comments when it is replaced; a migration may recreate a table.)
            if done.migrations or done.views or applied.get(COMMENTS_KEY) != comments_hash:
                with connection.begin():
                    for statement in comment_statements(connection):
                        connection.exec_driver_sql(statement)
                    _remember(connection, COMMENTS_KEY, comments_hash)
                done.comments = True
        return done
