"""The workspace's bodies: ownership, internal notes, canned responses and their previews."""

from __future__ import annotations

import marshmallow as ma

from application.workspace import MAX_NOTE
from domain.categories import Category
from domain.sla import Complexity
from domain.template import MAX_TEXT, PLACEHOLDERS
from interfaces.web.schemas.fields import RequestSchema, Text, choice
from interfaces.web.schemas.queries import after_field
from interfaces.web.schemas.tickets import TEMPLATE_SLUG


class AssignSchema(RequestSchema):
    """Who is to own the ticket: an active agent or supervisor."""

    assignee = Text(required=True, max_length=100)


class NoteSchema(RequestSchema):
    """An internal note: for the support team and auditors, never for the requester."""

    text = Text(required=True, max_length=MAX_NOTE, multiline=True)


class RedactionSchema(RequestSchema):
    """One text of one event to make unreadable (a password pasted into a request)."""

    version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(min=1),
        metadata={"description": "The version of the event (its item in the conversation)"},
    )
    field = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "The event's field: description, subject, message, ..."},
    )
    reason = Text(required=True, max_length=1000)


class PreviewQuery(ma.Schema):
    template = ma.fields.String(required=True, validate=TEMPLATE_SLUG)


class PreviewSchema(ma.Schema):
    """What answering with a canned response would send, as of now."""

    template = ma.fields.String(required=True)
    template_version = ma.fields.Integer(required=True)
    language = ma.fields.String(required=True)
    text = ma.fields.String(required=True)
    resolves = ma.fields.Boolean(required=True)
    complexity = ma.fields.String(allow_none=True)


class TemplateTextSchema(RequestSchema):
    """A canned response's texts and what it also does."""

    title = Text(required=True, max_length=200)
    text_ar = Text(
        required=True,
        max_length=MAX_TEXT,
        multiline=True,
        metadata={"description": "Placeholders: " + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)},
    )
    text_en = Text(required=True, max_length=MAX_TEXT, multiline=True)
    category = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=choice([c.value for c in Category], "Choose a listed category."),
        metadata={"description": "The kind of request it is meant for, to offer it first"},
    )
    complexity = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=choice([c.value for c in Complexity], "Choose simple or complex."),
        metadata={"description": "Answering with it also classifies the ticket so"},
    )
    resolves = ma.fields.Boolean(
        load_default=False, metadata={"description": "Answering with it resolves the ticket"}
    )
    reason = Text(required=True, max_length=2_000, metadata={"description": "Why it changes"})


class NewTemplateSchema(TemplateTextSchema):
    id = ma.fields.String(required=True, validate=TEMPLATE_SLUG)


class RetireSchema(RequestSchema):
    reason = Text(required=True, max_length=2_000)


class TemplateSchema(ma.Schema):
    """A canned response as it stands."""

    id = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "Also the ETag"})
    title = ma.fields.String(required=True)
    text_ar = ma.fields.String(required=True)
    text_en = ma.fields.String(required=True)
    category = ma.fields.String(allow_none=True)
    complexity = ma.fields.String(allow_none=True)
    resolves = ma.fields.Boolean(required=True)
    retired = ma.fields.Boolean(required=True)
    changed_at = ma.fields.AwareDateTime(required=True)
    changed_by = ma.fields.String(required=True)


class TemplatesQuery(ma.Schema):
    retired = ma.fields.Boolean(load_default=False, metadata={"description": "List retired too"})
    after = after_field()


class TemplateListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(TemplateSchema), required=True)
    placeholders = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"description": "What a template's text may name, and what each becomes"},
    )


class TemplateChangeSchema(ma.Schema):
    """One change of a template, as recorded."""

    version = ma.fields.Integer(required=True)
    type = ma.fields.String(required=True)
    actor = ma.fields.String(required=True)
    at = ma.fields.AwareDateTime(required=True)
    reason = ma.fields.String(required=True)
    title = ma.fields.String(allow_none=True)
    text_ar = ma.fields.String(allow_none=True)
    text_en = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    complexity = ma.fields.String(allow_none=True)
    resolves = ma.fields.Boolean(allow_none=True)


class TemplateHistorySchema(ma.Schema):
    id = ma.fields.String(required=True)
    changes = ma.fields.List(ma.fields.Nested(TemplateChangeSchema), required=True)
