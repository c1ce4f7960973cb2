"""The support form pages (P1.2): Arabic by default, English on request, CSRF, field errors."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from application.bootstrap import Container
from application.settings import Settings
from domain.categories import Category
from interfaces.web import create_app
from interfaces.web.forms import SECRET_KEY
from interfaces.web.ratelimit import LIMIT_KEY
from tests.builders import recorded

FIELDS = {
    "name": "سارة",
    "email": "learner@example.com",
    "category": "attendance_certificate",
    "course": "ورشة التصميم",
    "subject": "لم تصلني الشهادة",
    "description": "أكملت متطلبات الورشة قبل أسبوع.",
}

WEDNESDAY_AR = (
    'الأربعاء <time datetime="2026-11-04T10:00:00+03:00" dir="ltr">2026-11-04 10:00</time>'
    " (بتوقيت الرياض)"
)
WEDNESDAY_EN = (
    'Wednesday <time datetime="2026-11-04T10:00:00+03:00" dir="ltr">2026-11-04 10:00</time>'
    " (Riyadh time)"
)


def page_text(response: TestResponse) -> str:
    return unescape(response.get_data(as_text=True))


def token_of(response: TestResponse) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


def errors_of(response: TestResponse) -> dict[str, str]:
    html = page_text(response)
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', html))


def send_form(client: FlaskClient, url: str = "/support", **changes: str) -> TestResponse:
    token = token_of(client.get(url))
    return client.post(url, data={**FIELDS, "csrf_token": token, **changes})


# ---- the form, in Arabic and English -----------------------------------------------------------


def test_form_is_arabic_right_to_left_by_default(client: FlaskClient) -> None:
    response = client.get("/support")

    html = page_text(response)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert '<html lang="ar" dir="rtl">' in html
    assert "نموذج الدعم الفني" in html
    for category in Category:
        assert f'<option value="{category.value}">{category.label("ar")}</option>' in html
    assert "<script" not in html  # works without JavaScript


def test_form_in_english_with_lang_en(client: FlaskClient) -> None:
    html = page_text(client.get("/support?lang=en"))

    assert '<html lang="en" dir="ltr">' in html
    assert "Technical support form" in html
    assert 'action="/support?lang=en"' in html
    for category in Category:
        assert f'<option value="{category.value}">{category.label("en")}</option>' in html


def test_sent_form_shows_reference_and_first_response_in_riyadh_time(
    client: FlaskClient, container: Container
) -> None:
    response = send_form(client)

    html = page_text(response)
    assert response.status_code == 200
    reference = re.search(r'<output id="reference" dir="ltr">([^<]+)</output>', html)
    assert reference is not None
    ticket = container.desk.ticket(reference.group(1))
    assert ticket.requester_email == "learner@example.com"
    assert ticket.category is Category.ATTENDANCE_CERTIFICATE
    assert ticket.language == "ar"
    assert ticket.channel.value == "web_form"
    # Sunday 10:00 in Riyadh + 24 business hours = Wednesday 10:00 (P5.1)
    assert WEDNESDAY_AR in html


def test_english_form_records_an_english_request(client: FlaskClient, container: Container) -> None:
    response = send_form(client, "/support?lang=en")

    html = page_text(response)
    assert "Your request was received" in html
    assert WEDNESDAY_EN in html
    reference = re.search(r'<output id="reference" dir="ltr">([^<]+)</output>', html)
    assert reference is not None
    assert container.desk.ticket(reference.group(1)).language == "en"


def test_sending_the_same_form_twice_records_one_ticket(
    client: FlaskClient, container: Container
) -> None:
    token = token_of(client.get("/support"))
    first = client.post("/support", data={**FIELDS, "csrf_token": token})
    again = client.post("/support", data={**FIELDS, "csrf_token": token})

    assert first.status_code == again.status_code == 200
    assert page_text(first) == page_text(again)
    assert recorded(container) == 1


def test_an_edited_resend_of_a_sent_form_asks_to_send_again(
    client: FlaskClient, container: Container
) -> None:
    token = token_of(client.get("/support"))
    client.post("/support", data={**FIELDS, "csrf_token": token})

    edited = client.post("/support", data={**FIELDS, "subject": "تعديل", "csrf_token": token})

    assert edited.status_code == 422
    assert "أُرسل هذا النموذج من قبل" in page_text(edited)
    assert recorded(container) == 1
    fresh = token_of(edited)
    again = client.post("/support", data={**FIELDS, "subject": "تعديل", "csrf_token": fresh})
    assert again.status_code == 200
    assert recorded(container) == 2


# ---- field errors, in the page's language ------------------------------------------------------


def test_field_errors_in_arabic_keep_what_was_typed(
    client: FlaskClient, container: Container
) -> None:
    response = send_form(client, email="learner@", course="", category="")

    assert response.status_code == 422
    assert errors_of(response) == {
        "email": "أدخل بريداً إلكترونياً صحيحاً.",
        "course": "هذا الحقل مطلوب.",
        "category": "اختر نوعاً من الأنواع المدرجة.",
    }
    html = page_text(response)
    assert 'value="learner@"' in html
    assert "أكملت متطلبات الورشة قبل أسبوع.</textarea>" in html
    assert 'aria-invalid="true"' in html
    assert recorded(container) == 0


def test_field_errors_in_english(client: FlaskClient, container: Container) -> None:
    response = send_form(client, "/support?lang=en", subject="x" * 201, description="a\x00b")

    assert response.status_code == 422
    assert errors_of(response) == {
        "subject": "Must be at most 200 characters.",
        "description": "Control characters are not allowed.",
    }
    assert recorded(container) == 0


# ---- CSRF --------------------------------------------------------------------------------------


def test_form_without_a_token_is_refused(client: FlaskClient, container: Container) -> None:
    client.get("/support")

    response = client.post("/support", data=FIELDS)

    assert response.status_code == 400
    assert "انتهت صلاحية النموذج" in page_text(response)
    assert 'value="learner@example.com"' in page_text(response)  # nothing typed is lost
    assert recorded(container) == 0


def test_token_from_another_browser_is_refused(app: Flask, container: Container) -> None:
    attacker, victim = app.test_client(), app.test_client()
    token = token_of(attacker.get("/support"))
    victim.get("/support")

    response = victim.post("/support", data={**FIELDS, "csrf_token": token})

    assert response.status_code == 400
    assert recorded(container) == 0


def test_tampered_or_foreign_signed_token_is_refused(
    client: FlaskClient, container: Container, app: Flask
) -> None:
    token = token_of(client.get("/support"))
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")

    assert client.post("/support", data={**FIELDS, "csrf_token": tampered}).status_code == 400
    app.config[SECRET_KEY] = "another secret"
    assert client.post("/support", data={**FIELDS, "csrf_token": token}).status_code == 400
    assert recorded(container) == 0


def test_the_secret_is_made_once_and_kept_under_the_data_folder(
    container: Container, tmp_path: Path
) -> None:
    first = create_app(container=container).config[SECRET_KEY]
    second = create_app(container=container).config[SECRET_KEY]

    kept = Path(container.settings.data_dir) / "secret_key"
    assert first == second == kept.read_text().strip()
    assert len(first) >= 48
    assert kept.stat().st_mode & 0o077 == 0


def test_secret_from_the_environment_wins(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_KEY, "from-the-environment")
    settings = replace(container.settings, secret_key=Settings.from_env().secret_key)
    app = create_app(container=replace(container, settings=settings))
    assert app.config[SECRET_KEY] == "from-the-environment"


# ---- the status page ---------------------------------------------------------------------------


def test_status_page_shows_the_requesters_ticket(client: FlaskClient) -> None:
    sent = page_text(send_form(client))
    reference = re.search(r'<output id="reference" dir="ltr">([^<]+)</output>', sent)
    assert reference is not None

    response = send_form(
        client, "/support/status", reference=reference.group(1), email="Learner@Example.com"
    )

    html = page_text(response)
    assert response.status_code == 200
    assert '<dd id="status">جديد</dd>' in html
    assert WEDNESDAY_AR in html


def test_status_page_gives_one_answer_for_unknown_and_wrong_email(client: FlaskClient) -> None:
    sent = page_text(send_form(client))
    reference = re.search(r'<output id="reference" dir="ltr">([^<]+)</output>', sent)
    assert reference is not None

    wrong = send_form(
        client, "/support/status", reference=reference.group(1), email="x@example.com"
    )
    unknown = send_form(client, "/support/status", reference="CM-0000-0000")

    assert wrong.status_code == unknown.status_code == 404
    notice = re.compile(r'<p class="notice" role="alert">([^<]*)</p>')
    assert notice.findall(page_text(wrong)) == notice.findall(page_text(unknown))
    assert notice.findall(page_text(wrong)) == ["لا توجد تذكرة بهذا الرقم المرجعي وهذا البريد."]


def test_status_page_needs_a_token_too(client: FlaskClient) -> None:
    client.get("/support/status")
    response = client.post(
        "/support/status", data={"reference": "CM-0000-0000", "email": "a@example.com"}
    )
    assert response.status_code == 400


# ---- limits ------------------------------------------------------------------------------------


def test_form_posts_are_rate_limited_with_a_page(app: Flask, container: Container) -> None:
    app.config[LIMIT_KEY] = "1/minute"
    client = app.test_client()

    assert send_form(client).status_code == 200
    limited = send_form(client)

    assert limited.status_code == 429
    assert limited.mimetype == "text/html"
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/support").status_code == 200  # reading the form is not limited
    assert recorded(container) == 1


def test_oversized_form_is_refused_with_a_page(client: FlaskClient, container: Container) -> None:
    response = send_form(client, description="x" * 300_000)

    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert recorded(container) == 0
