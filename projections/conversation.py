"""The conversation: a ticket's whole thread, in order, for the support team.

One row per ticket event, keyed by (ticket, version), so a ticket's thread is one range scan of
the primary key and its order is the ticket's own. Each row holds the item as the API gives
it, a JSON object written once when the event is applied: who acted, when (in UTC and in the
desk's time zone), its text where the event has one, the fields particular to its kind, and
whether the requester saw it or was told of it (`requester`) or only the team knows of it
(`internal`). Reading a thread of hundreds of long messages is then fetching and joining
them, nothing per field; and the visibility is decided here, once, so no reader has to know
which events reached the requester.

Rows are inserted once: the tracking row applies each event once (projections/readmodel.py),
and a ticket's events never change. The one exception is the requester's erasure, which
overwrites the texts they wrote or were sent with `[erased]`. What requesters wrote may be long
or hold NUL, which PostgreSQL's text cannot store: a NUL becomes U+FFFD on every database, so
both give the same thread and no text stops the read model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.engine import Connection, Engine

from domain.attachment import split_names
from domain.personal import ERASED, REDACTED
from domain.reference import Reference
from domain.sla import Complexity
from domain.ticket import Ticket
from projections.readmodel import EventFailed, ReadModel
from projections.rows import Row, insert_rows, utc
from projections.ticket_events import EVERY_TICKET_EVENT

REQUESTER = "requester"
"""The requester saw this, or was told of it."""
INTERNAL = "internal"
"""Only the support team knows of this."""
VISIBILITIES = (REQUESTER, INTERNAL)

KINDS = (
    "submitted",
    "acknowledged",
    "follow_up_received",
    "details_supplied",
    "responded",
    "classified",
    "deadline_extended",
    "escalated",
    "forwarded_to_management",
    "resolved",
    "reopened",
    "assigned",
    "unassigned",
    "note_added",
    "deadline_at_risk",
    "requester_data_erased",
    "hold_placed",
    "hold_lifted",
    "field_redacted",
    "files_attached",
)
"""An item's kind: one per ticket event, named after it."""

metadata = sa.MetaData()
conversation_table = sa.Table(
    "conversation_items",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("item", sa.Text, nullable=False),  # the item as a JSON object
)


class ConversationProjection(ReadModel):
    """Keeps `conversation_items`: one row per ticket event, never changed once written."""

    name = "conversation"
    tables = (conversation_table,)
    topics = EVERY_TICKET_EVENT

    def __init__(self, view: SQLAlchemyTrackingRecorder, zone: tzinfo) -> None:
        super().__init__(view)
        self.zone = zone
        self._prepared: list[Row] | None = None

    def prepare(self, domain_events: Sequence[Any]) -> None:
        """Build the batch's rows before its transaction; `EventFailed` names an event that
        cannot be."""
        self._prepared = None
        self._prepared = self._rows(domain_events)

    def apply(self, connection: Connection, domain_event: Any) -> None:
        self.apply_batch(connection, [domain_event])

    def apply_batch(self, connection: Connection, domain_events: Sequence[Any]) -> None:
        prepared, self._prepared = self._prepared, None
        if prepared is None or _keys(prepared) != _event_keys(domain_events):
            prepared = self._rows(domain_events)  # prepared for other events, or not at all
        if prepared:
            insert_rows(connection, conversation_table, prepared)
        for domain_event in domain_events:
            if isinstance(domain_event, Ticket.RequesterDataErased):
                erase_items(connection, domain_event.originator_id)
            elif isinstance(domain_event, Ticket.FieldRedacted):
                redact_item(connection, domain_event)

    def _rows(self, domain_events: Sequence[Any]) -> list[Row]:
        rows = []
        for index, domain_event in enumerate(domain_events):
            try:
                rows.append(conversation_row(domain_event, self.zone))
            except Exception as error:  # whatever the event makes the row raise names it
                raise EventFailed(index, error) from error
        return rows


def _keys(rows: list[Row]) -> list[tuple[UUID, int]]:
    return [(row["ticket_id"], row["version"]) for row in rows]


def _event_keys(domain_events: Sequence[Any]) -> list[tuple[UUID, int]]:
    return [(e.originator_id, e.originator_version) for e in domain_events]


# ---- one event, one item ---------------------------------------------------------------------


def visibility_of(domain_event: Ticket.Event) -> str:
    """Whether the requester saw or was told of the event: their own messages, every reply,
    the receipt, and every change of the time they were promised; not the team's work."""
    match domain_event:
        case Ticket.Classified():
            # A complex problem is given a later resolution time, which the requester is sent.
            complex_ = domain_event.complexity == Complexity.COMPLEX
            return REQUESTER if complex_ else INTERNAL
        case (
            Ticket.Escalated()
            | Ticket.ForwardedToManagement()
            | Ticket.Assigned()
            | Ticket.Unassigned()
            | Ticket.NoteAdded()
            | Ticket.DeadlineAtRisk()
            | Ticket.RequesterDataErased()
            | Ticket.HoldPlaced()
            | Ticket.HoldLifted()
            | Ticket.FieldRedacted()
        ):
            return INTERNAL
    return REQUESTER


def conversation_row(domain_event: Ticket.Event, zone: tzinfo) -> Row:
    """The item of one ticket event, as a row of `conversation_items`."""
    kind, text, fields = _content(domain_event, zone)
    visibility = visibility_of(domain_event)
    item = {
        "version": domain_event.originator_version,
        "kind": kind,
        "visibility": visibility,
        "actor": domain_event.actor,
        "at": utc(domain_event.timestamp).isoformat(),
        "at_local": local_iso(domain_event.timestamp, zone),
        "text": text or None,
        **fields,
    }
    return {
        "ticket_id": domain_event.originator_id,
        "version": domain_event.originator_version,
        "kind": kind,
        "visibility": visibility,
        "item": json.dumps(
            {k: _clean(v) if isinstance(v, str) else v for k, v in item.items()},
            ensure_ascii=False,
            separators=(",", ":"),
        ),
    }


def _content(e: Ticket.Event, zone: tzinfo) -> tuple[str, str | None, dict[str, Any]]:
    """The event's kind, its text (if it has one) and the fields of its kind."""

    def local(instant: datetime | None) -> str | None:
        return None if instant is None else local_iso(instant, zone)

    match e:
        case Ticket.Submitted():
            return (
                "submitted",
                e.description,
                {
                    "subject": e.subject,
                    "channel": e.channel,
                    "category": e.category,
                    "course": e.course,
                    "language": e.language,
                },
            )
        case Ticket.Acknowledged():
            return "acknowledged", None, {"message_id": e.message_id}
        case Ticket.FollowUpReceived():
            fields = {"channel": e.channel, "sender": e.sender, "subject": e.subject}
            return "follow_up_received", e.message, fields | {"verified": e.verified}
        case Ticket.DetailsSupplied():
            return "details_supplied", None, {"category": e.category, "course": e.course}
        case Ticket.Responded():
            return "responded", e.message, _template(e.template, e.template_version)
        case Ticket.Classified():
            fields = {"complexity": e.complexity, "resolution_due": local(e.resolution_due)}
            return "classified", None, fields
        case Ticket.DeadlineExtended():
            return "deadline_extended", e.reason, {"resolution_due": local(e.resolution_due)}
        case Ticket.Escalated():
            fields = {"reason": e.reason, "level": e.level, "deadline": local(e.deadline)}
            return "escalated", e.note, fields
        case Ticket.ForwardedToManagement():
            return "forwarded_to_management", e.note, {"department": e.department}
        case Ticket.Resolved():
            return "resolved", e.summary, _template(e.template, e.template_version)
        case Ticket.Reopened():
            return "reopened", e.reason, {"resolution_due": local(e.resolution_due)}
        case Ticket.Assigned():
            return "assigned", None, {"assignee": e.assignee}
        case Ticket.Unassigned():
            return "unassigned", None, {"assignee": e.assignee}
        case Ticket.NoteAdded():
            return "note_added", e.text, {}
        case Ticket.DeadlineAtRisk():
            return "deadline_at_risk", None, {"target": e.deadline, "due": local(e.due)}
        case Ticket.RequesterDataErased():
            return "requester_data_erased", e.reason, {"basis": e.basis}
        case Ticket.HoldPlaced():
            return "hold_placed", e.reason, {}
        case Ticket.HoldLifted():
            return "hold_lifted", e.reason, {}
        case Ticket.FieldRedacted():
            return "field_redacted", e.reason, {"of_version": e.version, "field": e.field}
        case Ticket.FilesAttached():
            return "files_attached", None, _files(e)
    raise TypeError(f"{type(e).__qualname__} is not a ticket event of the conversation")


def _files(e: Ticket.FilesAttached) -> dict[str, Any]:
    """The files of a message: each kept one with its name, kind, size and hash (the name of
    its download); each refused one with its name and why."""
    count = len(e.files) + len(e.refused)
    names = split_names(str(e.names), count) or [str(e.names)] * count
    kept = [{"name": name, **file} for name, file in zip(names, e.files, strict=False)]
    refused = [
        {"name": name, "reason": reason}
        for name, reason in zip(names[len(e.files) :], e.refused, strict=False)
    ]
    return {"of_version": e.message_version, "files": kept, "refused": refused}


PERSONAL_ITEMS: dict[str, tuple[str, ...]] = {
    "submitted": ("text", "subject"),
    "follow_up_received": ("text", "sender", "subject"),
    "responded": ("text",),
    "resolved": ("text",),
    "note_added": ("text",),
    "files_attached": (),  # the files' names (erase_items)
}
"""The item fields that hold the requester's personal data, by kind (the events' `personal`)."""


def erase_items(connection: Connection, ticket_id: UUID) -> None:
    """Overwrite the personal texts of a ticket's items with `[erased]`."""
    table = conversation_table
    rows = connection.execute(
        sa.select(table.c.version, table.c.kind, table.c.item).where(
            table.c.ticket_id == ticket_id, table.c.kind.in_(PERSONAL_ITEMS)
        )
    ).all()
    for version, kind, document in rows:
        item = json.loads(document)
        item.update({k: ERASED for k in PERSONAL_ITEMS[kind] if item.get(k) is not None})
        for file in (*item.get("files", ()), *item.get("refused", ())):
            file["name"] = ERASED
        connection.execute(
            table.update()
            .where(table.c.ticket_id == ticket_id, table.c.version == version)
            .values(item=json.dumps(item, ensure_ascii=False, separators=(",", ":")))
        )


ITEM_KEYS = {"description": "text", "message": "text", "summary": "text", "text": "text"}
"""The item key that holds an event's field, where the names differ."""


def redact_item(connection: Connection, redacted: Ticket.FieldRedacted) -> None:
    """Overwrite one text of one item with `[redacted]`."""
    table = conversation_table
    key = ITEM_KEYS.get(redacted.field, redacted.field)
    where = (table.c.ticket_id == redacted.originator_id, table.c.version == redacted.version)
    document = connection.execute(sa.select(table.c.item).where(*where)).scalar_one_or_none()
    if document is None:
        return
    item = json.loads(document)
    if item.get(key) is not None:
        item[key] = REDACTED
        text = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        connection.execute(table.update().where(*where).values(item=text))


def _template(template: str | None, version: int | None) -> dict[str, Any]:
    return {"template": template, "template_version": version}


def local_iso(instant: datetime, zone: tzinfo) -> str:
    """The instant in the desk's time zone, ISO 8601 with its offset; in UTC where the zone's
    time would fall past the last year a datetime holds (an instant recorded near year 9999)."""
    try:
        return instant.astimezone(zone).isoformat()
    except OverflowError:
        return instant.astimezone(UTC).isoformat()


def _clean(text: str) -> str:
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """A ticket's thread: its reference, its current version (0: no item known), and its
    items in order, each a JSON object as stored."""

    reference: str
    version: int
    documents: list[str]

    @property
    def items(self) -> list[Row]:
        """The items, read: instants are ISO 8601 text, as in the JSON."""
        return [json.loads(document) for document in self.documents]

    def as_json(self) -> str:
        """The whole thread as one JSON object: `reference`, `version` and `items`."""
        head = json.dumps({"reference": self.reference, "version": self.version})
        return f'{head[:-1]},"items":[{",".join(self.documents)}]}}'


def conversation(
    engine: Engine,
    reference: Reference | str,
    since: int | None = None,
    visibility: str | None = None,
) -> Conversation:
    """The ticket's items after version `since` (all without it), of one `visibility` if
    given. A reference that is not one raises InvalidReference.

    The version is the ticket's last item's, whatever the filters leave out; 0 when the read
    model has no item of the ticket: no such ticket, or one recorded too recently.
    """
    ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
    table = conversation_table
    ticket = table.c.ticket_id == ref.ticket_id
    query = (
        sa.select(table.c.version, table.c.visibility, table.c.item)
        .where(ticket, table.c.version > (since or 0))
        .order_by(table.c.version)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        if rows:
            version = int(rows[-1].version)
        else:  # nothing after `since`: the ticket may still be there, at `since` or before
            latest = sa.select(sa.func.coalesce(sa.func.max(table.c.version), 0)).where(ticket)
            version = int(connection.execute(latest).scalar_one())
    documents = [item for _, seen, item in rows if visibility in (None, seen)]
    return Conversation(str(ref), version, documents)
