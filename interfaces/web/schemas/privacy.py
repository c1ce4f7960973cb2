"""Bodies of the data-protection officer's operations."""

from __future__ import annotations

import marshmallow as ma

from interfaces.web.schemas.fields import EmailAddress


class RequesterSchema(ma.Schema):
    email = EmailAddress(required=True, metadata={"description": "The learner's email address"})
