"""The agents' command API: roles, commands, ETag/If-Match and errors (DESIGN §6)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.categories import Category
from tests.builders import recorded, submit

HANDLERS = (Role.AGENT, Role.SUPERVISOR)
OTHERS = tuple(role for role in Role if role not in HANDLERS)

COMMANDS: dict[str, dict[str, Any]] = {
    "respond": {"message": "جرّبي إعادة تعيين كلمة المرور من الرابط المرسل."},
    "classify": {"complexity": "complex"},
    "extend": {"resolution_due": "2026-11-30T12:00:00+03:00", "reason": "ننتظر فريق المنصة"},
    "escalate": {"note": "يحتاج قراراً من الإدارة"},
    "forward": {"department": "تجربة المستخدم", "note": "اقتراح جيد"},
    "resolve": {"summary": "أعيد تفعيل الحساب"},
    "reopen": {"reason": "The requester says it still fails"},
}


@pytest.fixture
def agent(bearer: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    return bearer(Role.AGENT)


def ready_for(command: str, container: Container) -> str:
    """A ticket whose state allows `command`."""
    reference = submit(container, Category.SUGGESTION if command == "forward" else Category.LOGIN)
    if command == "reopen":
        container.desk.resolve(reference, summary="done", actor="agent-0")
    return reference


# ---- the role matrix ---------------------------------------------------------------------------


ENDPOINTS = [("GET", None), *(("POST", name) for name in COMMANDS)]


def call(
    client: FlaskClient, method: str, command: str | None, reference: str, **kwargs: Any
) -> Any:
    if command is None:
        return client.get(f"/api/v1/tickets/{reference}", **kwargs)
    return client.post(f"/api/v1/tickets/{reference}/{command}", json=COMMANDS[command], **kwargs)


@pytest.mark.parametrize(("method", "command"), ENDPOINTS)
def test_without_a_token_every_endpoint_answers_401(
    client: FlaskClient, container: Container, method: str, command: str | None
) -> None:
    reference = ready_for(command or "respond", container)
    before = recorded(container)

    for headers in (
        {},
        {"Authorization": "Bearer sd_0000000000000000_nope"},
        {"Authorization": "Basic x"},
    ):
        response = call(client, method, command, reference, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert recorded(container) == before


@pytest.mark.parametrize(("method", "command"), ENDPOINTS)
def test_roles_without_the_right_get_403(
    client: FlaskClient,
    container: Container,
    bearer: Callable[[Role], dict[str, str]],
    method: str,
    command: str | None,
) -> None:
    reference = ready_for(command or "respond", container)
    before = recorded(container)

    for role in OTHERS:
        response = call(client, method, command, reference, headers=bearer(role))
        assert response.status_code == 403, role
        assert response.mimetype == "application/problem+json"
    assert recorded(container) == before


@pytest.mark.parametrize(("method", "command"), ENDPOINTS)
def test_agents_and_supervisors_may_call_every_endpoint(
    client: FlaskClient,
    container: Container,
    bearer: Callable[[Role], dict[str, str]],
    method: str,
    command: str | None,
) -> None:
    for role in HANDLERS:
        reference = ready_for(command or "respond", container)

        response = call(client, method, command, reference, headers=bearer(role))

        assert response.status_code == 200, (role, response.get_json())
        ticket = container.desk.ticket(reference)
        assert response.headers["ETag"] == f'"{ticket.version}"'
        assert response.get_json()["version"] == ticket.version
        if command is not None:
            assert response.get_json()["position"] == recorded(container)
            last = list(container.desk.events.get(ticket.id))[-1]
            assert last.actor == f"{role.value}-1"  # the token's user, never a request field


# ---- what each command does --------------------------------------------------------------------


def test_read_shows_the_ticket_for_agents(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container, email="learner@example.com")

    body = client.get(f"/api/v1/tickets/{reference.lower()}", headers=agent).get_json()

    assert body["reference"] == reference
    assert body["requester_email"] == "learner@example.com"
    assert body["status"] == "new"
    assert body["complexity"] == "simple"
    assert body["acknowledged"] is False
    assert body["escalations"] == []
    assert body["version"] == 1


def test_respond_then_resolve_then_reopen(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}"

    responded = client.post(f"{url}/respond", json=COMMANDS["respond"], headers=agent)
    resolved = client.post(f"{url}/resolve", json=COMMANDS["resolve"], headers=agent)
    reopened = client.post(f"{url}/reopen", json=COMMANDS["reopen"], headers=agent)

    assert responded.get_json()["status"] == "in_progress"
    assert responded.get_json()["responses"] == 1
    assert resolved.get_json()["status"] == "resolved"
    assert resolved.get_json()["resolution_summary"] == "أعيد تفعيل الحساب"
    assert reopened.get_json()["status"] == "in_progress"
    positions = [r.get_json()["position"] for r in (responded, resolved, reopened)]
    assert positions == sorted(positions) and len(set(positions)) == 3


def test_classify_extend_escalate_change_the_ticket(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}"
    simple_due = container.desk.ticket(reference).resolution_due

    classified = client.post(f"{url}/classify", json=COMMANDS["classify"], headers=agent)
    extended = client.post(f"{url}/extend", json=COMMANDS["extend"], headers=agent)
    escalated = client.post(f"{url}/escalate", json={}, headers=agent)

    assert classified.get_json()["complexity"] == "complex"
    assert datetime.fromisoformat(classified.get_json()["resolution_due"]) > simple_due
    promised = datetime.fromisoformat(COMMANDS["extend"]["resolution_due"])
    assert datetime.fromisoformat(extended.get_json()["resolution_due"]) == promised
    assert extended.get_json()["extensions"] == 1
    [escalation] = escalated.get_json()["escalations"]
    assert escalation["reason"] == "agent"
    assert escalation["level"] == "supervisory_management"
    assert escalation["actor"] == "agent-1"


def test_forward_refers_a_suggestion(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container, Category.SUGGESTION)

    response = client.post(
        f"/api/v1/tickets/{reference}/forward", json=COMMANDS["forward"], headers=agent
    )

    assert response.get_json()["status"] == "forwarded_to_management"
    assert response.get_json()["forwarded_to"] == "تجربة المستخدم"


# ---- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "body"),
    [
        ("respond", COMMANDS["respond"]),
        ("resolve", COMMANDS["resolve"]),
        ("classify", COMMANDS["classify"]),
    ],
)
def test_state_that_forbids_a_command_gives_409(
    client: FlaskClient,
    container: Container,
    agent: dict[str, str],
    command: str,
    body: dict[str, Any],
) -> None:
    reference = submit(container)
    container.desk.resolve(reference, summary="done", actor="agent-0")
    before = recorded(container)

    response = client.post(f"/api/v1/tickets/{reference}/{command}", json=body, headers=agent)

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert "resolved" in response.get_json()["detail"]
    assert recorded(container) == before


def test_forwarding_a_non_suggestion_and_reopening_an_open_ticket_give_409(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}"

    assert client.post(f"{url}/forward", json=COMMANDS["forward"], headers=agent).status_code == 409
    assert client.post(f"{url}/reopen", json=COMMANDS["reopen"], headers=agent).status_code == 409
    assert recorded(container) == 1


@pytest.mark.parametrize(("method", "command"), ENDPOINTS)
def test_unknown_reference_gives_404(
    client: FlaskClient,
    container: Container,
    agent: dict[str, str],
    method: str,
    command: str | None,
) -> None:
    for reference in ("CM-0000-0000", "CM-ZZZZ-ZZZZ", "nothing-like-it"):
        response = call(client, method, command, reference, headers=agent)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"
    assert recorded(container) == 0


def test_extension_earlier_than_the_deadline_gives_422(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)

    response = client.post(
        f"/api/v1/tickets/{reference}/extend",
        json={"resolution_due": "2026-11-01T12:00:00+03:00", "reason": "سبب"},
        headers=agent,
    )

    assert response.status_code == 422
    assert recorded(container) == 1


@pytest.mark.parametrize(
    ("command", "body", "field"),
    [
        ("respond", {}, "message"),
        ("respond", {"message": "hi", "actor": "someone-else"}, "actor"),
        ("respond", {"message": "\x00"}, "message"),
        ("classify", {"complexity": "medium"}, "complexity"),
        ("extend", {"resolution_due": "2026-11-30T12:00:00", "reason": "r"}, "resolution_due"),
        ("extend", {"resolution_due": "soon", "reason": "r"}, "resolution_due"),
        ("escalate", {"reason": "first_response_overdue"}, "reason"),
        ("forward", {"department": "x" * 201, "note": "n"}, "department"),
        ("resolve", {"summary": ["a"]}, "summary"),
        ("reopen", {"reason": ""}, "reason"),
    ],
)
def test_invalid_command_bodies_give_422_with_the_field(
    client: FlaskClient,
    container: Container,
    agent: dict[str, str],
    command: str,
    body: dict[str, Any],
    field: str,
) -> None:
    reference = ready_for(command, container)
    before = recorded(container)

    response = client.post(f"/api/v1/tickets/{reference}/{command}", json=body, headers=agent)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    assert recorded(container) == before


def test_wrong_content_type_and_broken_json_are_refused(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}/respond"

    assert client.post(url, data="message=hi", headers=agent).status_code == 415
    assert (
        client.post(url, data="{", content_type="application/json", headers=agent).status_code
        == 400
    )
    assert recorded(container) == 1


# ---- ETag and If-Match -------------------------------------------------------------------------


def test_if_match_with_the_current_etag_is_carried_out(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    etag = client.get(f"/api/v1/tickets/{reference}", headers=agent).headers["ETag"]

    response = client.post(
        f"/api/v1/tickets/{reference}/respond",
        json=COMMANDS["respond"],
        headers={**agent, "If-Match": etag},
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == '"2"'


def test_stale_if_match_gives_412_and_records_nothing(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    etag = client.get(f"/api/v1/tickets/{reference}", headers=agent).headers["ETag"]
    container.desk.respond(reference, message="someone else answered", actor="agent-0")
    before = recorded(container)

    for stale in (etag, '"not-a-version"', 'W/"2"'):
        response = client.post(
            f"/api/v1/tickets/{reference}/resolve",
            json=COMMANDS["resolve"],
            headers={**agent, "If-Match": stale},
        )
        assert response.status_code == 412
        assert response.mimetype == "application/problem+json"
    assert recorded(container) == before
    assert container.desk.ticket(reference).status.value == "in_progress"


def test_if_match_star_and_lists_are_understood(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}/respond"

    star = client.post(url, json=COMMANDS["respond"], headers={**agent, "If-Match": "*"})
    listed = client.post(url, json=COMMANDS["respond"], headers={**agent, "If-Match": '"1", "2"'})

    assert star.status_code == listed.status_code == 200
    assert listed.headers["ETag"] == '"3"'


def test_if_none_match_with_the_current_etag_gives_304(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    reference = submit(container)
    url = f"/api/v1/tickets/{reference}"
    etag = client.get(url, headers=agent).headers["ETag"]

    assert client.get(url, headers={**agent, "If-None-Match": etag}).status_code == 304
