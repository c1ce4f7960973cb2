"""What requesters send and read without an account: submissions, status, follow-ups."""

from __future__ import annotations

import marshmallow as ma

from domain.categories import Category
from domain.status import Status
from interfaces.web.schemas.conversation import AttachedFileSchema, RefusedFileSchema
from interfaces.web.schemas.fields import LANGUAGES, EmailAddress, RequestSchema, Text, choice

_KEPT = {"description": "The files kept (none without files)"}
_REFUSED = {"description": "The files not kept, with why, in the request's language"}


class SubmissionSchema(RequestSchema):
    """A support request from the web form's channel (P1.2, P3.2)."""

    email = EmailAddress(required=True, metadata={"description": "Email registered on the account"})
    category = ma.fields.String(
        required=True,
        validate=choice([c.value for c in Category], "Choose one of the listed categories."),
        metadata={"description": "Type of problem (P2)"},
    )
    course = Text(required=True, max_length=200, metadata={"description": "Course or workshop"})
    subject = Text(required=True, max_length=200)
    description = Text(required=True, max_length=10_000, multiline=True)
    name = Text(max_length=200, allow_none=True)
    language = ma.fields.String(
        load_default="ar",
        validate=choice(list(LANGUAGES), "Choose ar or en."),
        metadata={"description": "Language of the request and of replies"},
    )


class SubmittedSchema(ma.Schema):
    """What a requester learns on submitting (P3.3, P5)."""

    reference = ma.fields.String(required=True, metadata={"example": "CM-7K3F-Q2XP"})
    status = ma.fields.String(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)
    position = ma.fields.Integer(required=True, metadata={"description": "Event log position"})
    files = ma.fields.List(ma.fields.Nested(AttachedFileSchema), metadata=_KEPT)
    refused = ma.fields.List(ma.fields.Nested(RefusedFileSchema), metadata=_REFUSED)


class IdempotencyKeySchema(ma.Schema):
    """The optional `Idempotency-Key` header: a retried submit returns the first answer."""

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        metadata={
            "description": "A retry from the same client address with this key gets the first "
            "answer; from another address, the same key is another request."
        },
        validate=ma.validate.Regexp(
            r"^[\x21-\x7e]{1,255}$", error="Use 1 to 255 visible ASCII characters."
        ),
    )


class StatusQuerySchema(RequestSchema):
    """A requester asks where their request stands."""

    reference = Text(required=True, max_length=40, metadata={"example": "CM-7K3F-Q2XP"})
    email = EmailAddress(required=True)
    language = ma.fields.String(validate=choice(list(LANGUAGES), "Choose ar or en."))


class PublicStatusSchema(ma.Schema):
    """A ticket's status as its requester may see it: nothing internal."""

    reference = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf([s.value for s in Status]))
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)


class FollowUpSchema(RequestSchema):
    """The requester writes again about their request (P6.1)."""

    email = EmailAddress(required=True)
    message = Text(required=True, max_length=10_000, multiline=True)
    language = ma.fields.String(validate=choice(list(LANGUAGES), "Choose ar or en."))


class FollowUpReceivedSchema(ma.Schema):
    """Receipt of a follow-up."""

    reference = ma.fields.String(required=True)
    received_at = ma.fields.AwareDateTime(required=True)
    files = ma.fields.List(ma.fields.Nested(AttachedFileSchema), metadata=_KEPT)
    refused = ma.fields.List(ma.fields.Nested(RefusedFileSchema), metadata=_REFUSED)
