"""The agent's workspace through the API: owning tickets, internal notes, canned responses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.categories import Category
from domain.status import Status
from domain.ticket import Ticket
from tests.builders import COURSE, caught_up, recorded, submit

Headers = dict[str, str]

RESET = {
    "id": "password-reset",
    "title": "Password reset link",
    "text_ar": "مرحباً {requester_name}، أرسلنا رابط إعادة التعيين لطلبك {reference} ({course}).",
    "text_en": "Hello {requester_name}, we sent a reset link for {reference} ({course}).",
    "reason": "The most frequent request",
}


def token(container: Container, name: str, role: Role) -> Headers:
    return {"Authorization": f"Bearer {container.users.add(name, role)}"}


@pytest.fixture
def sara(container: Container) -> Headers:
    return token(container, "sara", Role.AGENT)


@pytest.fixture
def omar(container: Container) -> Headers:
    return token(container, "omar", Role.AGENT)


@pytest.fixture
def lead(container: Container) -> Headers:
    return token(container, "huda", Role.SUPERVISOR)


def post(client: FlaskClient, url: str, headers: Headers, body: Any = None) -> Any:
    return client.post(f"/api/v1{url}", json={} if body is None else body, headers=headers)


def events_of(container: Container, reference: str) -> list[Ticket.Event]:
    ticket = container.desk.ticket(reference)
    return list(container.desk.events.get(ticket.id))  # type: ignore[arg-type]


# ---- ownership ---------------------------------------------------------------------------------


def test_an_agent_takes_an_unassigned_ticket_and_releases_it(
    client: FlaskClient, container: Container, sara: Headers
) -> None:
    reference = submit(container)
    taken = post(client, f"/tickets/{reference}/take", sara)
    assert taken.status_code == 200
    assert taken.json["owner"] == "sara"
    released = post(client, f"/tickets/{reference}/release", sara)
    assert released.status_code == 200
    assert released.json["owner"] is None
    kinds = [type(e) for e in events_of(container, reference)][-2:]
    assert kinds == [Ticket.Assigned, Ticket.Unassigned]
    assigned, unassigned = events_of(container, reference)[-2:]
    assert (assigned.actor, assigned.assignee) == ("sara", "sara")  # type: ignore[attr-defined]
    assert (unassigned.actor, unassigned.assignee) == ("sara", "sara")  # type: ignore[attr-defined]


def test_an_agent_cannot_take_or_release_a_colleagues_ticket(
    client: FlaskClient, container: Container, sara: Headers, omar: Headers
) -> None:
    reference = submit(container)
    assert post(client, f"/tickets/{reference}/take", sara).status_code == 200
    before = recorded(container)
    taken = post(client, f"/tickets/{reference}/take", omar)
    assert taken.status_code == 409
    assert "sara" in taken.json["detail"]
    assert post(client, f"/tickets/{reference}/release", omar).status_code == 409
    assigned = post(client, f"/tickets/{reference}/assign", omar, {"assignee": "omar"})
    assert assigned.status_code == 409
    elsewhere = post(client, f"/tickets/{reference}/assign", sara, {"assignee": "omar"})
    assert elsewhere.status_code == 403  # only supervisors assign to others
    assert recorded(container) == before
    assert container.desk.ticket(reference).owner == "sara"


def test_a_supervisor_assigns_and_reassigns_to_active_team_members(
    client: FlaskClient, container: Container, sara: Headers, omar: Headers, lead: Headers
) -> None:
    reference = submit(container)
    first = post(client, f"/tickets/{reference}/assign", lead, {"assignee": "sara"})
    assert (first.status_code, first.json["owner"]) == (200, "sara")
    second = post(client, f"/tickets/{reference}/assign", lead, {"assignee": "omar"})
    assert (second.status_code, second.json["owner"]) == (200, "omar")
    released = post(client, f"/tickets/{reference}/release", lead)
    assert (released.status_code, released.json["owner"]) == (200, None)
    assert [type(e).__name__ for e in events_of(container, reference)[-3:]] == [
        "Assigned",
        "Assigned",
        "Unassigned",
    ]
    assert events_of(container, reference)[-1].actor == "huda"


@pytest.mark.parametrize("who", ["nobody", "gone", "auditor-x"])
def test_assigning_to_an_unknown_revoked_or_non_handling_user_is_422(
    client: FlaskClient, container: Container, lead: Headers, who: str
) -> None:
    container.users.add("gone", Role.AGENT)
    container.users.revoke("gone")
    container.users.add("auditor-x", Role.AUDITOR)
    reference = submit(container)
    before = recorded(container)
    answer = post(client, f"/tickets/{reference}/assign", lead, {"assignee": who})
    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert recorded(container) == before


def test_a_resolved_ticket_cannot_be_assigned(
    client: FlaskClient, container: Container, sara: Headers, lead: Headers
) -> None:
    reference = submit(container)
    container.desk.resolve(reference, summary="done", actor="sara")
    before = recorded(container)
    assert post(client, f"/tickets/{reference}/take", sara).status_code == 409
    assigned = post(client, f"/tickets/{reference}/assign", lead, {"assignee": "sara"})
    assert assigned.status_code == 409
    assert recorded(container) == before


def test_ownership_commands_honour_if_match(
    client: FlaskClient, container: Container, sara: Headers
) -> None:
    reference = submit(container)
    version = container.desk.ticket(reference).version
    container.desk.respond(reference, message="hi", actor="omar")
    stale = client.post(
        f"/api/v1/tickets/{reference}/take", json={}, headers=sara | {"If-Match": f'"{version}"'}
    )
    assert stale.status_code == 412
    assert container.desk.ticket(reference).owner is None


@pytest.mark.parametrize("role", [Role.ANALYST, Role.AUDITOR, Role.INTAKE])
def test_other_roles_may_not_use_the_workspace(
    client: FlaskClient, container: Container, bearer: Callable[[Role], Headers], role: Role
) -> None:
    reference = submit(container)
    headers = bearer(role)
    for url, body in (
        ("take", {}),
        ("release", {}),
        ("assign", {"assignee": "sara"}),
        ("notes", {"text": "x"}),
    ):
        assert post(client, f"/tickets/{reference}/{url}", headers, body).status_code == 403
    assert post(client, "/templates", headers, RESET).status_code == 403
    assert client.get("/api/v1/templates", headers=headers).status_code == 403


# ---- notes -----------------------------------------------------------------------------------


def test_a_note_is_recorded_but_is_no_response(
    client: FlaskClient, container: Container, sara: Headers
) -> None:
    reference = submit(container)
    noted = post(client, f"/tickets/{reference}/notes", sara, {"text": "Called the learner"})
    assert noted.status_code == 200
    assert (noted.json["notes"], noted.json["responses"]) == (1, 0)
    assert noted.json["first_responded_at"] is None  # the first-response clock still runs
    ticket = container.desk.ticket(reference)
    assert ticket.status is Status.NEW
    note = events_of(container, reference)[-1]
    assert isinstance(note, Ticket.NoteAdded)
    assert (note.text, note.actor) == ("Called the learner", "sara")


def test_notes_on_a_resolved_ticket_are_kept(
    client: FlaskClient, container: Container, sara: Headers
) -> None:
    reference = submit(container)
    container.desk.resolve(reference, summary="done", actor="sara")
    noted = post(client, f"/tickets/{reference}/notes", sara, {"text": "Root cause: DNS"})
    assert (noted.status_code, noted.json["status"], noted.json["notes"]) == (200, "resolved", 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": ""}, 422),
        ({"text": "   "}, 422),
        ({"text": "x" * 10_001}, 422),
        ({}, 422),
        ({"text": "ok", "extra": 1}, 422),
        ({"text": "bell\x07"}, 422),
        ({"text": "x" * 300_000}, 413),
    ],
)
def test_bad_notes_are_refused_and_change_nothing(
    client: FlaskClient, container: Container, sara: Headers, body: Any, status: int
) -> None:
    reference = submit(container)
    before = recorded(container)
    answer = post(client, f"/tickets/{reference}/notes", sara, body)
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert recorded(container) == before


# ---- canned responses -------------------------------------------------------------------------


def test_a_supervisor_writes_revises_and_retires_a_template_with_reasons(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    created = post(client, "/templates", lead, RESET)
    assert created.status_code == 201
    assert (created.json["id"], created.json["version"]) == ("password-reset", 1)
    assert created.headers["ETag"] == '"1"'
    changed = RESET | {"text_en": "Hi {requester_name}, see the link for {reference}."}
    changed.pop("id")
    revised = client.put(
        "/api/v1/templates/password-reset",
        json=changed | {"reason": "Shorter"},
        headers=lead | {"If-Match": '"1"'},
    )
    assert revised.status_code == 200
    assert revised.json["version"] == 2
    stale = client.put(
        "/api/v1/templates/password-reset",
        json=changed | {"title": "Other", "reason": "x"},
        headers=lead | {"If-Match": '"1"'},
    )
    assert stale.status_code == 412
    caught_up(container)
    listed = client.get("/api/v1/templates", headers=sara).json
    assert [t["id"] for t in listed["items"]] == ["password-reset"]
    assert "reference" in listed["placeholders"]
    retired = post(client, "/templates/password-reset/retire", lead, {"reason": "Replaced"})
    assert (retired.status_code, retired.json["retired"]) == (200, True)
    caught_up(container)
    listed = client.get("/api/v1/templates", headers=sara).json
    assert listed["items"] == []
    with_retired = client.get("/api/v1/templates?retired=true", headers=lead).json
    assert [t["retired"] for t in with_retired["items"]] == [True]
    history = client.get("/api/v1/templates/password-reset/history", headers=lead).json
    assert [(c["type"], c["actor"], c["reason"]) for c in history["changes"]] == [
        ("Created", "huda", "The most frequent request"),
        ("Revised", "huda", "Shorter"),
        ("Retired", "huda", "Replaced"),
    ]


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"text_ar": "مرحباً {name}"}, "unknown placeholder {name}"),
        ({"text_en": "Dear {reference.__class__}"}, "unknown placeholder"),
        ({"text_en": "Due {resolution_due:%Y}"}, "unknown placeholder"),
        ({"text_en": "Due {resolution_due!r}"}, "unknown placeholder"),
        ({"text_en": "A stray { brace"}, "stray brace"),
    ],
)
def test_a_template_naming_an_unknown_placeholder_is_refused_when_saved(
    client: FlaskClient, container: Container, lead: Headers, change: Any, detail: str
) -> None:
    before = recorded(container)
    answer = post(client, "/templates", lead, RESET | change)
    assert answer.status_code == 422
    assert detail in answer.json["detail"]
    assert recorded(container) == before


def test_a_template_id_is_taken_once(
    client: FlaskClient, container: Container, lead: Headers
) -> None:
    assert post(client, "/templates", lead, RESET).status_code == 201
    again = post(client, "/templates", lead, RESET | {"title": "Another"})
    assert again.status_code == 409


def test_an_agent_answers_with_a_template_in_the_tickets_language(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    post(client, "/templates", lead, RESET)
    reference = submit(container)
    preview = client.get(
        f"/api/v1/tickets/{reference}/preview?template=password-reset", headers=sara
    )
    assert preview.status_code == 200
    expected = f"مرحباً Noura، أرسلنا رابط إعادة التعيين لطلبك {reference} ({COURSE})."
    assert (preview.json["language"], preview.json["text"]) == ("ar", expected)
    answered = post(client, f"/tickets/{reference}/respond", sara, {"template": "password-reset"})
    assert answered.status_code == 200
    responded = events_of(container, reference)[-1]
    assert isinstance(responded, Ticket.Responded)
    assert responded.message == preview.json["text"]
    assert (responded.template, responded.template_version) == ("password-reset", 1)


def test_an_agents_edit_of_a_template_is_what_is_sent_and_recorded(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    post(client, "/templates", lead, RESET)
    reference = submit(container)
    body = {"template": "password-reset", "message": "Edited: check your spam folder too."}
    assert post(client, f"/tickets/{reference}/respond", sara, body).status_code == 200
    responded = events_of(container, reference)[-1]
    assert isinstance(responded, Ticket.Responded)
    assert responded.message == "Edited: check your spam folder too."
    assert responded.template == "password-reset"


def test_a_template_that_classifies_and_resolves_does_both_in_one_change(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    macro = RESET | {"id": "certificate-issued", "complexity": "complex", "resolves": True}
    assert post(client, "/templates", lead, macro).status_code == 201
    reference = submit(container, Category.ATTENDANCE_CERTIFICATE)
    before = recorded(container)
    answer = post(client, f"/tickets/{reference}/respond", sara, {"template": "certificate-issued"})
    assert answer.status_code == 200
    assert answer.json["status"] == "resolved"
    assert answer.json["complexity"] == "complex"
    added = events_of(container, reference)[-2:]
    assert [type(e) for e in added] == [Ticket.Classified, Ticket.Resolved]
    assert recorded(container) == before + 2
    assert added[1].template == "certificate-issued"  # type: ignore[attr-defined]


def test_resolve_with_a_template_records_its_text_as_the_summary(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    post(client, "/templates", lead, RESET)
    reference = submit(container)
    answer = post(client, f"/tickets/{reference}/resolve", sara, {"template": "password-reset"})
    assert (answer.status_code, answer.json["status"]) == (200, "resolved")
    resolved = events_of(container, reference)[-1]
    assert isinstance(resolved, Ticket.Resolved)
    assert reference in resolved.summary
    assert (resolved.template, resolved.template_version) == ("password-reset", 1)


@pytest.mark.parametrize("slug", ["no-such-template", "retired-one"])
def test_an_unknown_or_retired_template_is_422_and_changes_nothing(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers, slug: str
) -> None:
    post(client, "/templates", lead, RESET | {"id": "retired-one"})
    post(client, "/templates/retired-one/retire", lead, {"reason": "old"})
    reference = submit(container)
    before = recorded(container)
    for command in ("respond", "resolve"):
        answer = post(client, f"/tickets/{reference}/{command}", sara, {"template": slug})
        assert answer.status_code == 422, command
    preview = client.get(f"/api/v1/tickets/{reference}/preview?template={slug}", headers=sara)
    assert preview.status_code == 422
    assert recorded(container) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"template": "Bad Id"}, {"template": ""}, {"template": 7}, {"message": ""}],
)
def test_respond_needs_a_message_or_a_valid_template_id(
    client: FlaskClient, container: Container, sara: Headers, body: Any
) -> None:
    reference = submit(container)
    answer = post(client, f"/tickets/{reference}/respond", sara, body)
    assert answer.status_code == 422
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_an_unknown_template_reads_404_and_agents_may_not_see_its_history(
    client: FlaskClient, container: Container, lead: Headers, sara: Headers
) -> None:
    assert client.get("/api/v1/templates/nothing", headers=sara).status_code == 404
    post(client, "/templates", lead, RESET)
    assert client.get("/api/v1/templates/password-reset/history", headers=sara).status_code == 403
    read = client.get("/api/v1/templates/password-reset", headers=sara)
    assert (read.status_code, read.headers["ETag"]) == (200, '"1"')
