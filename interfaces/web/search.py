"""Ticket search for the support team: by reference, requester email or words (read models).

Found in the search read model and shown as the queue shows tickets, within the queue's
filters; closed tickets too unless a status or SLA state is asked for. Like every query it
answers from read models only, and `?after=` waits for both it reads (search and queue).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify, request, url_for
from flask_smorest import Blueprint

from domain.sla import SlaState
from interfaces.web.auth import current_principal, requires
from interfaces.web.queries import read_model_headers
from interfaces.web.schemas.search import SearchItemSchema, SearchPageSchema, SearchQuery
from interfaces.web.services import container
from projections.queue import QueueFilter
from projections.search import search_page
from projections.search_text import terms

blp = Blueprint(
    "search",
    __name__,
    url_prefix="/api/v1",
    description="Search: tickets by reference, requester email or words, newest first.",
)

_HEADERS = {
    "X-Read-Model-Position": {
        "description": "The log position the search and queue read models had both reached "
        "when they were read.",
        "schema": {"type": "integer"},
    },
    "Link": {"description": 'The next page, as rel="next"', "schema": {"type": "string"}},
}


@blp.get("/search")
@requires("agent", "supervisor")
@blp.arguments(SearchQuery, location="query", unknown=ma.RAISE)
@blp.response(200, SearchPageSchema, headers=_HEADERS)
@blp.alt_response(503, description="`after` not reached in 2 s; retry")
def search(query: dict[str, Any]) -> Response:
    """Tickets by reference, requester email or words, newest first.

    `q` is a reference or a piece of one, a requester's whole email, or words of the subject,
    description and conversation (follow-ups, responses, internal notes, reasons, summaries)
    in Arabic or English. Within the queue's filters; closed tickets too, unless a status or
    SLA state is asked for.
    """
    found_in = read_model_headers("search", query)
    shown_from = read_model_headers("queue", query)  # the items and the filters' columns
    position = min(int(found_in["X-Read-Model-Position"]), int(shown_from["X-Read-Model-Position"]))
    headers = {"X-Read-Model-Position": str(position)}
    built = container()
    now = built.desk.clock()
    assignee = query.get("assignee")
    page = search_page(
        built.engine,
        built.sla,
        now,
        terms(query["q"]),
        QueueFilter(
            status=query.get("status"),
            category=query.get("category"),
            course=query.get("course"),
            sla=SlaState(query["sla"]) if "sla" in query else None,
            assignee=current_principal().name if assignee == "me" else assignee,
        ),
        query["per_page"],
        query.get("cursor"),
    )
    if page.next_cursor is not None:
        arguments = {**request.args.to_dict(), "cursor": page.next_cursor}
        arguments.pop("after", None)
        headers["Link"] = (
            f'<{url_for(request.endpoint or "", _external=False, **arguments)}>; rel="next"'
        )
    items = [
        {**row, "sla": row["sla"] and row["sla"].value, "escalated": row["escalations"] > 0}
        for row in page.rows
    ]
    body = {
        "items": SearchItemSchema().dump(items, many=True),
        "per_page": query["per_page"],
        "next_cursor": page.next_cursor,
        "as_of": now.isoformat(),
    }
    response = jsonify(body)
    response.headers.update(headers)
    return response
