"""The read models' answers and their queries: the queue, SLA reports, suggestions."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from domain.categories import Category
from domain.sla import SlaState
from interfaces.web.schemas.fields import LARGEST_POSITION, LocalInstant, within_era
from projections.cursor import InvalidCursor, decode_cursor
from projections.reports import GROUPINGS
from projections.ticket_events import OPEN_STATUSES


def after_field() -> ma.fields.Integer:
    """`?after=`: read-your-writes for any read model."""
    return ma.fields.Integer(
        validate=ma.validate.Range(min=0, max=LARGEST_POSITION),
        metadata={
            "description": "Wait (up to 2 s) until the read model has applied this log "
            "position, e.g. a command's `position`; 503 if it has not, 422 if the log has "
            "no such position."
        },
    )


class PageCursor(ma.fields.String):
    """The `next_cursor` of an earlier page, checked before it reaches a query."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        cursor = str(super()._deserialize(value, attr, data, **kwargs))
        try:
            instant, _ = decode_cursor(cursor)
            within_era(instant)  # a forged cursor may hold an instant no database can take
        except (InvalidCursor, ma.ValidationError):
            raise ma.ValidationError("Not a cursor of this list.") from None
        return cursor


def _per_page() -> ma.fields.Integer:
    return ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


class QueueQuery(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(OPEN_STATUSES))
    category = ma.fields.String(validate=ma.validate.OneOf([c.value for c in Category]))
    course = ma.fields.String(validate=ma.validate.Length(min=1, max=500))
    sla = ma.fields.String(validate=ma.validate.OneOf([s.value for s in SlaState]))
    assignee = ma.fields.String(
        validate=ma.validate.Length(min=1, max=100),
        metadata={"description": "`me`: yours; `none`: nobody's; else an owner's name"},
    )
    per_page = _per_page()
    cursor = PageCursor(metadata={"description": "`next_cursor` of the previous page"})
    after = after_field()


class QueueItemSchema(ma.Schema):
    reference = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True)
    category = ma.fields.String(allow_none=True)
    course = ma.fields.String(allow_none=True)
    channel = ma.fields.String(required=True)
    language = ma.fields.String(required=True)
    assignee = ma.fields.String(
        allow_none=True, metadata={"description": "The member of the team who owns it"}
    )
    last_actor = ma.fields.String(
        allow_none=True, metadata={"description": "The member of the team who acted on it last"}
    )
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    responded = ma.fields.Boolean(
        required=True, metadata={"description": "Whether the first response was given (P5.1)"}
    )
    resolution_due = ma.fields.AwareDateTime(required=True)
    next_due = ma.fields.AwareDateTime(required=True)
    sla = ma.fields.String(
        required=True, metadata={"description": "on_track, at_risk or breached, as of now"}
    )
    escalated = ma.fields.Boolean(required=True)
    escalation_level = ma.fields.String(allow_none=True)
    escalations = ma.fields.Integer(required=True)


class TeamQueueItemSchema(QueueItemSchema):
    """What agents and supervisors also see; analysts never (P7.3)."""

    requester_email = ma.fields.String(required=True)
    requester_name = ma.fields.String(allow_none=True)
    subject = ma.fields.String(required=True)
    description = ma.fields.String(required=True)


class QueuePageSchema(ma.Schema):
    items = ma.fields.List(
        ma.fields.Nested(TeamQueueItemSchema),
        required=True,
        metadata={"description": "Analysts get the items without requester data"},
    )
    per_page = ma.fields.Integer(required=True)
    next_cursor = ma.fields.String(allow_none=True)
    as_of = ma.fields.AwareDateTime(required=True)


class ReportQuery(ma.Schema):
    from_ = LocalInstant(
        data_key="from", metadata={"description": "Tickets submitted from (inclusive)"}
    )
    to = LocalInstant(metadata={"description": "... until (exclusive)"})
    group_by = ma.fields.String(load_default="category", validate=ma.validate.OneOf(GROUPINGS))
    after = after_field()


class DeadlineSchema(ma.Schema):
    met = ma.fields.Integer(required=True)
    breached = ma.fields.Integer(required=True, metadata={"description": "As of now"})
    pending = ma.fields.Integer(required=True)
    met_percent = ma.fields.Float(allow_none=True, metadata={"description": "Of those decided"})
    median_hours = ma.fields.Float(allow_none=True, metadata={"description": "Business hours"})
    p90_hours = ma.fields.Float(allow_none=True)


class ReportLineSchema(ma.Schema):
    group = ma.fields.String(allow_none=True)
    tickets = ma.fields.Integer(required=True)
    first_response = ma.fields.Nested(DeadlineSchema, required=True)
    resolution = ma.fields.Nested(DeadlineSchema, required=True)
    breaches = ma.fields.Integer(required=True)
    escalations = ma.fields.Integer(required=True)


class ReportSchema(ma.Schema):
    group_by = ma.fields.String(required=True)
    from_ = ma.fields.AwareDateTime(data_key="from", allow_none=True)
    to = ma.fields.AwareDateTime(allow_none=True)
    as_of = ma.fields.AwareDateTime(required=True)
    groups = ma.fields.List(ma.fields.Nested(ReportLineSchema), required=True)
    total = ma.fields.Nested(ReportLineSchema, required=True)


class SuggestionsQuery(ma.Schema):
    forwarded = ma.fields.Boolean(
        metadata={"description": "true: referred to management; false: not yet"}
    )
    per_page = _per_page()
    cursor = PageCursor(metadata={"description": "`next_cursor` of the previous page"})
    after = after_field()


class SuggestionSchema(ma.Schema):
    reference = ma.fields.String(required=True)
    course = ma.fields.String(allow_none=True)
    channel = ma.fields.String(required=True)
    language = ma.fields.String(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    status = ma.fields.String(required=True)
    department = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    forwarded_at = ma.fields.AwareDateTime(allow_none=True)
    forwarded_by = ma.fields.String(allow_none=True)


class SuggestionsPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(SuggestionSchema), required=True)
    per_page = ma.fields.Integer(required=True)
    next_cursor = ma.fields.String(allow_none=True)
