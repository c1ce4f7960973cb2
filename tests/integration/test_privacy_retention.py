"""The retention period (P7.3; PDPL: data is destroyed once its purpose has ended): requesters
are erased a set number of days after their last ticket was resolved, unless a hold recorded
on one of their tickets keeps them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.mail.address import address_tag
from application.privacy.retention import ACTOR, Retention
from application.users import Role
from domain.errors import DataHeld, TransitionRefused
from domain.personal import ERASED
from interfaces.cli.privacy import privacy_group
from interfaces.privacy import eraser
from projections.retention import requesters_resolved_before
from tests.builders import caught_up, submit
from tests.conftest import FakeClock

EARLY, HELD, LATE, OPEN = (f"{n}@example.org" for n in ("early", "held", "late", "open"))


def resolved(container: Container, email: str) -> str:
    reference = submit(container, email=email)
    container.desk.resolve(reference, summary="Fixed.", actor="agent.sara")
    return reference


def retention(container: Container, days: int = 30) -> Retention:
    return Retention(
        eraser(container),
        lambda before: requesters_resolved_before(container.engine, before),
        days,
        container.desk.clock,
    )


@pytest.fixture
def requesters(container: Container, clock: FakeClock) -> dict[str, str]:
    """Four requesters: one resolved early, one resolved early but held, one resolved twenty
    days later, one whose second ticket is still open."""
    made = {EARLY: resolved(container, EARLY), HELD: resolved(container, HELD)}
    container.desk.place_hold(made[HELD], reason="dispute over a refund", actor="dpo")
    resolved(container, OPEN)
    made[OPEN] = submit(container, email=OPEN)
    clock.advance(hours=24 * 20)
    made[LATE] = resolved(container, LATE)
    clock.advance(hours=24 * 11)  # 31 days after the first resolutions, 11 after the last
    caught_up(container)
    return made


def test_the_period_erases_whoever_is_past_it_but_the_held(
    container: Container, requesters: dict[str, str]
) -> None:
    report = retention(container).run_once()

    assert [r.requester for r in report.erased] == [address_tag(EARLY)]
    assert report.held == [address_tag(HELD)] and report.failed == []
    early = container.desk.ticket(requesters[EARLY])
    assert early.requester_email == ERASED
    last = container.audit.history(requesters[EARLY])[-1]
    assert last.type == "RequesterDataErased" and last.actor == ACTOR
    assert last.state["basis"] == "retention" and "30 days" in last.state["reason"]
    for kept in (HELD, LATE, OPEN):
        assert container.desk.ticket(requesters[kept]).requester_email == kept


def test_a_hold_keeps_the_data_until_it_is_lifted(
    container: Container, requesters: dict[str, str]
) -> None:
    with pytest.raises(DataHeld):
        eraser(container).erase(HELD, reason="asked", basis="request", actor="dpo")
    assert container.desk.ticket(requesters[HELD]).erased_at is None  # nothing recorded
    with pytest.raises(TransitionRefused):
        container.desk.place_hold(requesters[HELD], reason="again", actor="dpo")

    container.desk.lift_hold(requesters[HELD], reason="the dispute was settled", actor="dpo")
    caught_up(container)
    report = retention(container).run_once()

    assert {r.requester for r in report.erased} == {address_tag(EARLY), address_tag(HELD)}
    types = [r.type for r in container.audit.history(requesters[HELD])]
    assert types[-3:] == ["HoldPlaced", "HoldLifted", "RequesterDataErased"]


def test_the_command_applies_the_period_and_refuses_without_one(
    container: Container, requesters: dict[str, str], cli_env: dict[str, str]
) -> None:
    off = CliRunner().invoke(privacy_group, ["retention"], env=cli_env)
    assert off.exit_code == 1 and "SUPPORTDESK_RETENTION_DAYS" in off.output

    # The command reads today's clock: every ticket above was resolved in the past.
    done = CliRunner().invoke(
        privacy_group, ["retention"], env=cli_env | {"SUPPORTDESK_RETENTION_DAYS": "1"}
    )

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert {r["requester"] for r in report["erased"]} == {address_tag(EARLY), address_tag(LATE)}
    assert report["held"] == [address_tag(HELD)]


def test_holds_are_the_data_protection_officers(
    container: Container, requesters: dict[str, str], client: FlaskClient
) -> None:
    body = {"reference": requesters[LATE], "reason": "a legal case"}
    for role in (Role.AGENT, Role.SUPERVISOR, Role.ANALYST, Role.AUDITOR):
        token = container.users.add(f"x-{role.value}", role)
        answer = client.post(
            "/api/v1/privacy/holds", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403, role
    officer = {"Authorization": f"Bearer {container.users.add('dpo', Role.PRIVACY)}"}

    placed = client.post("/api/v1/privacy/holds", json=body, headers=officer)
    twice = client.post("/api/v1/privacy/holds", json=body, headers=officer)
    erase = client.post(
        "/api/v1/privacy/erase",
        json={"email": LATE, "reason": "asked", "basis": "request"},
        headers=officer,
    )
    lifted = client.post("/api/v1/privacy/holds/lift", json=body, headers=officer)
    unknown = client.post(
        "/api/v1/privacy/holds", json=body | {"reference": "CM-0000-0000"}, headers=officer
    )

    assert placed.status_code == 204 and lifted.status_code == 204
    assert twice.status_code == 409 and erase.status_code == 409
    assert erase.mimetype == "application/problem+json"
    assert unknown.status_code in (404, 422)
    assert container.desk.ticket(requesters[LATE]).hold is None
