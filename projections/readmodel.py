"""What a read model is: SQL tables kept from the desk's log, with a tracking row beside them.

A read model names itself, lists its tables and the event topics it reads, and applies events
with SQL on the connection it is given. The runner (projections/runner.py) applies a batch of
events and moves the read model's tracking row in one transaction, so every event is applied
exactly once, also when the process dies half-way through a batch.

Read models are derived data: tables left by a version whose columns differ are dropped and
replayed from the first event when a runner or the web app first sets them up.
"""

from __future__ import annotations

import io
import logging
import operator
from abc import abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Dialect, Engine

log = logging.getLogger(__name__)

Row = dict[str, Any]

TRACKING_TABLE = "projection_tracking"
"""One tracking row per read model; every read model follows the one `supportdesk` log."""


class TrackingConflict(RuntimeError):
    """Another runner moved this read model's tracking row first; nothing was applied."""


class Instant(sa.TypeDecorator[datetime]):
    """An instant, stored in UTC and read back in UTC on every database.

    SQLite keeps no UTC offset, so instants are normalised before they are stored: values and
    comparisons then agree on SQLite and PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(instant: datetime) -> datetime:
    """The instant in UTC, as read models store it."""
    return instant.astimezone(UTC)


class ReadModel(Projection[SQLAlchemyTrackingRecorder]):
    """A read model: tables plus `apply(connection, domain_event)`; its `view` keeps tracking."""

    name = "read_model"
    tables: tuple[sa.Table, ...] = ()
    topics: tuple[str, ...] = ()
    """Topics of the events it reads; the others are passed over (and tracked). Empty: all."""

    @abstractmethod
    def apply(self, connection: Connection, domain_event: Any) -> None:
        """Change the tables for one event, on the batch's connection (inside its transaction)."""

    def apply_batch(self, connection: Connection, domain_events: Sequence[Any]) -> None:
        """Apply events in log order; a read model may override this to write less often."""
        for domain_event in domain_events:
            self.apply(connection, domain_event)

    @property
    def engine(self) -> Engine:
        """The database of the event store, where the read model's tables live."""
        engine = self.view.datastore.engine
        assert isinstance(engine, Engine)
        return engine

    @property
    def tracking_table(self) -> sa.Table:
        """The table of tracking rows, shared by all read models."""
        return self.view.tracking_table

    def create_tables(self) -> None:
        """Create the tables and the tracking row when missing; replace tables out of date."""
        self.view.create_table()
        if outdated := self.outdated_tables():
            log.warning(
                "read model %s: the columns of %s changed; replaying it from the first event",
                self.name,
                ", ".join(outdated),
            )
            with self.engine.begin() as connection:
                self.drop_tables(connection)
        for table in self.tables:
            table.create(self.engine, checkfirst=True)
        if self.position() is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        sa.insert(self.tracking_table).values(
                            application_name=self.name, notification_id=0
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # another process created it meanwhile

    def outdated_tables(self) -> list[str]:
        """The tables that exist with other columns than this version defines."""
        inspector = sa.inspect(self.engine)
        return [
            table.name
            for table in self.tables
            if inspector.has_table(table.name)
            and {column["name"] for column in inspector.get_columns(table.name)}
            != {column.name for column in table.columns}
        ]

    def drop_tables(self, connection: Connection) -> None:
        """Drop the tables and forget the position, on `connection` (the caller's transaction)."""
        connection.execute(
            sa.delete(self.tracking_table).where(
                self.tracking_table.c.application_name == self.name
            )
        )
        for table in reversed(self.tables):
            table.drop(connection, checkfirst=True)

    def position(self) -> int | None:
        """The last log position applied; None before the read model was set up."""
        return self.view.max_tracking_id(self.name)

    def commit(self, domain_events: Sequence[Any], *, after: int, upto: int) -> None:
        """Apply these events and move the tracking row from `after` to `upto`, atomically.

        The tracking row is moved first, with a compare-and-set: a second runner of the same
        read model waits for the first one's transaction and then finds the row moved, so it
        rolls back instead of applying the same events again.
        """
        tracking = self.tracking_table
        with self.engine.begin() as connection:
            moved = connection.execute(
                sa.update(tracking)
                .where(
                    tracking.c.application_name == self.name,
                    tracking.c.notification_id == after,
                )
                .values(notification_id=upto)
            ).rowcount
            if moved != 1:
                raise TrackingConflict(f"{self.name} is no longer at position {after}")
            if domain_events:
                self.apply_batch(connection, domain_events)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Apply one event and track it (the `eventsourcing` projection contract)."""
        self.commit([domain_event], after=self.position() or 0, upto=tracking.notification_id)


class TicketRows(ReadModel):
    """A read model of one row per ticket, each row folded from that ticket's events in order.

    A batch reads the rows its events touch, folds the events in memory and writes back only
    the rows that changed: far fewer statements than one per event, and the same rows whatever
    the batch size, so a rebuild gives what live processing gave.
    """

    @property
    def table(self) -> sa.Table:
        """The table with one row per ticket, keyed by `ticket_id`."""
        return self.tables[0]

    @abstractmethod
    def fold(self, row: Row | None, domain_event: Any) -> Row | None:
        """The ticket's row after the event (None: no row); `row` must not be changed."""

    def apply(self, connection: Connection, domain_event: Any) -> None:
        self.apply_batch(connection, [domain_event])

    def apply_batch(self, connection: Connection, domain_events: Sequence[Any]) -> None:
        key = self.table.c.ticket_id
        ids: list[UUID] = list(dict.fromkeys(e.originator_id for e in domain_events))
        found = connection.execute(sa.select(self.table).where(_among(key, ids, connection)))
        names = list(found.keys())  # rows to dicts by zip: `row._mapping` took twice as long
        at = names.index(key.name)
        stored: dict[UUID, Row] = {row[at]: dict(zip(names, row, strict=True)) for row in found}
        rows: dict[UUID, Row | None] = dict(stored)
        for domain_event in domain_events:
            rows[domain_event.originator_id] = self.fold(
                rows.get(domain_event.originator_id), domain_event
            )
        changed = [i for i in ids if rows.get(i) != stored.get(i)]
        replaced = [i for i in changed if i in stored]
        if replaced:
            connection.execute(sa.delete(self.table).where(_among(key, replaced, connection)))
        written = [row for i in changed if (row := rows.get(i)) is not None]
        if written:
            insert_rows(connection, self.table, written)
        self.rows_changed(connection, [stored[i] for i in replaced], written)

    def rows_changed(self, connection: Connection, before: list[Row], after: list[Row]) -> None:
        """After a batch, in its transaction: the rows it replaced or removed, and wrote."""


def _among(key: sa.Column[Any], ids: list[UUID], connection: Connection) -> Any:
    """`key IN ids`; on PostgreSQL as one array parameter, not thousands to render and bind."""
    if connection.dialect.name == "postgresql":
        return key == sa.any_(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Uuid)))
    return key.in_(ids)


def insert_rows(connection: Connection, table: sa.Table, rows: list[Row]) -> None:
    """Insert rows; on PostgreSQL with COPY, two to three times faster than a multi-row INSERT."""
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), rows)
        return
    fields = [(column.name, _copy_format(column)) for column in table.columns]
    text = "".join(
        [
            "\t".join(["\\N" if (v := row[name]) is None else form(v) for name, form in fields])
            + "\n"
            for row in rows
        ]
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        columns = ", ".join(name for name, _ in fields)
        cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN", io.StringIO(text))
    finally:
        cursor.close()


# PostgreSQL text cannot hold NUL: one in a requester's text would otherwise stop the read
# model at that event for good, so it becomes U+FFFD, as undecodable bytes do.
_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\ufffd"}
)


def _copy_format(column: sa.Column[Any]) -> Callable[[Any], str]:
    """How a column's non-NULL values are written in COPY's text format."""
    if isinstance(column.type, Instant):
        return datetime.isoformat
    if isinstance(column.type, sa.Float):
        return repr  # every digit, so the value reads back exactly
    if isinstance(column.type, sa.String):  # Text too: backslash, tab and line ends escaped
        return operator.methodcaller("translate", _COPY_ESCAPES)
    return str
