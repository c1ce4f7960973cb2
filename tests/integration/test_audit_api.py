"""The audit API through Flask's test client, on SQLite and PostgreSQL (P7.1)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from application.audit.history import Audit
from application.bootstrap import Container
from application.users import Role
from domain.reference import Reference
from interfaces.web import create_app
from projections.audit import SealKeeper
from tests.builders import AUDIT_KEY_SETTING, submit_with_replies
from tests.conftest import FakeClock

AUDIT_PATHS = ("/api/v1/tickets/{ref}/history", "/api/v1/audit/", "/api/v1/events")
# Error documents' content type is the API's common concern, checked in test_openapi.py.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(autouse=True)
def audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit key in the environment, as a deployment sets it."""
    monkeypatch.setenv("SUPPORTDESK_AUDIT_KEY", AUDIT_KEY_SETTING)


def bearer(container: Container, name: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {container.users.add(name, role)}"}


def seal(app: Flask) -> None:
    with app.app_context():
        from interfaces.web.services import container

        found: Audit = container().audit
        SealKeeper(found.desk, found.key).catch_up()


def test_history_lists_events_with_hashes_and_local_time(
    client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    response = client.get(
        f"/api/v1/tickets/{reference}/history", headers=bearer(container, "ada", Role.AUDITOR)
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert body["reference"] == reference
    assert [e["type"] for e in body["events"]] == ["Submitted", "Responded", "Responded"]
    assert body["events"][0]["local_instant"] == "2026-11-01T10:00:00+03:00"
    assert body["events"][0]["instant"] == "2026-11-01T07:00:00+00:00"
    assert body["events"][1]["prev_hash"] == body["events"][0]["hash"]
    assert body["events"][2]["data"] == {
        "message": "reply 2",
        "template": None,
        "template_version": None,
    }
    assert body["state_then"] is None


def test_history_as_of_gives_the_state_then(
    client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    headers = bearer(container, "sam", Role.SUPERVISOR)
    response = client.get(
        f"/api/v1/tickets/{reference}/history",
        query_string={"as_of": "2026-11-01T10:30:00+03:00"},
        headers=headers,
    )
    assert response.status_code == 200, response.json
    then = response.json["state_then"]
    assert then["state"]["version"] == 1
    assert then["state"]["status"] == "new"
    assert then["sla"]["first_response"]["state"] == "on_track"
    assert then["sla"]["breached"] is False
    assert len(response.json["events"]) == 1

    by_version = client.get(f"/api/v1/tickets/{reference}/history?version=2", headers=headers).json[
        "state_then"
    ]
    assert by_version["state"]["responses"] == 1
    assert by_version["at"] == "2026-11-01T08:00:00+00:00"

    # An unencoded '+' arrives as a space; the instant still reads.
    raw = client.get(
        f"/api/v1/tickets/{reference}/history?as_of=2026-11-01T11:30:00+03:00", headers=headers
    )
    assert raw.json["state_then"]["state"]["version"] == 2


def test_history_refuses_bad_requests(
    client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    url = f"/api/v1/tickets/{reference}/history"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(container, "al", Role.AGENT)).status_code == 403
    auditor = bearer(container, "ada", Role.AUDITOR)
    missing = client.get("/api/v1/tickets/CM-0000-0000/history", headers=auditor)
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    naive = client.get(url, query_string={"as_of": "2026-11-01T10:30:00"}, headers=auditor)
    assert naive.status_code == 422
    before = client.get(url, query_string={"as_of": "2026-10-01T10:30:00Z"}, headers=auditor)
    assert before.status_code == 404
    for huge in ({"after": 2**63}, {"after": -1}, {"limit": 2**70}):
        answer = client.get("/api/v1/events", query_string=huge, headers=auditor)
        assert answer.status_code == 422, huge


def test_verify_reports_intact_then_names_the_tampered_event(
    app: Flask, client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    other, _ = submit_with_replies(container, clock, 2)
    seal(app)
    auditor = bearer(container, "ada", Role.AUDITOR)
    clean = client.get("/api/v1/audit/verify", headers=auditor).json
    assert clean["intact"] is True
    assert (clean["tickets_checked"], clean["events_checked"]) == (2, 6)

    (position,) = [
        n.id
        for n in container.desk.recorder.select_notifications(None, 100)
        if n.originator_id == Reference.parse(other).ticket_id and n.originator_version == 2
    ]
    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM supportdesk_events WHERE id = :id"), {"id": position})
    report = client.get("/api/v1/audit/verify?only_broken=true", headers=auditor).json
    assert report["intact"] is False
    (broken,) = report["tickets"]
    assert broken["reference"] == other
    assert broken["first_bad"]["version"] == 3
    assert "version 2 is missing" in broken["first_bad"]["reason"]
    one = client.get("/api/v1/audit/verify", query_string={"reference": reference}, headers=auditor)
    assert one.json["intact"] is True
    unknown = client.get("/api/v1/audit/verify?reference=CM-0000-0000", headers=auditor)
    assert unknown.status_code == 404
    assert (
        client.get(
            "/api/v1/audit/verify", headers=bearer(container, "sam", Role.SUPERVISOR)
        ).status_code
        == 403
    )


def test_events_stream_the_log_as_json_lines_resumably(
    client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    for _ in range(3):
        submit_with_replies(container, clock, 2)
    auditor = bearer(container, "ada", Role.AUDITOR)
    response = client.get("/api/v1/events", headers=auditor)
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [e["position"] for e in lines] == list(range(1, 10))
    assert all(len(e["hash"]) == 64 for e in lines)

    first = client.get("/api/v1/events?limit=4", headers=auditor).text.splitlines()
    last_seen = json.loads(first[-1])["position"]
    rest = client.get(f"/api/v1/events?after={last_seen}", headers=auditor).text.splitlines()
    assert [json.loads(line) for line in first + rest] == lines
    assert client.get("/api/v1/events?limit=0", headers=auditor).status_code == 422


def test_every_look_is_in_the_access_log(
    client: FlaskClient, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    auditor = bearer(container, "ada", Role.AUDITOR)
    supervisor = bearer(container, "sam", Role.SUPERVISOR)
    client.get(f"/api/v1/tickets/{reference}/history", headers=auditor)
    clock.advance(minutes=1)
    client.get(f"/api/v1/tickets/{reference}/history?version=1", headers=supervisor)
    client.get("/api/v1/audit/verify", headers=auditor)
    client.get("/api/v1/events?limit=1", headers=auditor).close()

    log = client.get("/api/v1/audit/access-log", headers=supervisor).json
    seen = [(e["actor"], e["action"], e["reference"]) for e in log["entries"]]
    assert seen == [
        ("ada", "history", reference),
        ("sam", "history", reference),
        ("ada", "verify", None),
        ("ada", "events", None),
        ("sam", "access-log", None),
    ]
    assert log["entries"][1]["query"] == "version=1"
    assert log["entries"][0]["at"] == (clock.now - timedelta(minutes=1)).isoformat()
    assert log["entries"][1]["at"] == clock.now.isoformat()
    mine = client.get(
        "/api/v1/audit/access-log", query_string={"reference": reference}, headers=auditor
    ).json
    assert [e["actor"] for e in mine["entries"]] == ["ada", "sam", "ada"]
    later = client.get(
        "/api/v1/audit/access-log", query_string={"after": log["next_after"]}, headers=auditor
    ).json
    assert [e["action"] for e in later["entries"]] == ["access-log", "access-log"]


def test_openapi_documents_the_audit_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in (
        "/api/v1/tickets/{ref}/history",
        "/api/v1/audit/verify",
        "/api/v1/events",
        "/api/v1/audit/access-log",
    ):
        assert path in paths


@pytest.mark.parametrize(
    ("mode", "examples"), [(GenerationMode.POSITIVE, 15), (GenerationMode.NEGATIVE, 10)]
)
def test_audit_api_keeps_to_its_document(
    sqlite_container: Container,
    clock: FakeClock,
    mode: GenerationMode,
    examples: int,
) -> None:
    """Generated requests, valid and invalid, never get a 500 nor an undocumented answer."""
    app = create_app(container=sqlite_container)
    real, _ = submit_with_replies(sqlite_container, clock, 2)
    auditor = bearer(sqlite_container, "ada", Role.AUDITOR)
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The token is supplied by the test, so generated cases must not mutate it away.
    api.config.generation.update(with_security_parameters=False)
    operations = [
        result.ok()
        for result in api.get_all_operations()
        if result.ok().path.startswith(AUDIT_PATHS)
    ]
    assert len(operations) == 4

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def keeps_to_its_document(case: Any) -> None:
            if mode is GenerationMode.POSITIVE and "ref" in (case.path_parameters or {}):
                case.path_parameters["ref"] = real
            case.call_and_validate(headers=auditor, checks=CHECKS)

        keeps_to_its_document()
