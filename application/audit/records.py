"""The record as stored: events read back exactly as they were written, for auditors (P7.1).

Auditors look at what the event store holds, not at what today's event classes make of it:
each stored state is decoded with the application's own transcoder (after the cipher and the
compressor, when configured) and before any upcasting, so an event recorded by an older
version of the code is shown, hashed and exported as it was recorded.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from sqlalchemy import Engine, Select, Table, select

from domain.chain import event_hash, event_type_name

ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "hash", "prev_hash"}
)
"""Fields every event carries; the rest of an event's state is its data."""

DEFAULT_PAGE = 1000


class StoredRecord(NamedTuple):
    """One stored event: where it sits in the log, and its state as recorded. A named tuple:
    verifying builds one per event of the log, and a tuple is built fastest."""

    position: int
    ticket_id: UUID
    version: int
    topic: str
    state: Mapping[str, Any]

    @property
    def type(self) -> str:
        """The event's type without module or aggregate: `Responded`."""
        return event_type_name(self.topic).rsplit(".", 1)[-1]

    @property
    def stored_hash(self) -> str | None:
        """The hash the event claims for itself."""
        value = self.state.get("hash")
        return value if isinstance(value, str) else None

    @property
    def prev_hash(self) -> str | None:
        """The hash the event claims for its predecessor."""
        value = self.state.get("prev_hash")
        return value if isinstance(value, str) else None

    @property
    def timestamp(self) -> datetime | None:
        """The instant the event was recorded."""
        value = self.state.get("timestamp")
        return value if isinstance(value, datetime) else None

    @property
    def actor(self) -> str | None:
        """Who acted."""
        value = self.state.get("actor")
        return value if isinstance(value, str) else None

    @property
    def class_version(self) -> int:
        """The version of the event class that wrote it (1 unless the class evolved)."""
        return int(self.state.get("class_version", 1))

    @property
    def data(self) -> dict[str, Any]:
        """The event's own fields, without the envelope every event carries."""
        return {k: v for k, v in self.state.items() if k not in ENVELOPE and k != "class_version"}

    def computed_hash(self) -> str:
        """The hash of the content as stored now: equal to `stored_hash` unless it changed."""
        return event_hash(event_type_name(self.topic), self.state)


def jsonable(value: Any) -> Any:
    """Plain JSON types for a decoded value: instants as ISO 8601, ids as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


class EventLog:
    """Reads the application's log as stored, in log order or one ticket at a time."""

    def __init__(self, app: Application[Any]) -> None:
        # The SQLAlchemy recorder's engine and table, for the queries its interface lacks.
        self.app = app
        recorder: Any = app.recorder
        self.recorder = recorder
        self.mapper: Mapper[Any] = app.mapper
        self.engine: Engine = recorder.datastore.engine
        self.table: Table = recorder.events_record_cls.__table__

    def decode(self, stored: StoredEvent, position: int) -> StoredRecord:
        """The stored state as recorded, with the ids the store keeps beside it."""
        data = stored.state
        if self.mapper.cipher:
            data = self.mapper.cipher.decrypt(data)
        if self.mapper.compressor:
            data = self.mapper.compressor.decompress(data)
        ticket_id = as_uuid(stored.originator_id)
        version = stored.originator_version
        state = stored_state(self.mapper.transcoder, ticket_id, version, data)
        return StoredRecord(position, ticket_id, version, stored.topic, state)

    def last_position(self) -> int:
        """The newest position in the log (0 when it is empty)."""
        return int(self.recorder.max_notification_id() or 0)

    def pages(
        self, after: int | None = None, to: int | None = None, page_size: int = DEFAULT_PAGE
    ) -> Iterator[list[StoredRecord]]:
        """The log after position `after` (from its very start when None) up to `to`, a page
        at a time: constant memory, one short transaction per page."""
        while True:
            with self.engine.connect() as connection:
                rows = connection.execute(log_rows(self.table, after, to).limit(page_size)).all()
            if not rows:
                return
            yield [
                self.decode(StoredEvent(ticket_id, version, topic, bytes(state)), position)
                for position, ticket_id, version, topic, state in rows
            ]
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    def records(
        self, after: int | None = None, to: int | None = None, page_size: int = DEFAULT_PAGE
    ) -> Iterator[StoredRecord]:
        """The log after position `after` up to `to`, one event at a time."""
        for page in self.pages(after, to, page_size):
            yield from page

    def of_ticket(self, ticket_id: UUID) -> list[StoredRecord]:
        """Every stored event of one ticket, in log order (which may differ from version order
        when rows were tampered with)."""
        table = self.table
        query = (
            select(table.c.id, table.c.originator_version, table.c.topic, table.c.state)
            .where(table.c.originator_id == ticket_id)
            .order_by(table.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            self.decode(StoredEvent(ticket_id, version, topic, bytes(state)), position)
            for position, version, topic, state in rows
        ]

    def of_tickets(self, ticket_ids: Collection[UUID]) -> dict[UUID, list[StoredRecord]]:
        """Every stored event of these tickets, each ticket's in log order, in one query."""
        table = self.table
        query = (
            select(
                table.c.id,
                table.c.originator_id,
                table.c.originator_version,
                table.c.topic,
                table.c.state,
            )
            .where(table.c.originator_id.in_(list(ticket_ids)))
            .order_by(table.c.id)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        found: dict[UUID, list[StoredRecord]] = {}
        for position, ticket, version, topic, state in rows:
            ticket_id = as_uuid(ticket)
            record = self.decode(StoredEvent(ticket_id, version, topic, bytes(state)), position)
            found.setdefault(ticket_id, []).append(record)
        return found


def log_rows(table: Any, after: int | None = None, to: int | None = None) -> Select[Any]:
    """The log's rows after position `after` up to `to`, in position order: position, ticket
    id, version, topic, stored bytes. The same keyset query as the recorder's
    `select_notifications`, in SQLAlchemy Core: building ORM objects for every row would cost
    more than hashing them."""
    c = table.c
    query = select(c.id, c.originator_id, c.originator_version, c.topic, c.state).order_by(c.id)
    if after is not None:
        query = query.where(c.id > after)
    if to is not None:
        query = query.where(c.id <= to)
    return query


def stored_state(
    transcoder: Transcoder, ticket_id: UUID, version: int, data: bytes
) -> dict[str, Any]:
    """An event's state as stored (decoded, not upcast), with the ids kept beside it."""
    state = dict(transcoder.decode(data))
    state["originator_id"] = ticket_id
    state["originator_version"] = version
    return state


def as_uuid(value: Any) -> UUID:
    """A ticket id as a database returns it: a UUID, its text, or its 16 bytes."""
    if isinstance(value, UUID):
        return value
    if isinstance(value, bytes | memoryview) and len(value) == 16:
        return UUID(bytes=bytes(value))
    return UUID(str(value))
