"""A learner's copy of their data (right of access and portability; P7.1, P7.3): every event of
their tickets with the hashes the record verifies, and a readable bilingual summary."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.chain import GENESIS
from interfaces.cli.privacy import privacy_group
from projections.audit import SealKeeper
from tests.builders import LEARNER, submit
from tests.conftest import FakeClock

NOTE = "Learner sounded upset; check the payment gateway logs"
OTHER = "someone.else@example.org"


@pytest.fixture
def tickets(container: Container, clock: FakeClock) -> list[str]:
    """Two tickets of the learner (one answered, noted and resolved) and one of someone else."""
    first = submit(container, email=LEARNER)
    clock.advance(hours=1)
    container.desk.respond(first, message="Please clear your cookies.", actor="agent.sara")
    container.desk.add_note(first, text=NOTE, actor="agent.sara")
    container.desk.resolve(first, summary="Signed in after clearing cookies.", actor="agent.sara")
    clock.advance(hours=1)
    second = submit(container, email=LEARNER)
    submit(container, email=OTHER)
    return [first, second]


def checked(entry: dict[str, Any]) -> bool:
    """Whether an exported event's hash is the SHA-256 of the text given as hashed, and that
    text holds the event's data (instants in UTC)."""
    hashed = entry["hashed"]
    document = json.loads(hashed)
    state = document["state"]
    sealed = entry.get("sealed", [])
    same_data = all(
        state[k] == (_utc(v) if isinstance(v, str) and _is_instant(v) else v)
        for k, v in entry["data"].items()
        if k not in sealed
    ) and all(state[k].startswith("sealed:1:") and entry["data"][k] for k in sealed)
    return (
        hashlib.sha256(hashed.encode("utf-8")).hexdigest() == entry["hash"]
        and document["type"].endswith(entry["type"])
        and state["prev_hash"] == entry["prev_hash"]
        and same_data
    )


def _is_instant(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _utc(text: str) -> str:
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def test_the_copy_holds_every_event_of_the_learners_tickets_and_each_hash_checks_out(
    container: Container, tickets: list[str], cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(privacy_group, ["export", LEARNER.upper()], env=cli_env)
    assert result.exit_code == 0, result.output

    header, *events = [json.loads(line) for line in result.stdout.splitlines()]
    assert header["format"] == "supportdesk.requester-copy/1"
    assert [t["reference"] for t in header["tickets"]] == tickets  # theirs only, oldest first
    for ticket in header["tickets"]:
        mine = [e for e in events if e["reference"] == ticket["reference"]]
        stored = container.audit.history(ticket["reference"])
        assert [e["hash"] for e in mine] == [r.stored_hash for r in stored]
        assert mine[0]["prev_hash"] == GENESIS
        assert mine[0]["sealed"] == ["description", "requester_email", "requester_name", "subject"]
        for before, after in zip(mine, mine[1:], strict=False):
            assert after["prev_hash"] == before["hash"]  # the chain links, notes included
        assert mine[-1]["hash"] == ticket["head"]
        for entry in mine:
            if entry.get("withheld"):
                assert entry["type"] == "NoteAdded" and entry["data"] is None
            else:
                assert checked(entry), entry["type"]
    SealKeeper(container.desk, container.audit_key).catch_up()
    assert container.audit.verify().intact  # the record the copy was checked against
    assert NOTE not in result.stdout and OTHER not in result.stdout


def test_the_summary_is_arabic_first_then_english_and_keeps_internal_notes_out(
    container: Container, tickets: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    written = tmp_path / "copy.txt"
    result = CliRunner().invoke(
        privacy_group, ["export", LEARNER, "--summary", str(written)], env=cli_env
    )
    assert result.exit_code == 0, result.output

    text = written.read_text(encoding="utf-8")
    arabic, english = text.split("-" * 40)
    assert "نسخة من بيانات طلبات الدعم الفني" in arabic and "A copy of your" in english
    for part in (arabic, english):
        assert all(reference in part for reference in tickets)
        assert "Please clear your cookies." in part and "Cannot sign in" in part
        assert NOTE not in part
    assert "استلمنا طلبك" in arabic and "Your request was received" in english
    assert "بتوقيت الرياض" in arabic and "Riyadh time" in english


def test_an_address_with_no_tickets_gets_an_empty_copy(
    container: Container, tickets: list[str], cli_env: dict[str, str], tmp_path: Path
) -> None:
    written = tmp_path / "copy.txt"
    result = CliRunner().invoke(
        privacy_group, ["export", "nobody@example.org", "--summary", str(written)], env=cli_env
    )
    (header,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert header["tickets"] == []
    assert "No request is recorded for this address." in written.read_text(encoding="utf-8")


def test_only_the_data_protection_officer_may_ask_and_each_copy_is_on_the_access_log(
    container: Container, tickets: list[str], client: FlaskClient
) -> None:
    body = {"email": LEARNER}
    for role in (Role.AGENT, Role.SUPERVISOR, Role.ANALYST, Role.AUDITOR, Role.INTAKE):
        token = container.users.add(f"x-{role.value}", role)
        answer = client.post(
            "/api/v1/privacy/export", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403, role
    officer = {"Authorization": f"Bearer {container.users.add('dpo', Role.PRIVACY)}"}

    copy = client.post("/api/v1/privacy/export", json=body, headers=officer)
    text = client.post("/api/v1/privacy/export/summary", json=body, headers=officer)
    bad = client.post("/api/v1/privacy/export", json={"email": "not an address"}, headers=officer)

    assert copy.status_code == 200 and copy.mimetype == "application/x-ndjson"
    header = json.loads(copy.get_data(as_text=True).splitlines()[0])
    assert [t["reference"] for t in header["tickets"]] == tickets
    assert text.status_code == 200 and text.mimetype == "text/plain"
    assert "Cannot sign in" in text.get_data(as_text=True)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    logged = [e for e in container.access_log.entries(limit=100) if e.actor == "dpo"]
    # Each copy made, naming the address by its tag only; the refused request made none.
    assert [e.action for e in logged] == ["privacy-export", "privacy-summary"]
    assert all(LEARNER not in e.query and e.query.startswith("mailbox-") for e in logged)


def test_the_command_refuses_what_is_not_an_address(
    container: Container, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(privacy_group, ["export", "not an address"], env=cli_env)
    assert result.exit_code == 2 and "EMAIL" in result.output
