"""The desk console over HTTP: signing in, sessions, CSRF, and each page's actions.

The browser tests (tests/e2e) drive the same pages in Chromium; these cover every refusal and
rule quickly, on SQLite and PostgreSQL, through the Flask test client.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.signin import ACCOUNT_FAILURES
from application.users import Role
from domain.ticket import Ticket
from tests.builders import caught_up, recorded, submit
from tests.conftest import FakeClock

PASSWORD = "correct horse battery"


def signed_in(app: Flask, name: str, password: str = PASSWORD, **extra: str) -> FlaskClient:
    """A browser signed in as `name`."""
    browser = app.test_client()
    answer = sign_in(browser, name, password, **extra)
    assert answer.status_code == 303, answer.get_data(as_text=True)[:500]
    return browser


def sign_in(browser: FlaskClient, name: str, password: str, **extra: str) -> Any:
    page = browser.get("/desk/login")
    token = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    form = {"token": token.group(1), "name": name, "password": password} | extra
    return browser.post("/desk/login", data=form)


def form_of(browser: FlaskClient, url: str) -> dict[str, str]:
    """The CSRF token and version a page's forms carry."""
    text = browser.get(url).get_data(as_text=True)
    found = {"csrf": re.search(r'name="csrf" value="([^"]+)"', text)}
    version = re.search(r'name="version" value="(\d+)"', text)
    values = {k: m.group(1) for k, m in found.items() if m}
    if version:
        values["version"] = version.group(1)
    return values


@pytest.fixture
def team(container: Container) -> Container:
    for name, role in (("sara", Role.AGENT), ("omar", Role.AGENT), ("huda", Role.SUPERVISOR)):
        container.users.add(name, role)
        container.signin.set_password(name, PASSWORD)
    container.users.add("ali", Role.ANALYST)
    container.signin.set_password("ali", PASSWORD)
    return container


# ---- signing in ------------------------------------------------------------------------------


def test_pages_need_a_session_and_the_cookie_is_locked_down(app: Flask, team: Container) -> None:
    browser = app.test_client()
    answer = browser.get("/desk/")
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/desk/login?next=/desk/")
    signed = sign_in(browser, "sara", PASSWORD, next="/desk/?tab=all")
    assert (signed.status_code, signed.headers["Location"]) == (303, "/desk/?tab=all")
    cookie = signed.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/desk"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert browser.get("/desk/").status_code == 200


def test_the_cookie_is_secure_over_https(app: Flask, team: Container) -> None:
    browser, https = app.test_client(), "https://desk.example"
    page = browser.get("/desk/login", base_url=https).get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    form = {"token": token.group(1), "name": "sara", "password": PASSWORD}
    signed = browser.post("/desk/login", data=form, base_url=https)
    assert signed.status_code == 303
    assert "Secure" in signed.headers["Set-Cookie"]


def test_a_wrong_password_or_unknown_user_gets_the_same_answer(app: Flask, team: Container) -> None:
    browser = app.test_client()
    wrong = sign_in(browser, "sara", "not the password")
    unknown = sign_in(browser, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "Set-Cookie" not in wrong.headers or "supportdesk_desk=" not in wrong.headers.get(
        "Set-Cookie", ""
    )
    assert "غير صحيحة" in wrong.get_data(as_text=True)


def test_sign_in_is_refused_for_a_while_after_repeated_failures(
    app: Flask, team: Container, clock: FakeClock
) -> None:
    browser = app.test_client()
    for _ in range(ACCOUNT_FAILURES):
        assert sign_in(browser, "sara", "guess").status_code == 401
    refused = sign_in(browser, "sara", PASSWORD)  # even the right password now
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    clock.advance(minutes=16)
    assert sign_in(browser, "sara", PASSWORD).status_code == 303


def test_a_forged_or_missing_login_token_signs_nobody_in(app: Flask, team: Container) -> None:
    browser = app.test_client()
    browser.get("/desk/login")
    answer = browser.post("/desk/login", data={"name": "sara", "password": PASSWORD})
    assert answer.status_code == 400
    assert browser.get("/desk/").status_code == 302


def test_a_second_factor_is_asked_once_set_up(app: Flask, team: Container) -> None:
    uri = team.signin.enable_second_factor("sara")
    secret = pyotp.parse_uri(uri).secret
    browser = app.test_client()
    asked = sign_in(browser, "sara", PASSWORD)
    assert asked.status_code == 200
    assert 'name="code"' in asked.get_data(as_text=True)
    assert sign_in(browser, "sara", PASSWORD, code="000000").status_code == 401
    code = pyotp.TOTP(secret).at(team.desk.clock())
    assert sign_in(browser, "sara", PASSWORD, code=code).status_code == 303


def test_a_one_time_code_signs_in_once(app: Flask, team: Container, clock: FakeClock) -> None:
    secret = pyotp.parse_uri(team.signin.enable_second_factor("sara")).secret
    totp = pyotp.TOTP(secret)
    code = totp.at(clock())
    assert sign_in(app.test_client(), "sara", PASSWORD, code=code).status_code == 303
    assert sign_in(app.test_client(), "sara", PASSWORD, code=code).status_code == 401
    clock.advance(seconds=30)
    older = totp.at(clock() - timedelta(seconds=30))  # still within the drift allowed, but used
    assert sign_in(app.test_client(), "sara", PASSWORD, code=older).status_code == 401
    assert sign_in(app.test_client(), "sara", PASSWORD, code=totp.at(clock())).status_code == 303


def test_supervisors_need_a_second_factor_when_required(app: Flask, team: Container) -> None:
    team.signin.require_2fa = True
    assert sign_in(app.test_client(), "huda", PASSWORD).status_code == 401
    assert sign_in(app.test_client(), "sara", PASSWORD).status_code == 303  # agents need not


def test_a_session_ends_when_idle_on_sign_out_and_when_the_user_is_revoked(
    app: Flask, team: Container, clock: FakeClock
) -> None:
    browser = signed_in(app, "sara")
    clock.advance(minutes=31)
    assert browser.get("/desk/").status_code == 302
    browser = signed_in(app, "sara")
    assert browser.post("/desk/logout", data=form_of(browser, "/desk/")).status_code == 303
    assert browser.get("/desk/").status_code == 302
    browser = signed_in(app, "omar")
    team.users.revoke("omar")
    assert browser.get("/desk/").status_code == 302


def test_a_new_password_signs_every_browser_out(app: Flask, team: Container) -> None:
    browser = signed_in(app, "sara")
    team.signin.set_password("sara", "another long password")
    assert browser.get("/desk/").status_code == 302


def test_only_a_console_page_is_a_place_to_go_after_signing_in(app: Flask, team: Container) -> None:
    for target in ("https://evil.example/", "//evil.example/desk", "/api/v1/queue", "/\\evil"):
        answer = sign_in(app.test_client(), "sara", PASSWORD, next=target)
        assert answer.headers["Location"] == "/desk/", target


def test_signing_in_and_out_is_on_the_access_log(app: Flask, team: Container) -> None:
    before = team.access_log.count()
    sign_in(app.test_client(), "sara", "wrong password")
    signed_in(app, "sara")
    actions = [e.action for e in team.access_log.entries()][-2:]
    assert actions == ["sign_in_refused", "signed_in"]
    assert team.access_log.count() == before + 2


# ---- pages and actions -----------------------------------------------------------------------


def test_a_stale_or_missing_csrf_token_records_nothing(app: Flask, team: Container) -> None:
    reference = submit(team)
    browser = signed_in(app, "sara")
    form = form_of(browser, f"/desk/tickets/{reference}")
    before = recorded(team)
    for csrf in ("", "forged", None):
        data = {**form, "text": "note"}
        if csrf is None:
            data.pop("csrf")
        else:
            data["csrf"] = csrf
        answer = browser.post(f"/desk/tickets/{reference}/note", data=data)
        assert answer.status_code == 400
        assert "لم يُسجَّل شيء" in answer.get_data(as_text=True)
    assert recorded(team) == before


def test_an_agent_takes_answers_notes_and_resolves_from_the_page(
    app: Flask, team: Container
) -> None:
    reference = submit(team)
    browser = signed_in(app, "sara")
    url = f"/desk/tickets/{reference}"
    for action, data in (
        ("take", {}),
        ("respond", {"message": "جرّبي الرابط الجديد"}),
        ("note", {"text": "Called the learner"}),
        ("resolve", {"summary": "Signed in again"}),
    ):
        answer = browser.post(f"{url}/{action}", data={**form_of(browser, url), **data})
        assert answer.status_code == 303, (action, answer.get_data(as_text=True)[:300])
    ticket = team.desk.ticket(reference)
    assert (ticket.owner, ticket.responses, ticket.notes, ticket.status.value) == (
        "sara",
        1,
        1,
        "resolved",
    )


def test_the_queue_filters_by_owner_in_the_tabs_of_everyone(app: Flask, team: Container) -> None:
    theirs, nobodys = submit(team), submit(team)
    sara, url = signed_in(app, "sara"), f"/desk/tickets/{theirs}"
    assert sara.post(f"{url}/take", data=form_of(sara, url)).status_code == 303
    browser = signed_in(app, "omar")
    caught_up(team)
    everyone = browser.get("/desk/?tab=all").get_data(as_text=True)
    assert theirs in everyone and nobodys in everyone
    assert '<option value="sara">sara</option>' in everyone
    saras = browser.get("/desk/?tab=all&owner=sara").get_data(as_text=True)
    assert theirs in saras and nobodys not in saras
    assert '<option value="sara" selected>sara</option>' in saras
    mine = browser.get("/desk/?tab=mine&owner=sara").get_data(as_text=True)  # the tab wins
    assert theirs not in mine and 'id="owner"' not in mine


def test_the_second_of_two_agents_sees_the_conflict_and_nothing_is_recorded(
    app: Flask, team: Container
) -> None:
    reference = submit(team)
    url = f"/desk/tickets/{reference}"
    sara, omar = signed_in(app, "sara"), signed_in(app, "omar")
    sara_form, omar_form = form_of(sara, url), form_of(omar, url)
    assert sara.post(f"{url}/take", data=sara_form).status_code == 303
    before = recorded(team)
    caught_up(team)
    answer = omar.post(f"{url}/respond", data={**omar_form, "message": "My answer"})
    assert answer.status_code == 409
    page = answer.get_data(as_text=True)
    assert "بعد فتحك الصفحة" in page
    assert "My answer" in page  # what was typed is kept
    assert "sara" in page  # and what changed is shown
    assert recorded(team) == before


def test_markup_and_bidi_controls_in_any_text_are_shown_as_text(
    app: Flask, team: Container
) -> None:
    reference = submit(team)
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>\u202egnp.exe"
    team.desk.add_note(reference, text=hostile, actor="sara")
    caught_up(team)
    page = signed_in(app, "sara").get(f"/desk/tickets/{reference}").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<bdi>" in page  # each text is isolated from the page's direction


def test_the_desks_own_processes_are_named_in_words(app: Flask, team: Container) -> None:
    reference = submit(team)
    team.desk.acknowledge(reference, message_id="receipt.1", actor="system:mailer")
    caught_up(team)
    page = signed_in(app, "sara").get(f"/desk/tickets/{reference}").get_data(as_text=True)
    assert "نظام البريد" in page and "system:mailer" not in page
    assert "مقدم الطلب" in page


def test_an_unknown_reference_is_a_404_page_in_the_viewers_language(
    app: Flask, team: Container
) -> None:
    browser = signed_in(app, "sara")
    for ref in ("CM-0000-0000", "nonsense"):
        answer = browser.get(f"/desk/tickets/{ref}")
        assert answer.status_code == 404
        assert "لا توجد تذكرة" in answer.get_data(as_text=True)


def test_analysts_may_not_open_the_console_and_agents_not_the_supervisor_pages(
    app: Flask, team: Container
) -> None:
    assert signed_in(app, "ali").get("/desk/").status_code == 403
    sara = signed_in(app, "sara")
    for url in ("/desk/escalated", "/desk/templates/new"):
        assert sara.get(url).status_code == 403
    assert sara.get("/desk/templates").status_code == 200


def test_the_language_chosen_is_kept_for_the_user(app: Flask, team: Container) -> None:
    browser = signed_in(app, "sara")
    assert 'lang="ar" dir="rtl"' in browser.get("/desk/").get_data(as_text=True)
    data = {**form_of(browser, "/desk/"), "lang": "en", "next": "/desk/"}
    assert browser.post("/desk/language", data=data).status_code == 303
    again = signed_in(app, "sara")  # another browser, the same user
    assert 'lang="en" dir="ltr"' in again.get("/desk/").get_data(as_text=True)


def test_a_supervisor_writes_and_revises_a_template_and_reassigns_from_the_pages(
    app: Flask, team: Container
) -> None:
    huda = signed_in(app, "huda")
    text = {"title": "Reset", "text_ar": "طلبك {reference}", "text_en": "Your {reference}"}
    created = huda.post(
        "/desk/templates/new",
        data={**form_of(huda, "/desk/templates/new"), "id": "reset", **text, "reason": "Often"},
    )
    assert created.status_code == 303
    form = form_of(huda, "/desk/templates/reset")
    revised = huda.post(
        "/desk/templates/reset", data={**form, **text, "title": "Reset link", "reason": "Clearer"}
    )
    assert revised.status_code == 303
    stale = huda.post("/desk/templates/reset", data={**form, **text, "reason": "Old form"})
    assert stale.status_code == 409
    assert [type(e).__name__ for e in team.desk.template_changes("reset")] == [
        "Created",
        "Revised",
    ]
    unknown = huda.post(
        "/desk/templates/new",
        data={**form_of(huda, "/desk/templates/new"), "id": "bad", **text, "text_en": "{oops}"},
    )
    assert unknown.status_code == 422
    reference = submit(team)
    url = f"/desk/tickets/{reference}"
    assigned = huda.post(f"{url}/assign", data={**form_of(huda, url), "assignee": "omar"})
    assert assigned.status_code == 303
    assert team.desk.ticket(reference).owner == "omar"


def test_an_extension_is_saved_only_after_its_new_due_time_was_shown(
    app: Flask, team: Container
) -> None:
    reference = submit(team)
    browser = signed_in(app, "sara")
    url = f"/desk/tickets/{reference}"
    due = (team.desk.ticket(reference).resolution_due + timedelta(days=7)).astimezone(
        team.calendar.timezone
    )
    data = {
        **form_of(browser, url),
        "resolution_due": due.strftime("%Y-%m-%dT%H:%M"),
        "reason": "Waiting for the platform team",
    }
    before = recorded(team)
    shown = browser.post(f"{url}/extend", data=data)
    assert shown.status_code == 200
    assert 'name="confirm" value="yes"' in shown.get_data(as_text=True)
    assert recorded(team) == before
    saved = browser.post(f"{url}/extend", data={**data, "confirm": "yes"})
    assert saved.status_code == 303
    extended = list(team.desk.events.get(team.desk.ticket(reference).id))[-1]
    assert isinstance(extended, Ticket.DeadlineExtended)
    assert extended.resolution_due == due
