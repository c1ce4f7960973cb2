"""The audit API (P7.1): history and past states, verification, the log, and who looked.

Every request to these endpoints is itself recorded in the append-only access log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import RAISE

from application.audit.history import verification_dict
from domain.reference import Reference
from interfaces.privacy import checked_files, checked_formers
from interfaces.web.auth import current_actor, current_role, requires
from interfaces.web.schemas.audit import (
    AccessLogQuery,
    AccessLogSchema,
    EventEntrySchema,
    EventsQuery,
    HistoryQuery,
    HistorySchema,
    VerificationSchema,
    VerifyQuery,
)
from interfaces.web.services import container

audit = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="For auditors: the record of every ticket, checked for changes and removals.",
)


def _record_access(action: str, reference: str | None = None) -> None:
    container().access_log.record(
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
    """Every event of a ticket, paged; with `as_of` or `version`, its state and SLA then."""
    _record_access("history", ref)
    found = container().audit
    records = found.history(ref)
    as_of, version = query.get("as_of"), query.get("version")
    past = None
    if as_of is not None or version is not None:
        past = found.state_at(ref, as_of=as_of, version=version)
        records = [r for r in records if r.version <= past.ticket.version]
    limit = query["limit"]
    page = [r for r in records if r.version > query["after"]][: limit + 1]
    return {
        "reference": str(Reference.parse(ref)),
        "ticket_id": str(records[0].ticket_id),
        "events": [found.entry(r) for r in page[:limit]],
        "state_then": None if past is None else past.as_dict(),
        "next_after": page[limit - 1].version if len(page) > limit else None,
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
    result, formers = checked_formers(container(), container().audit.verify(reference))
    result, files = checked_files(container(), result)
    report = verification_dict(result, all_tickets=not query["only_broken"])
    return {**report, **formers, **files}


@audit.get("/events")
@requires("auditor")
@audit.arguments(EventsQuery, location="query", unknown=RAISE)
@audit.response(200, EventEntrySchema, content_type="application/x-ndjson")
def events(query: dict[str, Any]) -> Response:
    """The log after position `after` as JSON lines, in order; resume from the last position."""
    _record_access("events")
    found = container().audit
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
    entries = container().access_log.entries(
        after=query["after"],
        limit=query["limit"],
        reference=query.get("reference"),
        actor=query.get("actor"),
    )
    return {
        "entries": [vars(e) for e in entries],
        "next_after": entries[-1].id if entries else query["after"],
    }
