"""The data-protection officer's operations (P7.3): a learner's copy of their data, and the
erasure of it.

An address in a URL would be written into every proxy's log, so it travels in the body. Each
copy made is recorded in the access log, naming the address only by its tag.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask_smorest import Blueprint
from marshmallow import RAISE

from application.mail.address import address_tag
from application.privacy.export import summary
from interfaces.privacy import copy_for, eraser
from interfaces.web.auth import current_actor, current_role, requires
from interfaces.web.problems import refuse_unreadable_json
from interfaces.web.schemas.privacy import (
    ErasureReportSchema,
    ErasureSchema,
    HoldSchema,
    RequesterSchema,
)
from interfaces.web.services import container

blp = Blueprint(
    "privacy",
    __name__,
    url_prefix="/api/v1/privacy",
    description="For the data-protection officer: a learner's copy of their data, its erasure.",
)
blp.before_request(refuse_unreadable_json)


def _recorded(action: str, email: str) -> None:
    container().access_log.record(
        actor=current_actor(),
        role=current_role(),
        action=action,
        reference=None,
        query=address_tag(email),
    )


@blp.post("/export")
@requires("privacy")
@blp.arguments(RequesterSchema, unknown=RAISE)
@blp.response(200, content_type="application/x-ndjson", description="The copy, as JSON lines")
def export(body: dict[str, Any]) -> Response:
    """The learner's tickets as JSON lines: a first line naming them and their chain heads,
    then every event as stored, with its hash and its predecessor's."""
    _recorded("privacy-export", body["email"])
    made = copy_for(container(), body["email"])
    lines = (json.dumps(line, ensure_ascii=False) + "\n" for line in made.lines(container().audit))
    return Response("".join(lines), mimetype="application/x-ndjson")


@blp.post("/export/summary")
@requires("privacy")
@blp.arguments(RequesterSchema, unknown=RAISE)
@blp.response(200, content_type="text/plain", description="The copy for people, Arabic first")
def export_summary(body: dict[str, Any]) -> Response:
    """The same copy as a readable text, Arabic first, then English."""
    _recorded("privacy-summary", body["email"])
    made = copy_for(container(), body["email"])
    text = summary(made, container().calendar.timezone)
    return Response(text, mimetype="text/plain", content_type="text/plain; charset=utf-8")


@blp.post("/erase")
@requires("privacy")
@blp.arguments(ErasureSchema, unknown=RAISE)
@blp.response(200, ErasureReportSchema)
def erase(body: dict[str, Any]) -> dict[str, object]:
    """Erase the learner's personal data from every ticket of theirs: `RequesterDataErased` is
    recorded on each, their key is destroyed and every copy outside the record purged. SLA
    facts, categories, courses and reports stay. Running it again finishes an erasure cut short.
    """
    who = body.get("email") or body["reference"]
    container().access_log.record(
        actor=current_actor(),
        role=current_role(),
        action="privacy-erase",
        reference=body.get("reference"),
        query=address_tag(body["email"]) if "email" in body else "",
    )
    report = eraser(container()).erase(
        who, reason=body["reason"], basis=body["basis"], actor=current_actor()
    )
    return report.as_json()


@blp.post("/holds")
@requires("privacy")
@blp.arguments(HoldSchema, unknown=RAISE)
@blp.response(204)
def place_hold(body: dict[str, Any]) -> None:
    """Keep a ticket's data whatever its age (a dispute, a legal case): neither the retention
    period nor an erasure removes it until the hold is lifted. Recorded as `HoldPlaced`."""
    container().desk.place_hold(body["reference"], reason=body["reason"], actor=current_actor())


@blp.post("/holds/lift")
@requires("privacy")
@blp.arguments(HoldSchema, unknown=RAISE)
@blp.response(204)
def lift_hold(body: dict[str, Any]) -> None:
    """End a ticket's hold. Recorded as `HoldLifted`."""
    container().desk.lift_hold(body["reference"], reason=body["reason"], actor=current_actor())
