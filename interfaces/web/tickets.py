"""The command API for agents and supervisors: read a ticket, act on it (P3.4, P3.5, P5, P6).

The acting principal is always the token's user. A change may name the version it was based
on (`If-Match`: the ETag of a read); a stale one is refused with 412 and nothing is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import marshmallow as ma
from flask import Response, jsonify, request
from flask_smorest import Blueprint

from application.attachments.inspection import inspect_all
from application.desk import Outcome, SupportDesk
from application.workspace import Workspace
from domain.escalation import EscalationReason
from domain.sla import Complexity
from domain.ticket import Ticket
from interfaces.privacy import eraser
from interfaces.web.auth import current_actor, current_principal, requires
from interfaces.web.problems import Problem, body_fields, refuse_unreadable_json, with_files
from interfaces.web.schemas.tickets import (
    ClassifySchema,
    EscalateSchema,
    ExtendSchema,
    ForwardSchema,
    OutcomeSchema,
    ReopenSchema,
    ResolveSchema,
    RespondSchema,
    TicketSchema,
)
from interfaces.web.schemas.workspace import (
    AssignSchema,
    NoteSchema,
    PreviewQuery,
    PreviewSchema,
    RedactionSchema,
)
from interfaces.web.services import container
from interfaces.web.uploads import accepts_files, received, takes_files

blp = Blueprint(
    "tickets",
    __name__,
    url_prefix="/api/v1",
    description="Agents and supervisors: read a ticket and act on it.",
)
blp.before_request(refuse_unreadable_json)

HANDLERS = ("agent", "supervisor")

_ETAG = {
    "ETag": {"description": "The ticket's version, for If-Match", "schema": {"type": "string"}}
}
_IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": False,
    "description": "The ETag the change is based on; 412 when the ticket has moved on.",
    "schema": {"type": "string"},
}

F = TypeVar("F", bound=Callable[..., Any])

# Built once: a schema's construction copies all its fields, which cost more than the dump.
_TICKET = TicketSchema()


def _documented_command(view: F) -> F:
    """The answers every command may give, in the OpenAPI document."""
    for decorate in (
        blp.response(200, OutcomeSchema, headers=_ETAG),
        blp.alt_response(404, response="NOT_FOUND"),
        blp.alt_response(409, response="CONFLICT", description="The ticket's state forbids it"),
        blp.alt_response(412, response="PRECONDITION_FAILED"),
        blp.doc(parameters=[_IF_MATCH]),
    ):
        view = decorate(view)
    return view


def _desk() -> SupportDesk:
    return container().desk


def _workspace() -> Workspace:
    return container().workspace


def _with_etag(body: dict[str, Any], ticket: Ticket) -> Response:
    response = jsonify(body)
    response.set_etag(str(ticket.version))
    return response


def _based_on(ref: str) -> int | None:
    """The version `If-Match` names, to pin the command to; None without the header."""
    if "If-Match" not in request.headers or request.if_match.star_tag:
        return None
    current = _desk().ticket(ref).version
    if not request.if_match.contains(str(current)):
        raise Problem(
            412,
            "Precondition Failed",
            detail=f"The ticket is at version {current}; If-Match does not name it.",
            headers={"ETag": f'"{current}"'},
        )
    return current


def _act(ref: str, command: Callable[[SupportDesk, int | None], Outcome]) -> Response:
    outcome = command(_desk(), _based_on(ref))
    body = _TICKET.dump(outcome.ticket) | {"position": outcome.position}
    return _with_etag(body, outcome.ticket)


@blp.get("/tickets/<ref>")
@requires(*HANDLERS)
@blp.response(200, TicketSchema, headers=_ETAG)
@blp.alt_response(304, description="Not Modified: If-None-Match names the current version")
@blp.alt_response(404, response="NOT_FOUND")
@blp.doc(parameters=[{**_IF_MATCH, "name": "If-None-Match", "description": "A known ETag"}])
def read(ref: str) -> Response:
    """A ticket's current state; its ETag is the ticket's version."""
    ticket = _desk().ticket(ref)
    response = _with_etag(_TICKET.dump(ticket), ticket)
    response.make_conditional(request)  # 304 when If-None-Match names this version
    return response


@blp.post("/tickets/<ref>/respond")
@accepts_files
@requires(*HANDLERS)
@blp.doc(requestBody=with_files(RespondSchema))
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE", description="A file over a limit")
@_documented_command
def respond(ref: str) -> Response:
    """Reply to the requester; the first reply answers the first-response target (P3.4, P5.1).

    With `template`, the canned response in the ticket's language (or the agent's edit of it
    in `message`); a template may also classify or resolve the ticket in the same change.
    Without one, files may go with the reply (a corrected certificate) as a multipart body,
    as with a submission; a file that would not be kept refuses the reply (422, with why), so
    the agent sends it again corrected.
    """
    fields = body_fields(RespondSchema())
    files = received() if takes_files() else []
    if "template" in fields:
        if files:
            raise Problem(
                422,
                "Unprocessable Entity",
                detail="Files go with a reply written here, not with a template.",
                errors={"files": ["Not with a template."]},
            )
        return _act(
            ref,
            lambda _, version: _workspace().answer(
                ref,
                fields["template"],
                current_principal(),
                edited=fields.get("message"),
                version=version,
            ),
        )
    kept, refused = inspect_all(files)
    if refused:
        raise Problem(
            422,
            "Unprocessable Entity",
            detail="Some files would not be kept; nothing was recorded.",
            errors={"files": [f"{r.name}: {r.reason.explained('en')}" for r in refused]},
        )
    return _act(
        ref,
        lambda desk, version: desk.respond(
            ref,
            message=fields["message"],
            actor=current_actor(),
            expected_version=version,
            files=kept,
        ),
    )


@blp.post("/tickets/<ref>/classify")
@requires(*HANDLERS)
@blp.arguments(ClassifySchema)
@_documented_command
def classify(fields: dict[str, Any], ref: str) -> Response:
    """Set the complexity, and with it the resolution target (P5.2–P5.3)."""
    return _act(
        ref,
        lambda desk, version: desk.classify(
            ref,
            complexity=Complexity(fields["complexity"]),
            actor=current_actor(),
            expected_version=version,
        ),
    )


@blp.post("/tickets/<ref>/extend")
@requires(*HANDLERS)
@blp.arguments(ExtendSchema)
@_documented_command
def extend(fields: dict[str, Any], ref: str) -> Response:
    """Give a later expected resolution instant and the reason; the requester is told (P5.4)."""
    return _act(
        ref,
        lambda desk, version: desk.extend_deadline(
            ref,
            resolution_due=fields["resolution_due"],
            reason=fields["reason"],
            actor=current_actor(),
            expected_version=version,
        ),
    )


@blp.post("/tickets/<ref>/escalate")
@requires(*HANDLERS)
@blp.arguments(EscalateSchema)
@_documented_command
def escalate(fields: dict[str, Any], ref: str) -> Response:
    """Raise the ticket to supervisory management (P6.2)."""
    return _act(
        ref,
        lambda desk, version: desk.escalate(
            ref,
            reason=EscalationReason(fields["reason"]),
            note=fields["note"],
            actor=current_actor(),
            expected_version=version,
        ),
    )


@blp.post("/tickets/<ref>/forward")
@requires(*HANDLERS)
@blp.arguments(ForwardSchema)
@_documented_command
def forward(fields: dict[str, Any], ref: str) -> Response:
    """Refer a suggestion to the competent management (P3.5)."""
    return _act(
        ref,
        lambda desk, version: desk.forward_to_management(
            ref,
            department=fields["department"],
            note=fields["note"],
            actor=current_actor(),
            expected_version=version,
        ),
    )


@blp.post("/tickets/<ref>/resolve")
@requires(*HANDLERS)
@blp.arguments(ResolveSchema)
@_documented_command
def resolve(fields: dict[str, Any], ref: str) -> Response:
    """Record the solution given to the requester (P3.4), written or from a canned response."""
    if "template" in fields:
        return _act(
            ref,
            lambda _, version: _workspace().answer(
                ref,
                fields["template"],
                current_principal(),
                edited=fields.get("summary"),
                resolve=True,
                version=version,
            ),
        )
    return _act(
        ref,
        lambda desk, version: desk.resolve(
            ref, summary=fields["summary"], actor=current_actor(), expected_version=version
        ),
    )


@blp.post("/tickets/<ref>/reopen")
@requires(*HANDLERS)
@blp.arguments(ReopenSchema)
@_documented_command
def reopen(fields: dict[str, Any], ref: str) -> Response:
    """The problem is not solved after all: the resolution clock starts again."""
    return _act(
        ref,
        lambda desk, version: desk.reopen(
            ref, reason=fields["reason"], actor=current_actor(), expected_version=version
        ),
    )


# ---- the workspace: ownership, notes, previews ----------------------------------------------


@blp.post("/tickets/<ref>/take")
@requires(*HANDLERS)
@_documented_command
def take(ref: str) -> Response:
    """Take an unassigned ticket: you own it from now on."""
    return _act(ref, lambda _, version: _workspace().take(ref, current_principal(), version))


@blp.post("/tickets/<ref>/release")
@requires(*HANDLERS)
@_documented_command
def release(ref: str) -> Response:
    """Give up a ticket you own; a supervisor may release anyone's."""
    return _act(ref, lambda _, version: _workspace().release(ref, current_principal(), version))


@blp.post("/tickets/<ref>/assign")
@requires(*HANDLERS)
@blp.arguments(AssignSchema)
@_documented_command
def assign(fields: dict[str, Any], ref: str) -> Response:
    """Make an active agent or supervisor the owner: supervisors for anyone, even a ticket
    owned already; agents only for themselves. 422 for an unknown or revoked user."""
    return _act(
        ref,
        lambda _, version: _workspace().assign(
            ref, fields["assignee"], current_principal(), version
        ),
    )


@blp.post("/tickets/<ref>/notes")
@requires(*HANDLERS)
@blp.arguments(NoteSchema)
@_documented_command
def note(fields: dict[str, Any], ref: str) -> Response:
    """Add an internal note: never emailed, never shown to the requester, not a response."""
    return _act(
        ref,
        lambda _, version: _workspace().note(ref, fields["text"], current_principal(), version),
    )


@blp.post("/tickets/<ref>/redactions")
@requires(*HANDLERS)
@blp.arguments(RedactionSchema)
@_documented_command
def redact(fields: dict[str, Any], ref: str) -> Response:
    """Make one of the requester's texts unreadable wherever the desk shows it (a password
    pasted into a request): `[redacted]` is read in its place; the rest of the ticket stays
    readable; `FieldRedacted` records who did it and why. The requester's address cannot be."""
    return _act(
        ref,
        lambda _, version: eraser(container()).redact(
            ref,
            version=fields["version"],
            field=fields["field"],
            reason=fields["reason"],
            actor=current_principal().name,
            expected_version=version,
        ),
    )


@blp.get("/tickets/<ref>/preview")
@requires(*HANDLERS)
@blp.arguments(PreviewQuery, location="query", unknown=ma.RAISE)
@blp.response(200, PreviewSchema)
@blp.alt_response(404, response="NOT_FOUND")
def preview(query: dict[str, Any], ref: str) -> dict[str, Any]:
    """What answering this ticket with a canned response would send now, in its language."""
    answer = _workspace().preview(ref, query["template"], current_principal())
    template = answer.template
    return {
        "template": template.slug,
        "template_version": template.version,
        "language": _desk().ticket(ref).language,
        "text": answer.text,
        "resolves": template.text.resolves,
        "complexity": template.text.complexity.value if template.text.complexity else None,
    }
