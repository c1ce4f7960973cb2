"""Bodies of the data-protection officer's operations."""

from __future__ import annotations

import marshmallow as ma

from application.privacy.erasure import BASES
from interfaces.web.schemas.fields import EmailAddress


class RequesterSchema(ma.Schema):
    email = EmailAddress(required=True, metadata={"description": "The learner's email address"})


class ErasureSchema(ma.Schema):
    """Whom to erase, by address or by a reference of theirs, and why."""

    email = EmailAddress(metadata={"description": "The learner's email address"})
    reference = ma.fields.String(
        validate=ma.validate.Length(min=1, max=32),
        metadata={"description": "Or a reference of one of their tickets"},
    )
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    basis = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(BASES),
        metadata={"description": "The legal ground: " + ", ".join(BASES)},
    )

    @ma.validates_schema
    def _one_of_them(self, data: dict[str, object], **_: object) -> None:
        if ("email" in data) == ("reference" in data):
            raise ma.ValidationError("name the learner by `email` or by `reference`, not both")


class ErasureReportSchema(ma.Schema):
    requester = ma.fields.String(metadata={"description": "The address's tag, never the address"})
    references = ma.fields.List(ma.fields.String())
    recorded = ma.fields.List(ma.fields.String())
    key_destroyed = ma.fields.Boolean()
    files_removed = ma.fields.Integer()
    rekeyed = ma.fields.List(ma.fields.String())
    left_in_the_clear = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())


class HoldSchema(ma.Schema):
    """A ticket whose data must be kept, or no longer, and why."""

    reference = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32))
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
