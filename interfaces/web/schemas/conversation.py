"""A ticket's conversation as the support team reads it, and the query that asks for it."""

from __future__ import annotations

import marshmallow as ma

from domain.attachment import Refusal
from domain.escalation import EscalationReason
from domain.request import Channel
from interfaces.web.schemas.queries import after_field
from projections.conversation import KINDS, VISIBILITIES

LARGEST_VERSION = 2**31 - 1  # a ticket's version is a 32-bit integer in the read model


class ConversationQuery(ma.Schema):
    since = ma.fields.Integer(
        validate=ma.validate.Range(min=0, max=LARGEST_VERSION),
        metadata={
            "description": "A ticket version, e.g. the `version` of an earlier answer: only "
            "the items after it."
        },
    )
    visibility = ma.fields.String(
        validate=ma.validate.OneOf(VISIBILITIES),
        metadata={"description": "Only the items the requester saw, or only internal ones"},
    )
    after = after_field()


def _of(*kinds: str, description: str = "") -> dict[str, str]:
    """A field's documentation, naming the kinds of item that carry it."""
    said = f"{description} " if description else ""
    return {"description": f"{said}({', '.join(kinds)})"}


class AttachedFileSchema(ma.Schema):
    name = ma.fields.String(
        metadata={"description": "As the sender named it (`[erased]` once erased)"}
    )
    media_type = ma.fields.String(metadata={"description": "Read from the file's bytes"})
    size = ma.fields.Integer(metadata={"description": "Bytes, as kept"})
    sha256 = ma.fields.String(metadata={"description": "SHA-256 of the bytes kept"})
    scriptable = ma.fields.Boolean(metadata={"description": "A PDF that carries JavaScript"})


class RefusedFileSchema(ma.Schema):
    name = ma.fields.String()
    reason = ma.fields.String(validate=ma.validate.OneOf([r.value for r in Refusal]))
    explained = ma.fields.String(metadata={"description": "Why, in the request's language"})


class ConversationItemSchema(ma.Schema):
    """One message or action of the thread; the fields after `text` come with some kinds only."""

    version = ma.fields.Integer(
        required=True, metadata={"description": "The ticket's version: the item's order"}
    )
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(KINDS))
    visibility = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(VISIBILITIES),
        metadata={
            "description": "`requester`: the requester saw it or was told of it; "
            "`internal`: only the support team knows of it"
        },
    )
    actor = ma.fields.String(
        required=True, metadata={"description": "`requester`, a team member, or `system:…`"}
    )
    at = ma.fields.AwareDateTime(required=True, metadata={"description": "In UTC"})
    at_local = ma.fields.AwareDateTime(
        required=True, metadata={"description": "The same instant in the desk's time zone"}
    )
    text = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={
            "description": "The request's description, a message, a note, or the reason, "
            "summary or note the action was given with"
        },
    )
    subject = ma.fields.String(
        allow_none=True,
        metadata=_of("submitted", "follow_up_received", description="The request's, the email's"),
    )
    channel = ma.fields.String(
        validate=ma.validate.OneOf([c.value for c in Channel]),
        metadata=_of("submitted", "follow_up_received"),
    )
    category = ma.fields.String(allow_none=True, metadata=_of("submitted", "details_supplied"))
    course = ma.fields.String(allow_none=True, metadata=_of("submitted", "details_supplied"))
    language = ma.fields.String(metadata=_of("submitted"))
    sender = ma.fields.String(
        allow_none=True, metadata=_of("follow_up_received", description="The email's sender")
    )
    verified = ma.fields.Boolean(
        allow_none=True,
        metadata=_of("follow_up_received", description="Known to come from the requester"),
    )
    message_id = ma.fields.String(
        metadata=_of("acknowledged", description="The Message-ID of the receipt email")
    )
    template = ma.fields.String(
        allow_none=True,
        metadata=_of("responded", "resolved", description="The canned response it began from"),
    )
    template_version = ma.fields.Integer(allow_none=True, metadata=_of("responded", "resolved"))
    complexity = ma.fields.String(metadata=_of("classified"))
    resolution_due = ma.fields.AwareDateTime(
        metadata=_of(
            "classified",
            "deadline_extended",
            "reopened",
            description="The new expected resolution, in the desk's time zone",
        )
    )
    reason = ma.fields.String(
        validate=ma.validate.OneOf([r.value for r in EscalationReason]), metadata=_of("escalated")
    )
    level = ma.fields.String(metadata=_of("escalated"))
    deadline = ma.fields.AwareDateTime(
        allow_none=True, metadata=_of("escalated", description="The deadline missed, if one was")
    )
    department = ma.fields.String(metadata=_of("forwarded_to_management"))
    assignee = ma.fields.String(metadata=_of("assigned", "unassigned"))
    target = ma.fields.String(
        metadata=_of("deadline_at_risk", description="`first_response` or `resolution`")
    )
    due = ma.fields.AwareDateTime(metadata=_of("deadline_at_risk", description="When it is due"))
    basis = ma.fields.String(
        metadata=_of("requester_data_erased", description="The erasure's legal ground")
    )
    of_version = ma.fields.Integer(
        metadata=_of(
            "field_redacted",
            "files_attached",
            description="The version of the item redacted, or of the message the files came with",
        )
    )
    field = ma.fields.String(metadata=_of("field_redacted", description="The field redacted"))
    files = ma.fields.List(
        ma.fields.Nested(AttachedFileSchema),
        metadata=_of("files_attached", description="The files kept with the message"),
    )
    refused = ma.fields.List(
        ma.fields.Nested(RefusedFileSchema),
        metadata=_of("files_attached", description="The files not kept, and why"),
    )


class ConversationSchema(ma.Schema):
    reference = ma.fields.String(required=True, metadata={"example": "CM-7K3F-Q2XP"})
    version = ma.fields.Integer(
        required=True,
        metadata={"description": "The ticket's current version: pass it as `since` next time"},
    )
    items = ma.fields.List(ma.fields.Nested(ConversationItemSchema), required=True)
