"""A ticket as agents and supervisors read it, and the commands they send."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from domain.escalation import EscalationReason
from domain.sla import Complexity
from interfaces.web.schemas.fields import AwareInstant, RequestSchema, Text, choice


class EscalationSchema(ma.Schema):
    """One escalation as recorded (P6)."""

    reason = ma.fields.String(required=True)
    level = ma.fields.String(required=True)
    deadline = ma.fields.AwareDateTime(allow_none=True)
    at = ma.fields.AwareDateTime(required=True)
    actor = ma.fields.String(required=True)


class TicketSchema(ma.Schema):
    """A ticket's current state, for agents and supervisors."""

    reference = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "Also the ETag"})
    status = ma.fields.String(required=True)
    channel = ma.fields.String(required=True)
    requester_email = ma.fields.String(required=True)
    requester_name = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    course = ma.fields.String(allow_none=True)
    subject = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    language = ma.fields.String(required=True)
    missing_details = ma.fields.List(ma.fields.String(), required=True)
    complexity = ma.fields.String(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)
    acknowledged = ma.fields.Method("_acknowledged", required=True)
    first_responded_at = ma.fields.AwareDateTime(allow_none=True)
    responses = ma.fields.Integer(required=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    resolution_summary = ma.fields.String(allow_none=True)
    escalations = ma.fields.List(ma.fields.Nested(EscalationSchema), required=True)
    extensions = ma.fields.Integer(required=True)
    follow_ups = ma.fields.Integer(required=True)
    forwarded_to = ma.fields.String(allow_none=True)
    reopened = ma.fields.Integer(required=True)
    owner = ma.fields.String(allow_none=True, metadata={"description": "Who owns the ticket"})
    notes = ma.fields.Integer(required=True, metadata={"description": "Internal notes"})

    def _acknowledged(self, ticket: Any) -> bool:
        return ticket.acknowledgement_message_id is not None


class OutcomeSchema(TicketSchema):
    """A command's result: the ticket as saved and its event's log position."""

    position = ma.fields.Integer(
        required=True, metadata={"description": "Wait for read models to reach this position"}
    )


TEMPLATE_SLUG = ma.validate.Regexp(
    r"^[a-z0-9][a-z0-9-]{0,62}$", error="A template id is lower-case letters, digits, hyphens."
)


def _template_field() -> ma.fields.String:
    return ma.fields.String(
        validate=TEMPLATE_SLUG,
        metadata={
            "description": "A canned response to answer with; the text below, if given, is "
            "the agent's edit of it. A template may also classify and resolve the ticket."
        },
    )


def _one_text(text: str) -> Any:
    @ma.validates_schema
    def either_text_or_template(self: ma.Schema, data: dict[str, Any], **kwargs: Any) -> None:
        if text not in data and "template" not in data:
            raise ma.ValidationError(f"Give the {text} or a template.", text)

    return either_text_or_template


class RespondSchema(RequestSchema):
    """A reply to the requester (P3.4, P5.1), written or from a canned response."""

    message = Text(max_length=10_000, multiline=True)
    template = _template_field()
    _either = _one_text("message")


class ClassifySchema(RequestSchema):
    """The problem's complexity (P5.2–P5.3)."""

    complexity = ma.fields.String(
        required=True,
        validate=choice([c.value for c in Complexity], "Choose simple or complex."),
    )


class ExtendSchema(RequestSchema):
    """A new expected resolution instant, and why (P5.4)."""

    resolution_due = AwareInstant(required=True)
    reason = Text(required=True, max_length=2_000, multiline=True)


AGENT_ESCALATION_REASONS = [
    EscalationReason.AGENT.value,
    EscalationReason.REQUESTER_TO_MANAGEMENT.value,
    EscalationReason.REQUESTER_FOLLOW_UP_AFTER_DEADLINE.value,
]


class EscalateSchema(RequestSchema):
    """Raise to supervisory management (P6.2); deadline escalations are the SLA watcher's."""

    reason = ma.fields.String(
        load_default=EscalationReason.AGENT.value,
        validate=choice(AGENT_ESCALATION_REASONS, "Choose a listed escalation reason."),
    )
    note = Text(load_default="", max_length=2_000, multiline=True)


class ForwardSchema(RequestSchema):
    """Refer a suggestion to the competent management (P3.5)."""

    department = Text(required=True, max_length=200)
    note = Text(required=True, max_length=2_000, multiline=True)


class ResolveSchema(RequestSchema):
    """The solution given (P3.4), written or from a canned response."""

    summary = Text(max_length=10_000, multiline=True)
    template = _template_field()
    _either = _one_text("summary")


class ReopenSchema(RequestSchema):
    """Why the problem is not solved after all."""

    reason = Text(required=True, max_length=2_000, multiline=True)
