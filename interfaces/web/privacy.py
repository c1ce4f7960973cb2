"""The data-protection officer's operations (P7.3): a learner's copy of their data.

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
from interfaces.privacy import copy_for
from interfaces.web.auth import current_actor, current_role, requires
from interfaces.web.problems import refuse_unreadable_json
from interfaces.web.schemas.privacy import RequesterSchema
from interfaces.web.services import container

blp = Blueprint(
    "privacy",
    __name__,
    url_prefix="/api/v1/privacy",
    description="For the data-protection officer: a learner's copy of their data.",
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
