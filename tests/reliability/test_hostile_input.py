"""Hostile input: never a 500, never a crash, never markup where it is rendered (P1, P7).

A corpus of nasty text (SQL and header injection, markup and template syntax, NUL and other
controls, lone surrogates, Arabic with bidi controls, oversized text) is put into every text
field of every command, on SQLite and PostgreSQL. What is accepted is stored exactly; what is
refused gets a problem document; what is rendered, in emails and in the form, is escaped.
"""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from application.bootstrap import Container
from application.mail.message import MAX_MESSAGE_BYTES
from application.users import Role
from interfaces.web import create_app
from tests.builders import caught_up, send_mail, without_limits

# An expected time an extension may move to: later than any due instant, within a year.
LATER = (datetime.now(UTC) + timedelta(days=90)).isoformat()
SQL = [
    "'; DROP TABLE supportdesk_events; --",
    '" OR "1"="1',
    "x' UNION SELECT token_hash FROM supportdesk_users --",
    "1; SELECT pg_sleep(10)",
]
HEADERS = ["Help\r\nBcc: everyone@example.org", "Help\nX-Injected: yes", "Help\rBcc: x@example.org"]
MARKUP = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    '<a href="javascript:alert(1)">click</a>',
    "</textarea><svg onload=alert(1)>",
    "{{ 7 * 7 }} {% if true %}x{% endif %} ${7*7}",
]
CONTROL = [
    "nul\x00byte",
    "escape \x1b[31mred\x1b[0m",
    "bell\x07",
    "del\x7f",
    "lone \ud800 surrogate",
]
ARABIC = [
    "لا أستطيع الدخول \u202eإلى الحساب\u202c",  # right-to-left override, popped
    "الدورة \u2067Python 101\u2069 المستوى \u200fالأول\u200e",  # isolates and marks
    "\u202dمعكوس\u202a\u202b\u061c علامة",  # embeddings and the Arabic letter mark
    "zero\u200bwidth\ufeffjoiner\u200d",
]
BIG = ["x" * 10_001, "ب" * 100_000]
CORPUS = SQL + HEADERS + MARKUP + CONTROL + ARABIC + BIG + ["", "   ", "🧪" * 50]

# What an answer to hostile input may be; never 500.
FINE = {200, 201, 400, 404, 409, 413, 415, 422}


@pytest.fixture
def app(app: Flask) -> Flask:
    return without_limits(app)


def submission(**changes: Any) -> dict[str, Any]:
    return {
        "email": "learner@example.org",
        "category": "suggestion",
        "course": "Python 101",
        "subject": "Cannot sign in",
        "description": "The password is refused.",
        "language": "en",
        "name": "Noura",
    } | changes


def checked(answer: Any) -> Any:
    """An answer to hostile input: a known status, and a problem document when refused."""
    assert answer.status_code in FINE, (answer.status_code, answer.get_data(as_text=True)[:300])
    if answer.status_code >= 400:
        assert answer.mimetype == "application/problem+json", answer.get_data(as_text=True)[:300]
    return answer


def stored_text(text: str) -> str:
    """What the desk keeps of accepted text: the text, trimmed."""
    return text.strip()


def test_every_text_field_of_a_submission_takes_the_corpus_without_a_500(
    client: FlaskClient, container: Container
) -> None:
    accepted = 0
    for field in ("course", "subject", "description", "name", "email"):
        for text in CORPUS:
            answer = checked(client.post("/api/v1/tickets", json=submission(**{field: text})))
            if answer.status_code == 201:
                accepted += 1
                ticket = container.desk.ticket(answer.get_json()["reference"])
                kept = {
                    "course": ticket.course,
                    "subject": ticket.subject,
                    "description": ticket.description,
                    "name": ticket.requester_name or "",  # an empty name is no name
                    "email": ticket.requester_email,
                }
                assert kept[field] == stored_text(text)
            else:
                assert answer.status_code in (413, 422), answer.status_code
    assert accepted >= len(SQL + MARKUP + ARABIC) * 4  # the nasty but harmless is kept as is


def test_every_text_field_of_every_command_takes_the_corpus_without_a_500(
    client: FlaskClient, container: Container
) -> None:
    token = container.users.add("nora", Role.AGENT)
    agent = {"Authorization": f"Bearer {token}"}
    ref = client.post("/api/v1/tickets", json=submission()).get_json()["reference"]
    commands = [
        ("respond", "message", {}),
        ("escalate", "note", {}),
        ("extend", "reason", {"resolution_due": LATER}),
        ("forward", "department", {"note": "n"}),
        ("forward", "note", {"department": "d"}),
        ("resolve", "summary", {}),
        ("reopen", "reason", {}),
    ]
    for command, field, rest in commands:
        for text in CORPUS:
            answer = checked(
                client.post(
                    f"/api/v1/tickets/{ref}/{command}", json={field: text, **rest}, headers=agent
                )
            )
            if answer.status_code == 200:
                event = container.desk.events.get(container.desk.ticket(ref).id)
                assert getattr(list(event)[-1], field) == stored_text(text)
    for text in CORPUS:
        checked(
            client.post(
                f"/api/v1/tickets/{ref}/follow-up",
                json={"email": "learner@example.org", "message": text},
            )
        )
        checked(client.post("/api/v1/status", json={"reference": text, "email": "a@example.org"}))


def test_unreadable_bodies_paths_and_queries_are_refused_without_a_500(
    app: Flask, client: FlaskClient, container: Container
) -> None:
    tokens = {role.value: container.users.add(f"user-{role.value}", role) for role in Role}
    ref = client.post("/api/v1/tickets", json=submission()).get_json()["reference"]
    # Each route is called as a role it serves, so the input reaches past authentication.
    bodies: list[tuple[bytes, str]] = [
        (b'{"email": "\xff\xfe@example.org", "subject": "\xc3\x28"}', "application/json"),
        (b"\x00" * 64, "application/json"),
        (b'{"subject": "' + b"\\u0000" * 10 + b'"}', "application/json"),
        (b"[" * 100_000, "application/json"),
        (b'{"a": 1}' + b"\xff", "application/json"),
        (b"email=%FF%FE&subject=%00", "application/x-www-form-urlencoded"),
        (b"<xml/>", "application/xml"),
    ]
    weird_segments = ["%00", "%FF%FE", "%E2%80%AE", "..%2F..%2Fetc%2Fpasswd", "CM-" + "A" * 5000]
    weird_queries = ["?after=%00", "?reference=%00", "?actor=%00%FF", "?as_of=%00", "?lang=%00"]
    answers = 0
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/static", "/api/docs", "/support/static")):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths = [rule.rule.replace("<ref>", segment) for segment in weird_segments]
            paths += [rule.rule.replace("<ref>", ref) + query for query in weird_queries]
            roles = getattr(app.view_functions[rule.endpoint], "_supportdesk_roles", None)
            headers = {"Authorization": f"Bearer {tokens[roles[0]]}"} if roles else {}
            for path in paths:
                for body, media_type in bodies if method == "POST" else [(b"", "")]:
                    answer = client.open(
                        path,
                        method=method,
                        data=body,
                        headers=headers | ({"Content-Type": media_type} if media_type else {}),
                    )
                    text = answer.get_data(as_text=True)  # a streamed answer, read to its end
                    answer.close()
                    assert answer.status_code < 500, (method, path, answer.status_code, text[:300])
                    answers += 1
    assert answers > 500
    print(f"\n{answers} requests with unreadable bodies, paths or queries: no 500")


def test_oversized_requests_are_refused_with_413(client: FlaskClient, container: Container) -> None:
    huge = submission(description="x" * 300_000)
    answer = checked(client.post("/api/v1/tickets", json=huge))
    assert answer.status_code == 413
    token = client.get("/support")
    form = client.post(
        "/support", data={"description": "x" * 300_000, "csrf_token": csrf_token_of(token)}
    )
    assert form.status_code == 413 and form.mimetype == "text/html"
    intake = container.users.add("mta", Role.INTAKE)
    mail = client.post(
        "/api/v1/inbound/email",
        data=b"Subject: big\r\n\r\n" + b"x" * MAX_MESSAGE_BYTES,
        headers={"Authorization": f"Bearer {intake}", "Content-Type": "message/rfc822"},
    )
    assert mail.status_code == 413 and mail.mimetype == "application/problem+json"


# ---- markup where it is rendered ---------------------------------------------------------------


def csrf_token_of(page: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:500]
    return found.group(1)


def assert_escaped(html: str, texts: list[str]) -> None:
    """Each text is in the page escaped, and never as markup (template syntax stays literal)."""
    for text in texts:
        escaped = str(escape(text))
        assert escaped in html, text
        assert escaped == text or text not in html, text


def test_the_support_form_gives_back_what_was_typed_escaped(client: FlaskClient) -> None:
    for lang in ("", "?lang=en"):
        page = client.get(f"/support{lang}")
        typed = {
            "name": MARKUP[0],
            "email": "not an address " + MARKUP[1],
            "category": "login",
            "course": MARKUP[2],
            "subject": MARKUP[3],
            "description": MARKUP[4] + "\n" + MARKUP[0],
        }
        refused = client.post(f"/support{lang}", data=typed | {"csrf_token": csrf_token_of(page)})
        assert refused.status_code == 422
        html = refused.get_data(as_text=True)
        assert_escaped(html, [typed[name] for name in ("name", "email", "course", "subject")])
        assert re.search(r"<(script|img|svg)\b", html) is None
        status = client.post(
            f"/support/status{lang}",
            data={
                "reference": MARKUP[1],
                "email": "a@example.org",
                "csrf_token": csrf_token_of(page),
            },
        )
        assert status.status_code in (404, 422)
        assert MARKUP[1] not in status.get_data(as_text=True)


def test_markup_in_every_text_reaches_every_email_escaped(
    client: FlaskClient, container: Container, tmp_path: Path
) -> None:
    """Through the real relay and mailer (in-process broker, `.eml` files), every email kind."""
    token = container.users.add("nora", Role.AGENT)
    agent = {"Authorization": f"Bearer {token}"}
    marked = {
        "name": MARKUP[0],
        "course": MARKUP[1],
        "subject": MARKUP[2],
        "description": MARKUP[3],
    }
    ref = client.post("/api/v1/tickets", json=submission(**marked)).get_json()["reference"]
    texts = list(marked.values())
    for command, body in [
        ("respond", {"message": MARKUP[0] + " 1"}),
        ("extend", {"resolution_due": LATER, "reason": MARKUP[1] + " 2"}),
        ("escalate", {"note": MARKUP[2] + " 3"}),
        ("forward", {"department": MARKUP[3] + " 4", "note": MARKUP[4] + " 5"}),
        ("resolve", {"summary": MARKUP[0] + " 6"}),
    ]:
        answer = client.post(f"/api/v1/tickets/{ref}/{command}", json=body, headers=agent)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        texts += [value for key, value in body.items() if key != "resolution_due"]

    messages = [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in send_mail(container)
    ]
    kinds = {str(m["Message-ID"]).strip("<").split(".", 1)[0] for m in messages}
    assert {"receipt", "response", "extension", "escalation", "suggestion_referral"} <= kinds
    assert "resolution" in kinds
    shown: set[str] = set()
    for message in messages:
        assert isinstance(message, EmailMessage)
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        assert html_part is not None and text_part is not None
        html, text = html_part.get_content(), text_part.get_content()
        for value in texts:
            if value in text:  # in the plain text, as typed; in the HTML only escaped
                shown.add(value)
                assert_escaped(html, [value])
        assert re.search(r"<(script|img|svg|a)\b", html) is None, html
        for name in ("Subject", "To", "From", "Reply-To", "Message-ID"):
            assert "\n" not in str(message[name]) and "\r" not in str(message[name])
    assert shown >= set(texts) - {marked["name"]}  # the name is not in any email


def test_header_injection_cannot_add_recipients(client: FlaskClient, container: Container) -> None:
    """Line breaks never reach a one-line field; email addresses are checked."""
    for field in ("subject", "course", "name", "email"):
        for text in HEADERS:
            answer = checked(client.post("/api/v1/tickets", json=submission(**{field: text})))
            assert answer.status_code == 422, (field, text)
    address = checked(
        client.post("/api/v1/tickets", json=submission(email="a@example.org, b@example.org"))
    )
    assert address.status_code == 422
    ref = client.post("/api/v1/tickets", json=submission(description=HEADERS[0])).get_json()
    assert ref["reference"]
    for path in send_mail(container):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message["Bcc"] is None and message["X-Injected"] is None
        assert str(message["To"]) == "learner@example.org"


def test_arabic_with_bidi_controls_is_kept_exactly(
    client: FlaskClient, container: Container
) -> None:
    for text in ARABIC:
        answer = checked(
            client.post("/api/v1/tickets", json=submission(subject=text, description=text))
        )
        assert answer.status_code == 201
        ticket = container.desk.ticket(answer.get_json()["reference"])
        assert ticket.subject == text.strip() and ticket.description == text.strip()


def test_idempotency_keys_and_request_ids_of_any_shape_are_refused_or_used_safely(
    client: FlaskClient,
) -> None:
    for key in ["", " ", "a" * 256, "ключ", "' OR 1=1 --", "<script>", "%00"]:
        answer = checked(
            client.post("/api/v1/tickets", json=submission(), headers={"Idempotency-Key": key})
        )
        assert answer.status_code in (201, 422)
    for request_id in ["x" * 10_000, "<script>alert(1)</script>", "ok-id.1", "ключ"]:
        answer = client.get("/health", headers={"X-Request-Id": request_id})
        assert answer.status_code == 200
        echoed = answer.headers["X-Request-Id"]
        assert (
            echoed == request_id
            if request_id == "ok-id.1"
            else re.fullmatch("[0-9a-f]{32}", echoed)
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_ten_thousand_follow_ups_to_one_ticket_are_each_recorded_and_the_ticket_stays_usable(
    postgres_container: Container,
) -> None:
    client = without_limits(create_app(container=postgres_container)).test_client()
    ref = client.post("/api/v1/tickets", json=submission()).get_json()["reference"]
    message = "لم تُحل المشكلة بعد \u202eما زلت أنتظر\u202c <b>please</b> "
    for number in range(10_000):
        answer = client.post(
            f"/api/v1/tickets/{ref}/follow-up",
            json={"email": "learner@example.org", "message": f"{message}{number}"},
        )
        assert answer.status_code == 201, (number, answer.get_data(as_text=True)[:300])

    agent = {"Authorization": f"Bearer {postgres_container.users.add('nora', Role.AGENT)}"}
    auditor = {"Authorization": f"Bearer {postgres_container.users.add('aziz', Role.AUDITOR)}"}
    ticket = client.get(f"/api/v1/tickets/{ref}", headers=agent)
    assert ticket.status_code == 200 and ticket.get_json()["follow_ups"] == 10_000
    assert ticket.headers["ETag"] == '"10001"'
    replied = client.post(
        f"/api/v1/tickets/{ref}/respond", json={"message": "On it"}, headers=agent
    )
    assert replied.status_code == 200 and replied.get_json()["version"] == 10_002
    status = client.post("/api/v1/status", json={"reference": ref, "email": "learner@example.org"})
    assert status.status_code == 200
    events: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:  # the history comes a page at a time
        history = client.get(f"/api/v1/tickets/{ref}/history?after={after}", headers=auditor)
        assert history.status_code == 200, history.get_data(as_text=True)[:300]
        events += history.get_json()["events"]
        after = history.get_json()["next_after"]
    assert len(events) == 10_002
    assert [e["data"]["message"] for e in events[1:-1]] == [
        f"{message}{number}" for number in range(10_000)
    ]
    caught_up(postgres_container)
    queue = client.get("/api/v1/queue", headers=agent).get_json()["items"]
    assert [item["version"] for item in queue if item["reference"] == ref] == [10_002]
