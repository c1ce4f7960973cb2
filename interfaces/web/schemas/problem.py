"""The body of every error answer: an RFC 9457 problem document."""

from __future__ import annotations

import marshmallow as ma


class ProblemSchema(ma.Schema):
    """An RFC 9457 problem document, as every error of this API is answered."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field name → messages"})
    title_en = ma.fields.String(metadata={"description": "English title of an Arabic answer"})
    detail_en = ma.fields.String(metadata={"description": "English detail of an Arabic answer"})
