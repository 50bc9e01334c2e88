"""The local Dagster instance's event log: Dagster's one-file SQLite storage, made cheap per event.

Dagster's ConsolidatedSqliteEventLogStorage opens a new SQLAlchemy engine and connection for every
event it stores, and SQLite's default rollback journal syncs the disk several times per commit. A
365-day single-run backfill records a materialization per day and asset (about 3,000 events):
measured on 2 cores, those writes took 40 of its 66 seconds. This subclass changes only how it
connects: one engine per storage (a small pool), the database in WAL mode (readers, such as the
webserver, never block the writer) with `synchronous=NORMAL` (a commit appends to the log without
waiting for the disk; a power cut may lose the last events of the run history, never corrupt it, and
the warehouse's loaded_partitions stays the record of what was loaded). Every query, table and
migration is Dagster's own.

Run logs are followed by polling (Dagster's SqlPollingEventWatcher, as its PostgreSQL storage does):
Dagster's SQLite storage learns of new events from the database file changing on disk, which a WAL
database with connections held open does only at checkpoints, so the UI's live run logs would stall.

`kpi/runner.py` writes it into the dagster.yaml of each config's local instance; a team instance
(examples/dagster.yaml) keeps its events in PostgreSQL instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from dagster._core.storage.event_log import ConsolidatedSqliteEventLogStorage
from dagster._core.storage.event_log.polling_event_watcher import SqlPollingEventWatcher
from dagster._serdes import ConfigurableClassData

BUSY_TIMEOUT_SECONDS = 30  # a writer waits this long for another process's write (Dagster's own value)


class LocalEventLogStorage(ConsolidatedSqliteEventLogStorage):
    """ConsolidatedSqliteEventLogStorage with one pooled engine, WAL and synchronous=NORMAL."""

    _engine: sa.Engine | None = None
    _engine_lock = threading.Lock()
    _event_watcher: SqlPollingEventWatcher | None = None

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> LocalEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tables_found: set[str] = set()  # (before Dagster's __init__, which may ask already)
        super().__init__(*args, **kwargs)

    def has_table(self, table_name: str) -> bool:
        """Whether the database has the table, on the pooled engine, and asked once per table found.

        Dagster's storage asks before storing every asset or check event, each time on a new engine
        (41 times for a nightly day, 0.04 s). A table, once there, stays: only a migration adds one
        (an absent table is asked again, so one another process migrates in is seen)."""
        if table_name in self._tables_found:
            return True
        with self._pooled_engine().connect() as connection:
            found = bool(connection.dialect.has_table(connection, table_name))
        if found:
            self._tables_found.add(table_name)
        return found

    def _pooled_engine(self) -> sa.Engine:
        with self._engine_lock:
            if self._engine is None:
                self._engine = self._new_engine()
            return self._engine

    def _new_engine(self) -> sa.Engine:
        # The webserver serves requests from many threads: a pool that grows with them (SQLite
        # connections are cheap; the file, not the pool, serializes writers).
        engine = sa.create_engine(
            self._conn_string, connect_args={"timeout": BUSY_TIMEOUT_SECONDS}, pool_size=2, max_overflow=30
        )

        @sa.event.listens_for(engine, "connect")
        def _journal(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:  # type: ignore[override]
        with self._pooled_engine().connect() as connection, connection.begin():
            yield connection

    def watch(self, run_id: str, cursor: str | None, callback: Any) -> None:
        """Follow a run's new events by polling the database (see the module's docstring)."""
        if self._event_watcher is None:
            self._event_watcher = SqlPollingEventWatcher(self)
        self._event_watcher.watch_run(run_id, cursor, callback)

    def end_watch(self, run_id: str, handler: Any) -> None:
        if self._event_watcher is not None:
            self._event_watcher.unwatch_run(run_id, handler)

    def dispose(self) -> None:
        if self._event_watcher is not None:
            self._event_watcher.close()
            self._event_watcher = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        super().dispose()
