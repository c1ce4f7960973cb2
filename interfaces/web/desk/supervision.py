"""The supervisors' pages: canned responses (write, revise, retire, with their history) and the
escalated tickets. Agents may read the canned responses; only supervisors change them.

Every change goes through the workspace service, as in the API: a change of a template is an
event with who made it and why, and a form based on an older version is refused (412 in the
API; here the page says someone changed it first, and shows it as it is now).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from application.users import Role
from domain.categories import Category
from domain.errors import DomainError, StaleVersion
from domain.sla import Complexity
from domain.template import PLACEHOLDERS, Template
from interfaces.web.canned import template_fields, template_text
from interfaces.web.desk.queue_page import PER_PAGE, checked_cursor, rows_of
from interfaces.web.desk.session import current, desk, language, page, signed_in
from interfaces.web.desk.wording import wording
from interfaces.web.messages import field_errors
from interfaces.web.schemas.workspace import NewTemplateSchema, RetireSchema, TemplateTextSchema
from interfaces.web.services import container
from projections.queue import QueueFilter, queue_page
from projections.templates import template_rows

_TEXT_FIELDS = ("title", "text_ar", "text_en", "category", "complexity", "resolves", "reason")


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = {k: request.form.get(k, "") for k in ("id", *_TEXT_FIELDS)}
    values["resolves"] = request.form.get("resolves") == "on"
    for optional in ("category", "complexity"):
        values[optional] = values[optional] or None
    return values


def _values_of(template: Template) -> dict[str, Any]:
    return {**template_fields(template), "reason": ""}


def _editor(status: int = 200, **context: Any) -> Response:
    return page(
        "desk/template_edit.html",
        status,
        nav="templates",
        categories=[c.value for c in Category],
        complexities=[c.value for c in Complexity],
        placeholders=PLACEHOLDERS,
        **context,
    )


@desk.get("/templates")
@signed_in()
def templates() -> Response:
    """The canned responses; supervisors also see the retired ones and may change them."""
    supervisor = current().role is Role.SUPERVISOR
    rows = template_rows(container().engine, retired=supervisor)
    return page("desk/templates.html", nav="templates", templates=rows, placeholders=PLACEHOLDERS)


@desk.route("/templates/new", methods=["GET", "POST"])
@signed_in(Role.SUPERVISOR)
def new_template() -> ResponseReturnValue:
    """Write a new canned response."""
    if request.method != "POST":
        return _editor(values={"resolves": False}, errors={}, creating=True)
    values = _form_values()
    try:
        fields = NewTemplateSchema().load({k: v for k, v in values.items() if v is not None})
        container().workspace.create_template(
            fields["id"], template_text(fields), fields["reason"], current().principal
        )
    except ma.ValidationError as error:
        return _editor(422, values=values, errors=field_errors(error, language()), creating=True)
    except DomainError as refused:
        return _editor(422, values=values, errors={}, notice=str(refused), creating=True)
    return redirect(url_for("desk.template", slug=fields["id"], done="saved"), 303)


@desk.route("/templates/<slug>", methods=["GET", "POST"])
@signed_in()
def template(slug: str) -> ResponseReturnValue:
    """One canned response: its text, its history, and for supervisors the form to revise it."""
    workspace = container().workspace
    current_template = container().desk.template(slug)
    history = container().desk.template_changes(slug)
    if request.method != "POST":
        return _editor(
            template=current_template,
            history=history,
            values=_values_of(current_template),
            errors={},
            done=request.args.get("done"),
        )
    if current().role is not Role.SUPERVISOR:
        return page("desk/error.html", 403, message=wording(language()).forbidden)
    values = _form_values()
    context = {"template": current_template, "history": history, "values": values}
    try:
        fields = TemplateTextSchema().load(
            {k: v for k, v in values.items() if k != "id" and v is not None}
        )
        workspace.revise_template(
            slug, template_text(fields), fields["reason"], current().principal, _version()
        )
    except ma.ValidationError as error:
        return _editor(422, errors=field_errors(error, language()), **context)
    except StaleVersion:
        notice = wording(language()).template_changed_first
        return _editor(409, errors={}, notice=notice, **context)
    except DomainError as refused:
        return _editor(422, errors={}, notice=str(refused), **context)
    return redirect(url_for("desk.template", slug=slug, done="saved"), 303)


@desk.post("/templates/<slug>/retire")
@signed_in(Role.SUPERVISOR)
def retire_template(slug: str) -> ResponseReturnValue:
    """Withdraw a canned response, saying why."""
    current_template = container().desk.template(slug)
    context = {
        "template": current_template,
        "history": container().desk.template_changes(slug),
        "values": _values_of(current_template),
    }
    try:
        fields = RetireSchema().load({"reason": request.form.get("retire_reason", "")})
        container().workspace.retire_template(
            slug, fields["reason"], current().principal, _version()
        )
    except ma.ValidationError as error:
        reason = field_errors(error, language())["reason"]
        return _editor(422, errors={"retire_reason": reason}, **context)
    except StaleVersion:
        notice = wording(language()).template_changed_first
        return _editor(409, errors={}, notice=notice, **context)
    except DomainError as refused:
        return _editor(409, errors={}, notice=str(refused), **context)
    return redirect(url_for("desk.template", slug=slug, done="retired"), 303)


def _version() -> int | None:
    sent = request.form.get("version", "")
    return int(sent) if sent.isdigit() and len(sent) < 10 else None


@desk.get("/escalated")
@signed_in(Role.SUPERVISOR)
def escalated() -> Response:
    """Open tickets raised to supervisory management, most urgent first (P6)."""
    built = container()
    now = built.desk.clock()
    found = queue_page(
        built.engine,
        built.sla,
        now,
        QueueFilter(escalated=True),
        PER_PAGE,
        checked_cursor(request.args.get("cursor")),
    )
    return page(
        "desk/escalated.html",
        nav="escalated",
        rows=rows_of(found, now),
        next_cursor=found.next_cursor,
    )
