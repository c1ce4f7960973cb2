"""The record as auditors question it: history, past states, verification, the log, access."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from interfaces.web.schemas.fields import LARGEST_POSITION, OffsetInstant

MAX_EVENTS_PER_REQUEST = 1_000_000
# A ticket's history is read whole from the store; its answer is paged, so that a ticket with
# a great many follow-ups cannot make one answer unbounded.
MAX_HISTORY_EVENTS = 1000


class HistoryQuery(Schema):
    as_of = OffsetInstant(
        metadata={
            "type": "string",
            "format": "date-time",
            "description": "Show the state at this instant (with its offset).",
        }
    )
    version = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "Or at this version."}
    )
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=LARGEST_POSITION),
        metadata={"description": "List the events after this version (a page's `next_after`)."},
    )
    limit = fields.Integer(
        load_default=MAX_HISTORY_EVENTS,
        validate=validate.Range(min=1, max=MAX_HISTORY_EVENTS),
        metadata={"description": "The most events to list."},
    )

    @validates_schema
    def one_point_in_time(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "as_of" in data and "version" in data:
            raise ValidationError("Give either as_of or version, not both.", "version")


class EventEntrySchema(Schema):
    position = fields.Integer(metadata={"description": "The event's notification id in the log."})
    ticket_id = fields.String()
    version = fields.Integer()
    type = fields.String()
    topic = fields.String()
    class_version = fields.Integer()
    instant = fields.String(
        allow_none=True, metadata={"format": "date-time", "description": "UTC."}
    )
    local_instant = fields.String(
        allow_none=True,
        metadata={"format": "date-time", "description": "The same instant in Riyadh time."},
    )
    actor = fields.String(allow_none=True)
    data = fields.Dict()
    hash = fields.String(allow_none=True)
    prev_hash = fields.String(allow_none=True)


class PastStateSchema(Schema):
    at = fields.String(metadata={"format": "date-time"})
    state = fields.Dict()
    sla = fields.Dict(metadata={"description": "Each deadline's standing at that instant."})


class HistorySchema(Schema):
    reference = fields.String()
    ticket_id = fields.String()
    events = fields.List(fields.Nested(EventEntrySchema))
    state_then = fields.Nested(PastStateSchema, allow_none=True)
    next_after = fields.Integer(
        allow_none=True,
        metadata={"description": "Pass as `after` for the next page; null on the last page."},
    )


class VerifyQuery(Schema):
    reference = fields.String(metadata={"description": "Verify one ticket only."})
    only_broken = fields.Boolean(load_default=False)


class BreakSchema(Schema):
    reason = fields.String()
    position = fields.Integer(allow_none=True)
    version = fields.Integer(allow_none=True)
    type = fields.String(allow_none=True)


class TicketVerdictSchema(Schema):
    reference = fields.String()
    ticket_id = fields.String()
    events = fields.Integer()
    sealed_version = fields.Integer(allow_none=True)
    pending_seal = fields.Integer()
    intact = fields.Boolean()
    first_bad = fields.Nested(BreakSchema, allow_none=True)


class VerificationSchema(Schema):
    intact = fields.Boolean()
    tickets_checked = fields.Integer()
    events_checked = fields.Integer()
    seconds = fields.Float()
    events_per_second = fields.Float()
    sealed_up_to = fields.Integer(allow_none=True)
    digest = fields.String()
    problems = fields.List(fields.String())
    tickets = fields.List(fields.Nested(TicketVerdictSchema))
    rekeyed_events = fields.Integer(
        metadata={"description": "Events rewritten to seal their texts, read as first recorded"}
    )
    former_hashes_checked = fields.Integer(
        metadata={"description": "Rewritten events whose former hash was computed again"}
    )
    former_hashes_forgotten = fields.Integer(
        metadata={"description": "Rewritten events whose texts can no longer be opened"}
    )
    former_hashes_mismatched = fields.List(fields.String())
    files_checked = fields.Integer(
        metadata={"description": "Kept files compared with the hash their event names"}
    )
    files_forgotten = fields.Integer(
        metadata={"description": "Files of erased requesters, which no one can open"}
    )


class EventsQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=LARGEST_POSITION))
    limit = fields.Integer(
        load_default=1000, validate=validate.Range(min=1, max=MAX_EVENTS_PER_REQUEST)
    )


class AccessLogQuery(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=LARGEST_POSITION))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    reference = fields.String()
    actor = fields.String()


class AccessSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor = fields.String()
    role = fields.String()
    action = fields.String()
    reference = fields.String(allow_none=True)
    query = fields.String()


class AccessLogSchema(Schema):
    entries = fields.List(fields.Nested(AccessSchema))
    next_after = fields.Integer()
