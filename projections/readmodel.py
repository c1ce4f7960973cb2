"""What a read model is: SQL tables kept from the desk's log, with a tracking row beside them.

A read model names itself, lists its tables and the event topics it reads, and applies events
with SQL on the connection it is given. The runner (projections/runner.py) applies a batch of
events and moves the read model's tracking row in one transaction, so every event is applied
exactly once, also when the process dies half-way through a batch.

What a batch will write is worked out before that transaction opens (`prepare`; for one row
per ticket, the events folded into the rows): an event that is slow or impossible to work out
never holds the database's write lock, which on SQLite is the only one. One that fails names
itself (`EventFailed`), and the runner counts its failures in `projection_quarantine`; at the
last attempt allowed, the event is set aside there and the tracking row moves past it in one
transaction, so nothing of it is applied and the rest of the log is. A rebuild tries such
events again, and their rows go once they apply.

Read models are derived data: tables left by a version whose columns differ are dropped and
replayed from the first event when a runner or the web app first sets them up.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from projections.quarantine import quarantine_table
from projections.rows import Row, insert_rows

log = logging.getLogger(__name__)


TRACKING_TABLE = "projection_tracking"
"""One tracking row per read model; every read model follows the one `supportdesk` log."""


class TrackingConflict(RuntimeError):
    """Another runner moved this read model's tracking row first; nothing was applied."""


class EventFailed(Exception):
    """Working out what an event of the batch changes failed; `index` is its place in it."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(f"event {index} of the batch: {error!r}")
        self.index = index
        self.error = error


_ERROR_LENGTH = 1000  # of an error's text kept: enough to tell what failed


class ReadModel(Projection[SQLAlchemyTrackingRecorder]):
    """A read model: tables plus `apply(connection, domain_event)`; its `view` keeps tracking."""

    name = "read_model"
    tables: tuple[sa.Table, ...] = ()
    topics: tuple[str, ...] = ()
    """Topics of the events it reads; the others are passed over (and tracked). Empty: all."""

    @abstractmethod
    def apply(self, connection: Connection, domain_event: Any) -> None:
        """Change the tables for one event, on the batch's connection (inside its transaction)."""

    def prepare(self, domain_events: Sequence[Any]) -> None:
        """Work out what the batch will write before its transaction; `EventFailed` names an
        event that cannot be. By default nothing is: `apply` does all the work."""

    def apply_batch(self, connection: Connection, domain_events: Sequence[Any]) -> None:
        """Apply events in log order; a read model may override this to write less often."""
        for domain_event in domain_events:
            self.apply(connection, domain_event)

    _engine: Engine | None = None
    """Set on a copy that is rebuilt beside the live tables (projections/rebuild.py)."""

    @property
    def engine(self) -> Engine:
        """The database of the event store, where the read model's tables live."""
        engine = self._engine or self.view.datastore.engine
        assert isinstance(engine, Engine)
        return engine

    @property
    def tracking_table(self) -> sa.Table:
        """The table of tracking rows, shared by all read models."""
        return self.view.tracking_table

    def create_tables(self) -> None:
        """Create the tables and the tracking row when missing; replace tables out of date."""
        self.view.create_table()
        quarantine_table.create(self.engine, checkfirst=True)
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
        tracking = self.tracking_table
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(tracking.c.notification_id).where(
                    tracking.c.application_name == self.name
                )
            ).first()
        return None if found is None else int(found[0] or 0)

    def commit(self, domain_events: Sequence[Any], *, after: int, upto: int) -> None:
        """Apply these events and move the tracking row from `after` to `upto`, atomically.

        Their changes are worked out first (`prepare`), outside the transaction. The tracking
        row is moved first, with a compare-and-set: a second runner of the same read model
        waits for the first one's transaction and then finds the row moved, so it rolls back
        instead of applying the same events again. Failures counted for the positions passed
        are forgotten in the same transaction: those events are applied now.
        """
        if domain_events:
            self.prepare(domain_events)
        with self.engine.begin() as connection:
            self._move_tracking(connection, after, upto)
            if domain_events:
                self.apply_batch(connection, domain_events)
            connection.execute(
                sa.delete(quarantine_table).where(
                    quarantine_table.c.read_model == self.name,
                    quarantine_table.c.position > after,
                    quarantine_table.c.position <= upto,
                )
            )

    def record_failure(
        self, position: int, error: Exception, *, after: int, max_attempts: int
    ) -> int:
        """Count a failure of the event at `position`; how many times in a row it has failed.

        At `max_attempts` the event is set aside: in the same transaction the tracking row
        moves from `after` (the position before it) to the event, so nothing of it is applied
        and the read model goes on with the rest of the log.
        """
        table = quarantine_table
        key = (table.c.read_model == self.name, table.c.position == position)
        now = datetime.now(UTC)
        said = f"{type(error).__name__}: {error}"[:_ERROR_LENGTH]
        with self.engine.begin() as connection:
            # Written before anything is read: on SQLite, a transaction that began by reading
            # may not write once another connection has written meanwhile.
            counted = connection.execute(
                sa.update(table)
                .where(*key)
                .values(attempts=table.c.attempts + 1, error=said, last_failed_at=now)
            ).rowcount
            if not counted:
                connection.execute(
                    sa.insert(table).values(
                        read_model=self.name,
                        position=position,
                        error=said,
                        attempts=1,
                        first_failed_at=now,
                        last_failed_at=now,
                        quarantined=False,
                    )
                )
            attempts: int = connection.execute(sa.select(table.c.attempts).where(*key)).scalar_one()
            if attempts >= max_attempts:
                self._move_tracking(connection, after, position)
                connection.execute(sa.update(table).where(*key).values(quarantined=True))
        return attempts

    def _move_tracking(self, connection: Connection, after: int, upto: int) -> None:
        tracking = self.tracking_table
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

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """Apply one event and track it (the `eventsourcing` projection contract)."""
        self.commit([domain_event], after=self.position() or 0, upto=tracking.notification_id)


@dataclass(frozen=True)
class _Folded:
    """A batch's rows, folded before its transaction from the rows stored then."""

    events: list[tuple[UUID, int]]  # (ticket, version) of each event folded, in order
    stored: dict[UUID, Row]
    rows: dict[UUID, Row | None]


class TicketRows(ReadModel):
    """A read model of one row per ticket, each row folded from that ticket's events in order.

    A batch reads the rows its events touch, folds the events in memory and writes back only
    the rows that changed: far fewer statements than one per event, and the same rows whatever
    the batch size, so a rebuild gives what live processing gave. The folding, with its
    business-hours arithmetic, happens in `prepare`, before the transaction; the transaction
    reads the rows again and folds them itself only if they changed meanwhile.
    """

    _folded: _Folded | None = None
    """What `prepare` worked out for the batch about to be committed."""

    @property
    def table(self) -> sa.Table:
        """The table with one row per ticket, keyed by `ticket_id`."""
        return self.tables[0]

    @abstractmethod
    def fold(self, row: Row | None, domain_event: Any) -> Row | None:
        """The ticket's row after the event (None: no row); `row` must not be changed."""

    def apply(self, connection: Connection, domain_event: Any) -> None:
        self.apply_batch(connection, [domain_event])

    def prepare(self, domain_events: Sequence[Any]) -> None:
        """Read the rows the events touch and fold the events into them, outside a transaction."""
        self._folded = None
        try:
            with self.engine.connect() as connection:
                stored = self._stored(connection, _tickets(domain_events))
        except sa.exc.DBAPIError:
            # A rebuild may be replacing the tables: the transaction then finds the tracking
            # row moved, or reads the rows and folds them itself.
            return
        self._folded = _Folded(_versions(domain_events), stored, self._fold(stored, domain_events))

    def apply_batch(self, connection: Connection, domain_events: Sequence[Any]) -> None:
        key = self.table.c.ticket_id
        ids = _tickets(domain_events)
        stored = self._stored(connection, ids)
        folded, self._folded = self._folded, None
        if (
            folded is not None
            and folded.events == _versions(domain_events)
            and folded.stored == stored
        ):
            rows = folded.rows
        else:  # folded from other rows, or other events: done again on the rows as they are
            rows = self._fold(stored, domain_events)
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

    def _stored(self, connection: Connection, ids: list[UUID]) -> dict[UUID, Row]:
        key = self.table.c.ticket_id
        found = connection.execute(sa.select(self.table).where(_among(key, ids, connection)))
        names = list(found.keys())  # rows to dicts by zip: `row._mapping` took twice as long
        at = names.index(key.name)
        return {row[at]: dict(zip(names, row, strict=True)) for row in found}

    def _fold(
        self, stored: dict[UUID, Row], domain_events: Sequence[Any]
    ) -> dict[UUID, Row | None]:
        rows: dict[UUID, Row | None] = dict(stored)
        for index, domain_event in enumerate(domain_events):
            ticket = domain_event.originator_id
            try:
                rows[ticket] = self.fold(rows.get(ticket), domain_event)
            except Exception as error:  # whatever the event makes the fold raise names it
                raise EventFailed(index, error) from error
        return rows


def _tickets(domain_events: Sequence[Any]) -> list[UUID]:
    return list(dict.fromkeys(e.originator_id for e in domain_events))


def _versions(domain_events: Sequence[Any]) -> list[tuple[UUID, int]]:
    return [(e.originator_id, e.originator_version) for e in domain_events]


def _among(key: sa.Column[Any], ids: list[UUID], connection: Connection) -> Any:
    """`key IN ids`; on PostgreSQL as one array parameter, not thousands to render and bind."""
    if connection.dialect.name == "postgresql":
        return key == sa.any_(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.Uuid)))
    return key.in_(ids)
