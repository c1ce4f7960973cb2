"""The event log on PostgreSQL: a save and a ticket's history each in one round trip.

The library's recorder saves through an ORM session: BEGIN, LOCK TABLE, INSERT, NOTIFY and
COMMIT are five round trips, and the table lock that keeps the log gap-free is held through
the last four of them, waiting each time for the web worker's other threads to hand back the
interpreter lock. Saves then queue behind whichever thread holds the table. Here the lock, the
insert and the notification travel as one query string, which PostgreSQL runs as one implicit
transaction: the table is locked only while the server itself works, and commit order still
equals notification order. Reading a ticket's events is one SELECT outside a transaction.

Following the log (`subscribe()`) obeys PostgreSQL's rule for LISTEN: listen first, then read.
The library's subscription reads the log in one thread and starts to LISTEN in another, so an
event committed between the two was never announced to it, and it waited for ever.

Everything else (the notification log, tracking, SQLite) is the library's recorder unchanged.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import sqlalchemy as sa
import sqlalchemy.exc
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    ListenNotifySubscription,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Subscription,
)
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore, transactions
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy.engine import Connection, Engine

POOL_SIZE = 10  # connections kept open: gunicorn's 8 threads of a web worker, and two spare
POOL_OVERFLOW = 10  # further connections opened under a burst, closed once it is over
WAKE_INTERVAL = 0.25  # the longest a follower of the log waits for a NOTIFY before it looks

# SQLAlchemy's database errors (named as in the DB-API) become the library's own, as its
# recorder raises them.
_TRANSLATIONS: tuple[tuple[str, type[PersistenceError]], ...] = (
    ("InterfaceError", InterfaceError),
    ("DataError", DataError),
    ("OperationalError", OperationalError),
    ("IntegrityError", IntegrityError),
    ("InternalError", InternalError),
    ("ProgrammingError", ProgrammingError),
    ("NotSupportedError", NotSupportedError),
    ("DatabaseError", DatabaseError),
)


class EventLogRecorder(SQLAlchemyApplicationRecorder):
    """The library's application recorder, with single-round-trip saves and reads on PostgreSQL."""

    def __init__(self, datastore: Any, *, events_table_name: str, schema_name: str | None = None):
        super().__init__(datastore, events_table_name=events_table_name, schema_name=schema_name)
        engine = datastore.engine
        self._direct = engine is not None and engine.dialect.name == "postgresql"
        table = events_table_name if schema_name is None else f"{schema_name}.{events_table_name}"
        self._table = table
        self._lock_and_notify = f"LOCK TABLE {table} IN EXCLUSIVE MODE; NOTIFY {self.channel_name};"
        self._sqlite = engine is not None and engine.dialect.name == "sqlite"
        if self._sqlite:
            # SQLite hands out max(id) + 1: after the newest events were deleted, their
            # positions would be given again, and every follower past them would skip the new
            # events. AUTOINCREMENT never gives a position twice.
            self.events_record_cls.__table__.dialect_options["sqlite"]["autoincrement"] = True

    def create_table(self) -> None:
        """Create the event log's table; on SQLite, one whose positions are never reused."""
        super().create_table()
        if self._sqlite:
            self._never_reuse_positions()

    def _never_reuse_positions(self) -> None:
        # A table made before positions were kept unique is copied into one that keeps them,
        # in one transaction, positions and all.
        table: sa.Table = self.events_record_cls.__table__
        engine: Any = self.datastore.engine
        with engine.begin() as connection:
            made = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table.name,)
            ).scalar()
            if made is None or "AUTOINCREMENT" in made.upper():
                return
            copy = f"{table.name}_before_autoincrement"
            connection.exec_driver_sql(f'CREATE TABLE "{copy}" AS SELECT * FROM "{table.name}"')
            connection.exec_driver_sql(f'DROP TABLE "{table.name}"')
            table.create(connection)
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            connection.exec_driver_sql(
                f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{copy}"'
            )
            connection.exec_driver_sql(f'DROP TABLE "{copy}"')

    def insert_events(
        self, stored_events: Sequence[StoredEvent], *, session: Any = None, **kwargs: Any
    ) -> Sequence[int] | None:
        """Record the events; their notification ids, in the order given."""
        if not self._direct or session is not None or _in_transaction() or _extras(kwargs):
            return super().insert_events(stored_events, session=session, **kwargs)
        if not stored_events:
            return []
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(stored_events))
        statement = (
            f"{self._lock_and_notify} INSERT INTO {self._table} "
            "(originator_id, originator_version, topic, state) "
            f"VALUES {rows} RETURNING id, originator_id, originator_version"
        )
        parameters: list[Any] = []
        for event in stored_events:
            parameters += (str(event.originator_id), event.originator_version)
            parameters += (event.topic, event.state)
        with self._autocommit() as connection:
            returned = connection.exec_driver_sql(statement, tuple(parameters)).all()
        ids = {(str(row[1]), row[2]): row[0] for row in returned}
        return [ids[str(e.originator_id), e.originator_version] for e in stored_events]

    def select_events(
        self,
        originator_id: UUID | str,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """One aggregate's stored events, in version order (or reversed), as the library reads."""
        if not self._direct or _in_transaction():
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        identity = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        statement = (
            f"SELECT originator_version, topic, state FROM {self._table} WHERE originator_id = %s"
        )
        parameters: list[Any] = [str(identity)]
        if gt is not None:
            statement += " AND originator_version > %s"
            parameters.append(gt)
        if lte is not None:
            statement += " AND originator_version <= %s"
            parameters.append(lte)
        statement += " ORDER BY originator_version" + (" DESC" if desc else "")
        if limit is not None:
            statement += " LIMIT %s"
            parameters.append(limit)
        with self._autocommit() as connection:
            rows = connection.exec_driver_sql(statement, tuple(parameters)).all()
        return [
            StoredEvent(
                originator_id=identity, originator_version=version, topic=topic, state=bytes(state)
            )
            for version, topic, state in rows
        ]

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[Any]:
        """The notifications after position `gt`, as they are recorded (PostgreSQL only)."""
        if not self._direct:
            return super().subscribe(gt=gt, topics=topics)
        return EventLogSubscription(self, gt=gt, topics=topics)

    @contextmanager
    def _autocommit(self) -> Iterator[Connection]:
        engine: Any = self.datastore.engine
        # The driver's own errors too: switching a connection the server has just cut to
        # autocommit fails in psycopg2 itself, before SQLAlchemy sees anything.
        try:
            with autocommit(engine) as connection:
                yield connection
        except (sqlalchemy.exc.SQLAlchemyError, engine.dialect.loaded_dbapi.Error) as error:
            raise _translated(error) from error


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A pooled connection on which each statement string is its own transaction.

    On PostgreSQL this saves the BEGIN and COMMIT (or ROLLBACK) round trips around a single
    statement. The flag is set on the driver's connection, not as SQLAlchemy's isolation
    level, whose reset on return costs one more round trip. Errors still pass through
    SQLAlchemy, so a lost server invalidates the pool as anywhere else. Elsewhere (SQLite) it
    is a transaction committed at the end of the block.
    """
    if engine.dialect.name != "postgresql":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        driver: Any = connection.connection.driver_connection
        if not driver.closed:  # a closed one fails in SQLAlchemy's hands, which drop it
            driver.autocommit = True
        try:
            yield connection
        finally:
            if not driver.closed:
                driver.autocommit = False


class EventLogSubscription(ListenNotifySubscription[EventLogRecorder]):
    """The library's pulling subscription, woken by a LISTEN that is in force before it reads.

    Its listening connection is opened, and LISTEN committed, before the puller's first read,
    so every commit after that read is announced. It blocks in select() on that connection
    rather than sleeping between looks, so a commit wakes it at once.
    """

    def __init__(self, recorder: EventLogRecorder, gt: int | None, topics: Sequence[str]):
        engine: Any = recorder.datastore.engine  # typed loosely by the library
        self._listening = listening(engine, recorder.channel_name)
        self._listener = self._listening.__enter__()
        try:
            super().__init__(recorder=recorder, gt=gt, topics=topics)  # starts the puller
        except BaseException:
            self._listening.__exit__(None, None, None)
            raise
        self._listen_thread = threading.Thread(target=self._listen, name="event log listener")
        self._listen_thread.start()

    def __exit__(self, *args: object, **kwargs: Any) -> None:
        try:
            super().__exit__(*args, **kwargs)
        finally:
            self._listen_thread.join()

    def _listen(self) -> None:
        try:
            while not self._has_been_stopped:
                # Woken by a NOTIFY, or after WAKE_INTERVAL all the same: the puller then looks
                # again, so even a notification lost with a server restart delays, not loses.
                await_notification(self._listener, WAKE_INTERVAL)
                self._has_been_notified.set()
        except BaseException as error:  # raised to the subscriber by the library's __next__
            if self._thread_error is None:
                self._thread_error = error
            self.stop()
        finally:
            self._listening.__exit__(None, None, None)


@contextmanager
def listening(engine: Engine, channel: str) -> Iterator[Any]:
    """A PostgreSQL connection of its own on which LISTEN `channel` is already in force.

    Outside the pool: a pooled connection would go on collecting notifications for whoever
    borrows it next. LISTEN is committed before this yields, so a reader that looks at the log
    afterwards misses nothing (PostgreSQL's documented order: listen, commit, then read).
    """
    listener = connect_directly(engine)
    try:
        listener.autocommit = True
        with listener.cursor() as cursor:
            cursor.execute(f"LISTEN {channel}")
        yield listener
    finally:
        listener.close()


def connect_directly(engine: Engine) -> Any:
    """A new driver connection to the engine's database, bypassing its pool."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    return engine.dialect.loaded_dbapi.connect(*args, **kwargs)


def await_notification(listener: Any, timeout: float) -> bool:
    """Whether a notification arrived on the listening connection within `timeout` seconds."""
    if not select.select([listener], [], [], timeout)[0]:
        return False
    listener.poll()
    notified = bool(listener.notifies)
    listener.notifies.clear()
    return notified


def _translated(error: Exception) -> PersistenceError:
    """The library's exception for a database error, as its own recorder raises it."""
    names = {kind.__name__ for kind in type(error).__mro__}
    for name, raised in _TRANSLATIONS:
        if name in names:
            return raised(error)
    return PersistenceError(error)


def _in_transaction() -> bool:
    # Inside a transaction the library opened, the events must join it.
    return transactions.get(None) is not None


def _extras(kwargs: dict[str, Any]) -> bool:
    # Tracking records (process applications) go with the events: the library's path.
    return any(value is not None for value in kwargs.values())


class EventLogDatastore(SQLAlchemyDatastore):
    """The library's datastore, with a connection pool as large as a web worker's threads,
    whose connections are tested before use."""

    def __init__(self, *, url: str | None = None, **kwargs: Any) -> None:
        if url and url.startswith("postgresql"):
            # SQLAlchemy keeps 5 connections by default: with 8 request threads, the extra ones
            # were opened and closed again request after request, each a new server process.
            kwargs.setdefault("pool_size", POOL_SIZE)
            kwargs.setdefault("max_overflow", POOL_OVERFLOW)
            # After a failover or a restart of the server every pooled connection is dead: a
            # round trip when each is taken out finds it so, instead of the request failing
            # (its cost is measured by `make bench`).
            kwargs.setdefault("pool_pre_ping", True)
        super().__init__(url=url, **kwargs)


class EventLogFactory(SQLAlchemyFactory):
    """The library's SQLAlchemy persistence, with the event log's recorder."""

    datastore_class = EventLogDatastore
    application_recorder_class = EventLogRecorder
