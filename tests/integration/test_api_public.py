"""The public endpoints: submit, status, follow-up (P1.2, P3, P6.1), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.bootstrap import Container
from interfaces.web.ratelimit import LIMIT_KEY
from tests.builders import API_REQUEST, recorded
from tests.builders import submit_by_api as submit

# ---- submit ------------------------------------------------------------------------------------


def test_submit_answers_reference_and_due_instants(
    client: FlaskClient, container: Container
) -> None:
    response = submit(client)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {
        "reference",
        "status",
        "submitted_at",
        "first_response_due",
        "resolution_due",
        "position",
        "files",
        "refused",
    }
    assert body["files"] == body["refused"] == []
    ticket = container.desk.ticket(body["reference"])
    assert body["status"] == "new"
    assert body["position"] == recorded(container)
    assert ticket.channel.value == "web_form"
    assert ticket.requester_email == "learner@example.com"
    assert ticket.requester_name == "سارة"
    assert ticket.course == "مقدمة في البرمجة"
    # Submitted on a Sunday at 10:00 Riyadh: 24 business hours later is Wednesday 10:00 (P5.1).
    assert body["first_response_due"] == "2026-11-04T10:00:00+03:00"


def test_submit_defaults_language_to_arabic_and_accepts_english(
    client: FlaskClient, container: Container
) -> None:
    without = {k: v for k, v in API_REQUEST.items() if k not in ("language", "name")}
    arabic = submit(client, without).get_json()["reference"]
    english = submit(client, {**without, "language": "en"}).get_json()["reference"]

    assert container.desk.ticket(arabic).language == "ar"
    assert container.desk.ticket(english).language == "en"
    assert container.desk.ticket(arabic).requester_name is None


def test_retried_submit_with_same_key_returns_first_answer_and_records_nothing(
    client: FlaskClient, container: Container
) -> None:
    first = submit(client, **{"Idempotency-Key": "retry-7f3a"})
    before = recorded(container)

    again = submit(client, **{"Idempotency-Key": "retry-7f3a"})

    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert recorded(container) == before


def test_same_key_with_a_different_body_is_refused(
    client: FlaskClient, container: Container
) -> None:
    submit(client, **{"Idempotency-Key": "k-1"})
    before = recorded(container)

    response = submit(client, {**API_REQUEST, "subject": "شيء آخر"}, **{"Idempotency-Key": "k-1"})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert recorded(container) == before


def test_different_keys_record_different_tickets(client: FlaskClient) -> None:
    one = submit(client, **{"Idempotency-Key": "a"}).get_json()["reference"]
    two = submit(client, **{"Idempotency-Key": "b"}).get_json()["reference"]
    assert one != two


def test_a_key_whose_request_was_refused_stays_free(
    client: FlaskClient, container: Container
) -> None:
    bad = submit(client, {**API_REQUEST, "email": "not-an-email"}, **{"Idempotency-Key": "k-2"})
    good = submit(client, **{"Idempotency-Key": "k-2"})

    assert bad.status_code == 422
    assert good.status_code == 201
    assert recorded(container) == 1


# ---- refused requests: 4xx, a problem document, nothing recorded -------------------------------


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"email": "learner@"}, "email", "Enter a valid email address."),
        ({"email": "two@@example.com"}, "email", "Enter a valid email address."),
        ({"category": "billing"}, "category", "Choose one of the listed categories."),
        ({"language": "fr"}, "language", "Choose ar or en."),
        ({"subject": "a\x00b"}, "subject", "Control characters are not allowed."),
        ({"subject": "line\nbreak"}, "subject", "Control characters are not allowed."),
        ({"description": "bell\x07"}, "description", "Control characters are not allowed."),
        ({"description": "\ud800"}, "description", "Control characters are not allowed."),
        ({"subject": "x" * 201}, "subject", "Must be at most 200 characters."),
        ({"description": "x" * 10_001}, "description", "Must be at most 10000 characters."),
        ({"course": "   "}, "course", "This field must not be empty."),
        ({"subject": 42}, "subject", "Not a valid string."),
        ({"description": None}, "description", "Field may not be null."),
        ({"actor": "mallory"}, "actor", "Unknown field."),
    ],
)
def test_invalid_fields_are_refused_with_field_details(
    client: FlaskClient,
    container: Container,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    response = submit(client, {**API_REQUEST, "language": "en", **change})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422
    assert problem["errors"][field] == [message]
    assert recorded(container) == 0


def test_missing_fields_are_each_named(client: FlaskClient, container: Container) -> None:
    response = client.post("/api/v1/tickets", json={"email": "learner@example.com"})

    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"category", "course", "subject", "description"}
    assert recorded(container) == 0


def test_arabic_request_gets_arabic_title_detail_and_field_errors(client: FlaskClient) -> None:
    response = submit(client, {**API_REQUEST, "email": "x", "language": "ar"})

    problem = response.get_json()
    assert problem["title"] == "بيانات الطلب غير صالحة"
    assert problem["title_en"] == "Unprocessable Entity"
    assert problem["detail"] == "بعض الحقول غير صالحة؛ انظر قائمة الأخطاء."
    assert problem["detail_en"] == "Some fields are not valid; see errors."
    assert problem["errors"]["email"] == ["أدخل بريداً إلكترونياً صحيحاً."]


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"email": ', "application/json", 400),
        ("[" * 50_000, "application/json", 400),  # nested beyond the parser's recursion
        ('{"n": ' + "9" * 5000 + "}", "application/json", 400),  # beyond int digit limit
        (b"\xff\xfe{}", "application/json", 400),
        ("email=a@b.c", "application/x-www-form-urlencoded", 415),
        ("<ticket/>", "application/xml", 415),
        ('"just a string"', "application/json", 422),
        ("[]", "application/json", 422),
        ("null", "application/json", 422),
    ],
)
def test_unreadable_bodies_are_refused(
    client: FlaskClient, container: Container, data: str | bytes, content_type: str, status: int
) -> None:
    response = client.post("/api/v1/tickets", data=data, content_type=content_type)

    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert recorded(container) == 0


def test_oversized_body_is_refused(client: FlaskClient, container: Container) -> None:
    response = submit(client, {**API_REQUEST, "description": "x" * 300_000})

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    assert recorded(container) == 0


def test_malformed_idempotency_key_is_refused(client: FlaskClient, container: Container) -> None:
    response = submit(client, **{"Idempotency-Key": "x" * 256})

    assert response.status_code == 422
    assert "Idempotency-Key" in response.get_json()["errors"]
    assert recorded(container) == 0


# ---- status ------------------------------------------------------------------------------------


def test_status_answers_the_requester_with_nothing_internal(client: FlaskClient) -> None:
    reference = submit(client).get_json()["reference"]

    response = client.post(
        "/api/v1/status", json={"reference": reference.lower(), "email": "LEARNER@example.com"}
    )

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {
        "reference",
        "status",
        "submitted_at",
        "first_response_due",
        "resolution_due",
    }
    assert body["reference"] == reference
    assert body["status"] == "new"


def test_unknown_reference_and_wrong_email_get_one_identical_answer(client: FlaskClient) -> None:
    reference = submit(client).get_json()["reference"]

    wrong_email = client.post(
        "/api/v1/status", json={"reference": reference, "email": "other@example.com"}
    )
    unknown = client.post(
        "/api/v1/status", json={"reference": "CM-0000-0000", "email": "learner@example.com"}
    )
    mistyped = client.post(
        "/api/v1/status", json={"reference": "CM-ZZZZ-ZZZZ", "email": "learner@example.com"}
    )

    assert wrong_email.status_code == unknown.status_code == mistyped.status_code == 404
    assert wrong_email.data == unknown.data == mistyped.data
    assert wrong_email.headers["Content-Type"] == unknown.headers["Content-Type"]


# ---- follow-up ---------------------------------------------------------------------------------


def test_follow_up_from_the_requester_is_recorded(
    client: FlaskClient, container: Container
) -> None:
    reference = submit(client).get_json()["reference"]

    response = client.post(
        f"/api/v1/tickets/{reference}/follow-up",
        json={"email": "learner@example.com", "message": "ما زالت المشكلة قائمة.\nشكراً"},
    )

    assert response.status_code == 201
    assert response.get_json()["reference"] == reference
    ticket = container.desk.ticket(reference)
    assert ticket.follow_ups == 1
    events = list(container.desk.events.get(ticket.id))
    assert type(events[-1]).__name__ == "FollowUpReceived"
    assert events[-1].actor == "requester"


def test_follow_up_from_another_email_gets_the_unknown_answer(
    client: FlaskClient, container: Container
) -> None:
    reference = submit(client).get_json()["reference"]
    before = recorded(container)

    stranger = client.post(
        f"/api/v1/tickets/{reference}/follow-up",
        json={"email": "stranger@example.com", "message": "hello"},
    )
    unknown = client.post(
        "/api/v1/tickets/CM-0000-0000/follow-up",
        json={"email": "learner@example.com", "message": "hello"},
    )

    assert stranger.status_code == unknown.status_code == 404
    assert stranger.get_json() | {"instance": ""} == unknown.get_json() | {"instance": ""}
    assert recorded(container) == before


# ---- rate limit --------------------------------------------------------------------------------


def test_public_endpoints_are_rate_limited_per_client(app: Flask, container: Container) -> None:
    app.config[LIMIT_KEY] = "2/minute"
    client = app.test_client()

    assert submit(client).status_code == 201
    assert client.post("/api/v1/status", json={}).status_code == 422
    limited = submit(client)

    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0
    assert recorded(container) == 1
    elsewhere = client.post(
        "/api/v1/tickets", json=API_REQUEST, environ_base={"REMOTE_ADDR": "192.0.2.9"}
    )
    assert elsewhere.status_code == 201


def test_raising_the_limit_lets_more_through(app: Flask) -> None:
    app.config[LIMIT_KEY] = "100/minute"
    client = app.test_client()
    answers = {client.post("/api/v1/status", json={}).status_code for _ in range(40)}
    assert answers == {422}
