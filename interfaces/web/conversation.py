"""A ticket's whole thread for agents and supervisors, from the conversation read model.

Nothing here reads the event store: like every query (interfaces/web/queries.py), the answer
comes from a read model that follows the log a little behind, names the position it had
reached (`X-Read-Model-Position`), and waits for a given `after` position first. The read
model holds each item as the JSON `ConversationItemSchema` documents, so the answer is the
stored items joined, with nothing converted per field.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from flask_smorest import Blueprint

from domain.errors import TicketNotFound
from domain.reference import Reference
from interfaces.web.auth import requires
from interfaces.web.queries import read_model_headers
from interfaces.web.schemas.conversation import ConversationQuery, ConversationSchema
from interfaces.web.services import container
from projections.conversation import conversation

blp = Blueprint(
    "conversation",
    __name__,
    url_prefix="/api/v1",
    description="Agents and supervisors: a ticket's whole thread, in order.",
)

_POSITION = {
    "X-Read-Model-Position": {
        "description": "The log position the read model had reached when it was read.",
        "schema": {"type": "integer"},
    }
}


@blp.get("/tickets/<ref>/conversation")
@requires("agent", "supervisor")
@blp.arguments(ConversationQuery, location="query", unknown=ma.RAISE)
@blp.response(200, ConversationSchema, headers=_POSITION)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(503, description="`after` not reached in 2 s; retry")
def read(query: dict[str, Any], ref: str) -> Response:
    """A ticket's whole thread, in order, with who did what and when.

    The request, follow-ups, responses, internal notes, extensions, escalations,
    classification, forwarding, resolution, reopening, ownership, details supplied, receipt
    and owner warnings. Each item says whether the requester saw it or was told of it
    (`requester`) or only the team knows of it (`internal`). `since` gives only what came
    after a version already read.
    """
    reference = Reference.parse(ref)  # a reference that cannot exist is 404 without waiting
    headers = read_model_headers("conversation", query)
    thread = conversation(
        container().engine,
        reference,
        since=query.get("since"),
        visibility=query.get("visibility"),
    )
    if thread.version == 0:  # no ticket has it, or it is too new: `after` waits for one
        raise TicketNotFound(f"no ticket has the reference {reference}")
    # The read model keeps each item as the JSON this answer documents: it is sent as stored.
    return Response(thread.as_json(), mimetype="application/json", headers=headers)
