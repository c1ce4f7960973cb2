"""What one inbound email did, as the mail server is told."""

from __future__ import annotations

from marshmallow import Schema, fields

from application.mail.intake import Action


class IntakeOutcomeSchema(Schema):
    """What one inbound message did."""

    action = fields.String(
        required=True,
        metadata={"enum": [a.value for a in Action if a is not Action.REFUSED]},
    )
    reference = fields.String(allow_none=True, metadata={"example": "CM-7K3F-Q2XD"})
    detail = fields.String()
