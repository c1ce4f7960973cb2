"""Canned responses: supervisors keep them, agents and supervisors answer with them.

Every change is an event of the template with who changed it and why, like a ticket's; a
response records the template and the version it began from. The list comes from a read model
(`?after=` for read-your-writes); one template, and its history, from the record itself.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, jsonify, request
from flask_smorest import Blueprint

from application.workspace import Workspace
from domain.categories import Category
from domain.sla import Complexity
from domain.template import PLACEHOLDERS, Template, TemplateText
from interfaces.web.auth import current_principal, current_role, requires
from interfaces.web.problems import Problem, refuse_unreadable_json
from interfaces.web.queries import read_model_headers
from interfaces.web.schemas.workspace import (
    NewTemplateSchema,
    RetireSchema,
    TemplateHistorySchema,
    TemplateListSchema,
    TemplateSchema,
    TemplatesQuery,
    TemplateTextSchema,
)
from interfaces.web.services import container
from projections.templates import template_rows

blp = Blueprint(
    "templates",
    __name__,
    url_prefix="/api/v1",
    description="Canned responses, in Arabic and English, kept by supervisors.",
)
blp.before_request(refuse_unreadable_json)

_ETAG = {
    "ETag": {"description": "The template's version, for If-Match", "schema": {"type": "string"}}
}
_IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "The ETag the change is based on; 412 when the template has moved on.",
    "schema": {"type": "string"},
}


def _workspace() -> Workspace:
    return container().workspace


def template_text(fields: dict[str, Any]) -> TemplateText:
    """A template's texts and macro from loaded fields (the API's body or the console's form)."""
    return TemplateText(
        title=fields["title"],
        text_ar=fields["text_ar"],
        text_en=fields["text_en"],
        category=Category(fields["category"]) if fields.get("category") else None,
        complexity=Complexity(fields["complexity"]) if fields.get("complexity") else None,
        resolves=bool(fields.get("resolves")),
    )


def template_fields(template: Template) -> dict[str, Any]:
    """A template as the API shows it (the console's editor starts from the same fields)."""
    text = template.text
    return {
        "id": template.slug,
        "version": template.version,
        "title": text.title,
        "text_ar": text.text_ar,
        "text_en": text.text_en,
        "category": text.category.value if text.category else None,
        "complexity": text.complexity.value if text.complexity else None,
        "resolves": text.resolves,
        "retired": template.retired,
        "changed_at": template.modified_on,
        "changed_by": template.changed_by,
    }


def _answer(template: Template, status: int = 200) -> Response:
    response = jsonify(TemplateSchema().dump(template_fields(template)))
    response.status_code = status
    response.set_etag(str(template.version))
    return response


def _based_on(slug: str) -> int | None:
    """The version `If-Match` names; None without the header."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    current = container().desk.template(slug).version
    if not request.if_match.contains(str(current)):
        raise Problem(
            412,
            "Precondition Failed",
            detail=f"The template is at version {current}; If-Match does not name it.",
            headers={"ETag": f'"{current}"'},
        )
    return current


@blp.get("/templates")
@requires("agent", "supervisor")
@blp.arguments(TemplatesQuery, location="query", unknown=ma.RAISE)
@blp.response(200, TemplateListSchema)
@blp.alt_response(503, description="`after` not reached in 2 s; retry")
def list_templates(query: dict[str, Any]) -> Response:
    """The canned responses by title, with the placeholders their texts may name."""
    headers = read_model_headers("templates", query)
    retired = query["retired"] and current_role() == "supervisor"
    rows = [
        {**row, "id": row["slug"]} for row in template_rows(container().engine, retired=retired)
    ]
    body = TemplateListSchema().dump({"items": rows, "placeholders": PLACEHOLDERS})
    response = jsonify(body)
    response.headers.update(headers)
    return response


@blp.get("/templates/<slug>")
@requires("agent", "supervisor")
@blp.response(200, TemplateSchema, headers=_ETAG)
@blp.alt_response(404, response="NOT_FOUND")
def read_template(slug: str) -> Response:
    """One canned response as it stands; its ETag is its version."""
    return _answer(container().desk.template(slug))


@blp.get("/templates/<slug>/history")
@requires("supervisor", "auditor")
@blp.response(200, TemplateHistorySchema)
@blp.alt_response(404, response="NOT_FOUND")
def template_history(slug: str) -> dict[str, Any]:
    """Every change of a canned response: who, when, why, and what it said then."""
    changes = []
    for change in container().desk.template_changes(slug):
        fields = {k: v for k, v in vars(change).items() if k in _CHANGE_FIELDS}
        changes.append(
            {
                **fields,
                "version": change.originator_version,
                "type": type(change).__name__,
                "actor": change.actor,
                "at": change.timestamp,
                "reason": change.reason,
            }
        )
    return {"id": slug, "changes": changes}


_CHANGE_FIELDS = ("title", "text_ar", "text_en", "category", "complexity", "resolves")


@blp.post("/templates")
@requires("supervisor")
@blp.arguments(NewTemplateSchema)
@blp.response(201, TemplateSchema, headers=_ETAG)
@blp.alt_response(409, response="CONFLICT", description="A template has this id already")
def create_template(fields: dict[str, Any]) -> Response:
    """Write a new canned response; unknown placeholders are refused now, not when used."""
    template = _workspace().create_template(
        fields["id"], template_text(fields), fields["reason"], current_principal()
    )
    return _answer(template, 201)


@blp.put("/templates/<slug>")
@requires("supervisor")
@blp.arguments(TemplateTextSchema)
@blp.response(200, TemplateSchema, headers=_ETAG)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Retired, or nothing changed")
@blp.alt_response(412, response="PRECONDITION_FAILED")
@blp.doc(parameters=[_IF_MATCH])
def revise_template(fields: dict[str, Any], slug: str) -> Response:
    """Change a canned response; answers already given keep the version they used."""
    version = _based_on(slug)
    template = _workspace().revise_template(
        slug, template_text(fields), fields["reason"], current_principal(), version
    )
    return _answer(template)


@blp.post("/templates/<slug>/retire")
@requires("supervisor")
@blp.arguments(RetireSchema)
@blp.response(200, TemplateSchema, headers=_ETAG)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="Retired already")
@blp.alt_response(412, response="PRECONDITION_FAILED")
@blp.doc(parameters=[_IF_MATCH])
def retire_template(fields: dict[str, Any], slug: str) -> Response:
    """Withdraw a canned response: no longer offered, no longer accepted."""
    version = _based_on(slug)
    template = _workspace().retire_template(slug, fields["reason"], current_principal(), version)
    return _answer(template)
