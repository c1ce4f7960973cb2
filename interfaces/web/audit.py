"""The audit API (P7.1): history and past states, verification, the log, and who looked.

Every request to these endpoints is itself recorded in the append-only access log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Response, current_app, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from application.audit.access import AccessLog
from application.audit.history import Audit, verification_dict
from domain.reference import Reference
from interfaces.web import container
from interfaces.web.auth import current_actor, current_role, requires

audit = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="For auditors: the record of every ticket, checked for changes and removals.",
)

MAX_EVENTS_PER_REQUEST = 1_000_000


class InstantField(fields.Field):
    """An ISO 8601 instant with its offset (a `+` sent unencoded in a query reads as a space)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        text = str(value).strip().replace(" ", "+")
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("Not an ISO 8601 instant.") from None
        if instant.tzinfo is None:
            raise ValidationError("The instant must include its offset, e.g. +03:00 or Z.")
        return instant


class HistoryQuery(Schema):
    as_of = InstantField(
        metadata={
            "type": "string",
            "format": "date-time",
            "description": "Show the state at this instant (with its offset).",
        }
    )
    version = fields.Integer(
        validate=validate.Range(min=1), metadata={"description": "Or at this version."}
    )

    @validates_schema
    def one_point_in_time(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "as_of" in data and "version" in data:
            raise ValidationError("Give either as_of or version, not both.", "version")


class EventEntry(Schema):
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
    events = fields.List(fields.Nested(EventEntry))
    state_then = fields.Nested(PastStateSchema, allow_none=True)


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


LARGEST_POSITION = 2**63 - 1  # a position is a signed 64-bit integer in every store


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


def _audit() -> Audit:
    built: Audit | None = current_app.extensions.get("supportdesk_audit")
    if built is None:
        built = current_app.extensions["supportdesk_audit"] = Audit.of(container())
    return built


def _access_log() -> AccessLog:
    built: AccessLog | None = current_app.extensions.get("supportdesk_audit_access")
    if built is None:
        desk = container()
        built = AccessLog(desk.engine, desk.desk.clock)
        current_app.extensions["supportdesk_audit_access"] = built
    return built


def _record_access(action: str, reference: str | None = None) -> None:
    _access_log().record(
        actor=current_actor(),
        role=current_role(),
        action=action,
        reference=reference,
        query=request.query_string.decode("utf-8", "replace"),
    )


@audit.get("/tickets/<ref>/history")
@requires("auditor", "supervisor")
@audit.arguments(HistoryQuery, location="query", unknown=RAISE)
@audit.response(200, HistorySchema)
@audit.alt_response(404, response="NOT_FOUND", description="No such ticket, or not yet then")
def history(query: dict[str, Any], ref: str) -> dict[str, Any]:
    """Every event of a ticket; with `as_of` or `version`, its state and SLA standing then."""
    _record_access("history", ref)
    found = _audit()
    records = found.history(ref)
    as_of, version = query.get("as_of"), query.get("version")
    past = None
    if as_of is not None or version is not None:
        past = found.state_at(ref, as_of=as_of, version=version)
        records = [r for r in records if r.version <= past.ticket.version]
    return {
        "reference": str(Reference.parse(ref)),
        "ticket_id": str(records[0].ticket_id),
        "events": [found.entry(r) for r in records],
        "state_then": None if past is None else past.as_dict(),
    }


@audit.get("/audit/verify")
@requires("auditor")
@audit.arguments(VerifyQuery, location="query", unknown=RAISE)
@audit.response(200, VerificationSchema)
@audit.alt_response(404, response="NOT_FOUND", description="No such ticket")
def verify(query: dict[str, Any]) -> dict[str, Any]:
    """Recompute every hash chain (or one ticket's) and compare it with its seal."""
    reference = query.get("reference")
    _record_access("verify", reference)
    result = _audit().verify(reference)
    return verification_dict(result, all_tickets=not query["only_broken"])


@audit.get("/events")
@requires("auditor")
@audit.arguments(EventsQuery, location="query", unknown=RAISE)
@audit.response(200, EventEntry, content_type="application/x-ndjson")
def events(query: dict[str, Any]) -> Response:
    """The log after position `after` as JSON lines, in order; resume from the last position."""
    _record_access("events")
    found = _audit()
    after, limit = query["after"], query["limit"]

    def lines() -> Iterator[str]:
        sent = 0
        for entry in found.export(after=after, page_size=min(limit, 1000)):
            yield json.dumps(entry, ensure_ascii=False) + "\n"
            sent += 1
            if sent == limit:
                return

    return Response(stream_with_context(lines()), mimetype="application/x-ndjson")


@audit.get("/audit/access-log")
@requires("auditor", "supervisor")
@audit.arguments(AccessLogQuery, location="query", unknown=RAISE)
@audit.response(200, AccessLogSchema)
def access_log(query: dict[str, Any]) -> dict[str, Any]:
    """Who looked at the record, when, and at what: oldest first, after id `after`."""
    _record_access("access-log", query.get("reference"))
    entries = _access_log().entries(
        after=query["after"],
        limit=query["limit"],
        reference=query.get("reference"),
        actor=query.get("actor"),
    )
    return {
        "entries": [vars(e) for e in entries],
        "next_after": entries[-1].id if entries else query["after"],
    }
