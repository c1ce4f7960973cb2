"""A ticket's page: its state and deadlines, its conversation, and the actions of the viewer's
role, each a form that posts the version it was based on.

Every action goes through the same services as the API (`SupportDesk`, `Workspace`) and is
checked by the API's own schemas. When someone acted on the ticket after the page was shown,
nothing is recorded: the page says so, lists what changed since, and keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import Response, redirect, request, url_for
from flask.typing import ResponseReturnValue

from application.attachments.inspection import inspect_all
from application.desk import Outcome
from application.users import Principal
from domain.attachment import Refused
from domain.deadlines import Deadline
from domain.errors import DomainError, StaleVersion
from domain.escalation import EscalationReason
from domain.sla import Complexity
from domain.ticket import Ticket
from interfaces.web.desk.queue_page import time_left
from interfaces.web.desk.session import current, desk, language, page, signed_in
from interfaces.web.desk.wording import wording
from interfaces.web.messages import field_errors
from interfaces.web.schemas.tickets import (
    ClassifySchema,
    EscalateSchema,
    ExtendSchema,
    ForwardSchema,
    ReopenSchema,
    ResolveSchema,
    RespondSchema,
)
from interfaces.web.schemas.workspace import AssignSchema, NoteSchema
from interfaces.web.services import container
from interfaces.web.uploads import OverLimit, accepts_files, received, served
from interfaces.web.uploads import thumbnail as thumbnail_response
from projections.conversation import conversation
from projections.templates import template_rows

ACTIONS = (
    "respond",
    "note",
    "take",
    "release",
    "assign",
    "classify",
    "extend",
    "escalate",
    "forward",
    "resolve",
    "reopen",
)


@dataclass(frozen=True)
class Clock:
    """One of the ticket's deadlines as the page shows it."""

    deadline: str
    due: datetime
    state: str | None  # None once met or no longer running
    left: timedelta | None


def _principal() -> Principal:
    return current().principal


def _clocks(ticket: Ticket, now: datetime) -> list[Clock]:
    built = container()
    running = ticket.running_deadlines()
    started = {
        Deadline.FIRST_RESPONSE: ticket.submitted_at,
        Deadline.RESOLUTION: ticket.resolution_clock_started_at,
    }
    dues = {
        Deadline.FIRST_RESPONSE: ticket.first_response_due,
        Deadline.RESOLUTION: ticket.resolution_due,
    }
    clocks = []
    for deadline, due in dues.items():
        if deadline not in running:
            clocks.append(Clock(deadline.value, due, None, None))
            continue
        state = built.sla.state(started[deadline], due, now)
        clocks.append(Clock(deadline.value, due, state.value, time_left(built.calendar, now, due)))
    return clocks


def _show(
    ref: str,
    status: int = 200,
    *,
    action: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    notice: str | None = None,
    since: int | None = None,
    preview: dict[str, Any] | None = None,
) -> Response:
    built = container()
    ticket = built.desk.ticket(ref)
    now = built.desk.clock()
    thread = conversation(built.engine, ticket.reference)
    changed = [item for item in thread.items if since is not None and item["version"] > since]
    chosen = request.args.get("template")
    if preview is None and chosen:
        preview = _preview(ticket.reference, chosen)
    return page(
        "desk/ticket.html",
        status,
        ticket=ticket,
        items=thread.items,
        behind=thread.version < ticket.version,
        clocks=_clocks(ticket, now),
        team=[member.name for member in built.users.team()],
        templates=template_rows(built.engine),
        action=action,
        values=values or {},
        errors=errors or {},
        notice=notice,
        changed=changed,
        preview=preview,
        done=request.args.get("done"),
        complexities=[c.value for c in Complexity],
        escalation_reasons=[
            EscalationReason.AGENT.value,
            EscalationReason.REQUESTER_TO_MANAGEMENT.value,
        ],
        is_suggestion=ticket.category is not None and ticket.category.is_suggestion,
    )


def _preview(reference: str, slug: str) -> dict[str, Any] | None:
    try:
        answer = container().workspace.preview(reference, slug, _principal())
    except DomainError:
        return {"error": wording(language()).template_unusable}
    template = answer.template
    return {
        "slug": template.slug,
        "title": template.text.title,
        "version": template.version,
        "text": answer.text,
        "resolves": template.text.resolves,
        "complexity": template.text.complexity.value if template.text.complexity else None,
    }


@desk.get("/tickets/<ref>")
@signed_in()
def ticket(ref: str) -> Response:
    """The ticket, its conversation and what the viewer may do."""
    return _show(ref)


# ---- actions -----------------------------------------------------------------------------

Command = Callable[[dict[str, Any], int], Outcome]


class _FilesRefused(Exception):
    def __init__(self, refused: list[Refused]) -> None:
        super().__init__(", ".join(r.name for r in refused))
        self.refused = refused


def _commands(
    ref: str, sent_files: list[tuple[str, bytes]]
) -> dict[str, tuple[type[ma.Schema] | None, Command]]:
    """For each action: the API schema that checks its form, and what it does."""
    built = container()
    desk_, workspace, who = built.desk, built.workspace, _principal()

    def answer(fields: dict[str, Any], version: int, resolve: bool, text: str) -> Outcome:
        if fields.get("template"):
            return workspace.answer(
                ref,
                fields["template"],
                who,
                edited=fields.get(text),
                resolve=resolve,
                version=version,
            )
        if resolve:
            return desk_.resolve(
                ref, summary=fields["summary"], actor=who.name, expected_version=version
            )
        kept, refused = inspect_all(sent_files)
        if refused:
            # An agent sees at once what was not accepted, and sends it again corrected.
            raise _FilesRefused(refused)
        return desk_.respond(
            ref, message=fields["message"], actor=who.name, expected_version=version, files=kept
        )

    return {
        "respond": (RespondSchema, lambda f, v: answer(f, v, False, "message")),
        "resolve": (ResolveSchema, lambda f, v: answer(f, v, True, "summary")),
        "note": (NoteSchema, lambda f, v: workspace.note(ref, f["text"], who, v)),
        "take": (None, lambda f, v: workspace.take(ref, who, v)),
        "release": (None, lambda f, v: workspace.release(ref, who, v)),
        "assign": (AssignSchema, lambda f, v: workspace.assign(ref, f["assignee"], who, v)),
        "classify": (
            ClassifySchema,
            lambda f, v: desk_.classify(
                ref, complexity=Complexity(f["complexity"]), actor=who.name, expected_version=v
            ),
        ),
        "extend": (
            ExtendSchema,
            lambda f, v: desk_.extend_deadline(
                ref,
                resolution_due=f["resolution_due"],
                reason=f["reason"],
                actor=who.name,
                expected_version=v,
            ),
        ),
        "escalate": (
            EscalateSchema,
            lambda f, v: desk_.escalate(
                ref,
                reason=EscalationReason(f["reason"]),
                note=f["note"],
                actor=who.name,
                expected_version=v,
            ),
        ),
        "forward": (
            ForwardSchema,
            lambda f, v: desk_.forward_to_management(
                ref, department=f["department"], note=f["note"], actor=who.name, expected_version=v
            ),
        ),
        "reopen": (
            ReopenSchema,
            lambda f, v: desk_.reopen(ref, reason=f["reason"], actor=who.name, expected_version=v),
        ),
    }


_FIELDS = {
    "respond": ("message", "template"),
    "resolve": ("summary", "template"),
    "note": ("text",),
    "assign": ("assignee",),
    "classify": ("complexity",),
    "extend": ("resolution_due", "reason"),
    "escalate": ("reason", "note"),
    "forward": ("department", "note"),
    "reopen": ("reason",),
}


def _local_instant(text: str) -> str:
    """The `datetime-local` field's value as an instant in the desk's time zone."""
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        return text  # the schema names what is wrong with it
    if local.tzinfo is None:
        local = local.replace(tzinfo=container().calendar.timezone)
    return local.isoformat()


@desk.get("/tickets/<ref>/files/<sha256>")
@signed_in()
def file(ref: str, sha256: str) -> Response:
    """A file of the ticket, as a download (see interfaces/web/uploads.py)."""
    built = container()
    found = built.downloads.file(ref, sha256)
    who = _principal()
    built.access_log.record(
        actor=who.name, role=who.role.value, action="file", reference=ref, query=f"sha256={sha256}"
    )
    return served(found)


@desk.get("/tickets/<ref>/files/<sha256>/thumbnail")
@signed_in()
def thumbnail(ref: str, sha256: str) -> Response:
    """A small picture of an image file, drawn here: the page shows it, not the file."""
    return thumbnail_response(container().downloads.thumbnail(ref, sha256))


@desk.post("/tickets/<ref>/<action>")
@accepts_files
@signed_in()
def act(ref: str, action: str) -> ResponseReturnValue:
    """Carry out one action from the ticket's page, based on the version it showed."""
    t = wording(language())
    try:
        sent_files = received() if action == "respond" else []
    except OverLimit as over:
        said = t.file_over_limit.format(name=over.name, reason=over.reason.explained(language()))
        values = {"message": request.form.get("message", "")}
        return _show(ref, 413, action=action, values=values, errors={"files": [said]})
    commands = _commands(ref, sent_files)
    if action not in commands:
        return page("desk/error.html", 404, message=t.http_error(404))
    schema, command = commands[action]
    values = {name: request.form.get(name, "") for name in _FIELDS.get(action, ())}
    sent = request.form.get("version", "")
    if not sent.isdigit() or len(sent) > 9:
        return _show(ref, 400, action=action, values=values, notice=t.form_expired)
    version = int(sent)
    given = {k: v for k, v in values.items() if v.strip()}
    if action == "extend" and "resolution_due" in given:
        given["resolution_due"] = _local_instant(given["resolution_due"])
    try:
        fields: dict[str, Any] = schema().load(given) if schema else {}
    except ma.ValidationError as error:
        return _show(ref, 422, action=action, values=values, errors=field_errors(error, language()))
    if action == "extend" and request.form.get("confirm") != "yes":
        return _show_extension(ref, values, fields, version)
    try:
        command(fields, version)
    except StaleVersion:
        return _show(ref, 409, action=action, values=values, notice=t.acted_first, since=version)
    except _FilesRefused as refused:
        why = [f"{r.name}: {r.reason.explained(language())}" for r in refused.refused]
        return _show(ref, 422, action=action, values=values, errors={"files": why})
    except DomainError as refused:
        return _show(ref, 409, action=action, values=values, notice=str(refused))
    target = url_for("desk.ticket", ref=ref, done=action)
    return redirect(f"{target}#conversation", 303)


def _show_extension(
    ref: str, values: dict[str, str], fields: dict[str, Any], version: int
) -> Response:
    """An extension is saved only once its new due instant was shown: in the desk's time and
    in business hours from now (P5.4)."""
    built = container()
    due: datetime = fields["resolution_due"]
    now = built.desk.clock()
    hours = built.calendar.business_hours_between(now, due) if due > now else 0.0
    extension = {"due": due, "business_hours": timedelta(hours=hours), "version": version}
    return _show(ref, action="extend", values=values, preview={"extension": extension})
