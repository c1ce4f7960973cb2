"""Ticket search: its query (the queue's filters and `q`) and its answer."""

from __future__ import annotations

import marshmallow as ma

from interfaces.web.schemas.queries import QueueQuery, TeamQueueItemSchema

MAX_QUERY_LENGTH = 200


class SearchQuery(QueueQuery):
    q = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_QUERY_LENGTH),
        metadata={
            "description": "A reference or a piece of one (`CM-6XQ4`, `g0ag`), a requester's "
            "email (whole, any case), or words: tickets whose subject, description or "
            "conversation hold all of them (Arabic without regard to tashkeel, alef forms, "
            "ى/ي or ة/ه; the last word also as the start of one). Quotes, stars and "
            "operators are plain text."
        },
    )


class SearchItemSchema(TeamQueueItemSchema):
    next_due = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "null once the ticket is closed"}
    )
    sla = ma.fields.String(
        allow_none=True,
        metadata={"description": "on_track, at_risk or breached, as of now; null once closed"},
    )
    snippet = ma.fields.String(
        allow_none=True,
        metadata={
            "description": "Where the words were found in the description, as written; "
            "null when they were found elsewhere"
        },
    )


class SearchPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SearchItemSchema), required=True)
    per_page = ma.fields.Integer(required=True)
    next_cursor = ma.fields.String(allow_none=True)
    as_of = ma.fields.AwareDateTime(required=True)
