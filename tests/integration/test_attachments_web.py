"""Files through the web doors: the support form, the submit, follow-up and respond API, the
console; read back as downloads by role, or by the signed link a requester is sent."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from pathlib import Path
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import TestResponse, encode_multipart

from application.bootstrap import Container
from application.users import Role
from domain.attachment import MAX_FILE_BYTES
from interfaces.privacy import eraser
from tests.builders import caught_up, recorded, send_mail
from tests.conftest import FakeClock
from tests.integration.test_attachments import CERTIFICATE, EXECUTABLE
from tests.integration.test_desk_pages import PASSWORD, form_of, signed_in
from tests.integration.test_forms import FIELDS, token_of
from tests.unit.test_attachment_inspection import image, photo_with_location

REQUEST = {
    "email": "huda@example.org",
    "category": "attendance_certificate",
    "course": "Fractions 101",
    "subject": "My certificate has the wrong name",
    "description": "The certificate and the error page are attached.",
}
SCRIPTED_PDF = b"%PDF-1.4\n1 0 obj << /OpenAction << /JS (app.alert(1)) >> >> endobj\n%%EOF"


def upload(*files: tuple[str, bytes]) -> list[FileStorage]:
    return [FileStorage(io.BytesIO(data), filename=name) for name, data in files]


def post(client: FlaskClient, url: str, fields: dict[str, Any], **headers: str) -> TestResponse:
    """A multipart request, encoded here in memory (the test client would spool large bodies
    to a temporary file it leaves open when the answer comes before the body is read)."""
    boundary, body = encode_multipart(fields)
    kind = f"multipart/form-data; boundary={boundary}"
    return client.post(url, data=body, content_type=kind, headers=headers)


def submit(client: FlaskClient, *files: tuple[str, bytes], **headers: str) -> TestResponse:
    return post(client, "/api/v1/tickets", {**REQUEST, "files": upload(*files)}, **headers)


def first_file(container: Container, reference: str) -> dict[str, Any]:
    return container.desk.ticket(reference).files[0]


@pytest.fixture
def filed(client: FlaskClient) -> dict[str, Any]:
    """A request sent with a photo, a certificate and an executable named as an image."""
    answer = submit(
        client,
        ("screen.jpg", photo_with_location()),
        ("شهادة الحضور.pdf", CERTIFICATE),
        ("setup.png", EXECUTABLE),
    )
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body: dict[str, Any] = answer.get_json()
    return body


# ---- sending files -----------------------------------------------------------------------------


def test_the_api_keeps_a_request_s_files_and_says_which_were_refused_and_why(
    container: Container, filed: dict[str, Any]
) -> None:
    assert [f["name"] for f in filed["files"]] == ["screen.jpg", "شهادة الحضور.pdf"]
    assert [f["media_type"] for f in filed["files"]] == ["image/jpeg", "application/pdf"]
    [refused] = filed["refused"]
    assert refused["name"] == "setup.png" and refused["reason"] == "kind_not_kept"
    assert "نوع الملف غير مقبول" in refused["explained"]  # the request's language: Arabic
    ticket = container.desk.ticket(filed["reference"])
    assert [f["sha256"] for f in ticket.files] == [f["sha256"] for f in filed["files"]]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "kind_not_kept"),
        ("setup.png", EXECUTABLE, "kind_not_kept"),
        ("archive.pdf", b"PK\x03\x04" + bytes(200), "kind_not_kept"),
        ("cut.png", image("PNG")[:-40], "unreadable"),
        ("empty.txt", b"", "unreadable"),
    ],
    ids=["html-as-png", "executable-as-png", "zip-as-pdf", "truncated-png", "empty"],
)
def test_a_file_of_a_kind_not_kept_is_refused_with_why_and_the_request_is_kept(
    client: FlaskClient, container: Container, name: str, data: bytes, reason: str
) -> None:
    answer = submit(client, (name, data))

    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["files"] == [] and [r["reason"] for r in body["refused"]] == [reason]
    assert body["refused"][0]["name"] == name
    assert container.desk.ticket(body["reference"]).files == ()


@pytest.mark.parametrize(
    ("files", "named", "reason"),
    [
        ([("big.pdf", b"%PDF-1.4\n" + b"0" * MAX_FILE_BYTES)], "big.pdf", "larger than 10 MB"),
        ([(f"{n}.txt", b"note") for n in range(6)], "5.txt", "More than 5 files"),
        (
            [(f"{n}.pdf", b"%PDF-1.4\n" + b"0" * (8_800 * 1024)) for n in range(3)],
            "2.pdf",
            "exceed 25 MB",
        ),
    ],
    ids=["one-too-large", "too-many", "too-much-in-all"],
)
def test_a_file_over_a_limit_refuses_the_request_naming_it_and_records_nothing(
    client: FlaskClient,
    container: Container,
    files: list[tuple[str, bytes]],
    named: str,
    reason: str,
) -> None:
    before = recorded(container)

    answer = submit(client, *files)

    assert answer.status_code == 413
    assert answer.mimetype == "application/problem+json"
    problem = answer.get_json()
    assert named in problem["detail"] and reason in problem["detail"]
    assert recorded(container) == before


def test_a_request_larger_than_any_files_may_be_is_refused_before_it_is_read(
    client: FlaskClient, container: Container
) -> None:
    before = recorded(container)
    answer = submit(client, ("huge.pdf", b"0" * (27 * 1024 * 1024)))
    assert answer.status_code == 413 and answer.mimetype == "application/problem+json"
    assert "exceed 25 MB" in answer.get_json()["detail"]
    assert recorded(container) == before


def test_a_path_in_a_file_name_is_only_a_name_and_the_bytes_are_kept_by_hash(
    client: FlaskClient, container: Container
) -> None:
    answer = submit(client, ("../../etc/passwd", b"root:x:0:0\n"))

    assert answer.status_code == 201
    [kept] = answer.get_json()["files"]
    assert kept["name"] == "passwd" and kept["media_type"] == "text/plain"
    data_dir = Path(container.settings.data_dir)
    assert not list(data_dir.rglob("passwd"))
    assert not (data_dir.parent / "etc").exists()


def test_a_retry_with_the_same_key_and_files_is_answered_again_and_other_files_are_refused(
    client: FlaskClient, container: Container
) -> None:
    first = submit(client, ("a.pdf", CERTIFICATE), **{"Idempotency-Key": "k-1"})
    again = submit(client, ("a.pdf", CERTIFICATE), **{"Idempotency-Key": "k-1"})
    other = submit(client, ("a.pdf", CERTIFICATE + b"\n"), **{"Idempotency-Key": "k-1"})

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert other.status_code == 422


def test_a_follow_up_by_the_api_brings_its_files(
    client: FlaskClient, container: Container, filed: dict[str, Any]
) -> None:
    answer = post(
        client,
        f"/api/v1/tickets/{filed['reference']}/follow-up",
        {
            "email": REQUEST["email"],
            "message": "The corrected one.",
            "files": upload(("again.pdf", CERTIFICATE + b"% 2\n")),
        },
    )

    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert [f["name"] for f in answer.get_json()["files"]] == ["again.pdf"]
    assert len(container.desk.ticket(filed["reference"]).files) == 3


def test_an_agent_replies_with_a_file_and_a_file_not_kept_refuses_the_reply(
    client: FlaskClient,
    container: Container,
    filed: dict[str, Any],
    bearer: Callable[[Role], dict[str, str]],
) -> None:
    agent = bearer(Role.AGENT)
    url = f"/api/v1/tickets/{filed['reference']}/respond"

    refused = post(
        client, url, {"message": "Here.", "files": upload(("fixed.png", EXECUTABLE))}, **agent
    )
    before = recorded(container)
    replied = post(
        client,
        url,
        {"message": "The corrected certificate.", "files": upload(("fixed.pdf", CERTIFICATE))},
        **agent,
    )

    assert refused.status_code == 422 and "fixed.png" in str(refused.get_json()["errors"])
    assert replied.status_code == 200, replied.get_data(as_text=True)
    assert recorded(container) == before + 2  # the reply and its files
    ticket = container.desk.ticket(filed["reference"])
    assert ticket.files[-1]["name"] == "fixed.pdf"


# ---- reading them back -------------------------------------------------------------------------


def assert_a_download(answer: TestResponse, name_part: str) -> None:
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert name_part in answer.headers["Content-Disposition"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Content-Security-Policy"].startswith("sandbox")


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.AUDITOR])
def test_the_team_downloads_a_file_as_an_attachment_and_the_access_is_logged(
    client: FlaskClient,
    container: Container,
    filed: dict[str, Any],
    bearer: Callable[[Role], dict[str, str]],
    role: Role,
) -> None:
    sha256 = filed["files"][1]["sha256"]
    accesses = container.access_log.count()

    answer = client.get(
        f"/api/v1/tickets/{filed['reference']}/files/{sha256}", headers=bearer(role)
    )

    assert_a_download(answer, "filename*=UTF-8''%D8%B4%D9%87%D8%A7%D8%AF%D8%A9")
    assert answer.mimetype == "application/pdf"
    assert answer.data == CERTIFICATE
    assert container.access_log.count() == accesses + 1


def test_others_may_not_download_and_an_unknown_file_is_not_found(
    client: FlaskClient, filed: dict[str, Any], bearer: Callable[[Role], dict[str, str]]
) -> None:
    url = f"/api/v1/tickets/{filed['reference']}/files/{filed['files'][0]['sha256']}"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=bearer(Role.ANALYST)).status_code == 403
    assert client.get(url, headers=bearer(Role.INTAKE)).status_code == 403
    agent = bearer(Role.AGENT)
    missing = f"/api/v1/tickets/{filed['reference']}/files/{'0' * 64}"
    assert client.get(missing, headers=agent).status_code == 404
    assert (
        client.get(url.replace(filed["files"][0]["sha256"], "x"), headers=agent).status_code == 404
    )


def test_a_pdf_with_scripts_is_served_as_bytes_to_download_only(
    client: FlaskClient, bearer: Callable[[Role], dict[str, str]]
) -> None:
    body = submit(client, ("form.pdf", SCRIPTED_PDF)).get_json()
    [kept] = body["files"]
    assert kept["media_type"] == "application/pdf"

    answer = client.get(
        f"/api/v1/tickets/{body['reference']}/files/{kept['sha256']}", headers=bearer(Role.AGENT)
    )

    assert_a_download(answer, "form.pdf")
    assert answer.mimetype == "application/octet-stream"


def test_the_requester_s_signed_link_gives_the_file_until_it_expires(
    client: FlaskClient, container: Container, clock: FakeClock, filed: dict[str, Any]
) -> None:
    sha256 = filed["files"][1]["sha256"]
    token = container.downloads.link(filed["reference"], sha256)

    answer = client.get(f"/support/files/{token}")
    assert_a_download(answer, "filename*=UTF-8''")
    assert answer.data == CERTIFICATE

    tampered = client.get(f"/support/files/{token[:-2]}xx")
    assert tampered.status_code == 404
    clock.advance(days=29)
    assert client.get(f"/support/files/{token}").status_code == 200
    clock.advance(days=2)
    expired = client.get(f"/support/files/{token}")
    assert expired.status_code == 410
    assert "انتهت صلاحية هذا الرابط" in unescape(expired.get_data(as_text=True))
    english = client.get(f"/support/files/{token}?lang=en")
    assert "This link has expired" in english.get_data(as_text=True)


def test_an_erased_requester_s_files_are_not_served_any_more(
    client: FlaskClient,
    container: Container,
    filed: dict[str, Any],
    bearer: Callable[[Role], dict[str, str]],
) -> None:
    sha256 = filed["files"][0]["sha256"]
    token = container.downloads.link(filed["reference"], sha256)
    eraser(container).erase(filed["reference"], reason="asked", basis="request", actor="dpo")

    url = f"/api/v1/tickets/{filed['reference']}/files/{sha256}"
    assert client.get(url, headers=bearer(Role.AUDITOR)).status_code == 404
    assert client.get(f"/support/files/{token}").status_code == 404


# ---- the support form --------------------------------------------------------------------------


def send_form(client: FlaskClient, *files: tuple[str, bytes], lang: str = "") -> TestResponse:
    url = f"/support{'?lang=' + lang if lang else ''}"
    token = token_of(client.get(url))
    data: dict[str, Any] = {**FIELDS, "csrf_token": token, "files": upload(*files)}
    return post(client, url, data)


def test_the_form_has_a_file_field_and_lists_what_was_kept_and_refused(
    client: FlaskClient, container: Container
) -> None:
    form = client.get("/support").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in form and 'type="file"' in form

    answer = send_form(client, ("لقطة.jpg", photo_with_location()), ("run.png", EXECUTABLE))

    assert answer.status_code == 200
    html = unescape(answer.get_data(as_text=True))
    assert "لقطة.jpg" in html
    assert "run.png</bdi>: نوع الملف غير مقبول" in html
    reference = re.search(r'id="reference" dir="ltr">([^<]+)<', html)
    assert reference is not None
    assert len(container.desk.ticket(reference.group(1)).files) == 1


def test_the_form_refuses_a_file_over_the_limit_naming_it_in_the_page_s_language(
    client: FlaskClient, container: Container
) -> None:
    before = recorded(container)
    big = ("big.pdf", b"%PDF-1.4\n" + b"0" * MAX_FILE_BYTES)

    arabic = send_form(client, big)
    english = send_form(client, big, lang="en")

    assert arabic.status_code == english.status_code == 413
    assert "«big.pdf»" in unescape(arabic.get_data(as_text=True))
    assert "“big.pdf”" in unescape(english.get_data(as_text=True))
    assert FIELDS["subject"] in unescape(arabic.get_data(as_text=True))  # kept as typed
    assert recorded(container) == before


def test_a_form_with_a_field_error_asks_for_the_files_again(client: FlaskClient) -> None:
    token = token_of(client.get("/support"))
    data: dict[str, Any] = {
        **FIELDS,
        "email": "",
        "csrf_token": token,
        "files": upload(("a.pdf", CERTIFICATE)),
    }
    answer = post(client, "/support", data)
    assert answer.status_code == 422
    assert "اخترها مرة أخرى" in unescape(answer.get_data(as_text=True))


# ---- the console -------------------------------------------------------------------------------


@pytest.fixture
def sara(app: Flask, container: Container) -> FlaskClient:
    container.users.add("sara", Role.AGENT)
    container.signin.set_password("sara", PASSWORD)
    return signed_in(app, "sara")


def test_the_console_shows_thumbnails_and_downloads_and_an_agent_attaches_a_file(
    sara: FlaskClient, container: Container, filed: dict[str, Any]
) -> None:
    reference = filed["reference"]
    caught_up(container)
    page = sara.get(f"/desk/tickets/{reference}").get_data(as_text=True)
    photo, certificate = (f["sha256"] for f in filed["files"])
    assert f"/desk/tickets/{reference}/files/{photo}/thumbnail" in page
    assert f"/desk/tickets/{reference}/files/{certificate}/thumbnail" not in page

    thumb = sara.get(f"/desk/tickets/{reference}/files/{photo}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/png"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(thumb.data)) as drawn:
        assert max(drawn.size) <= 320
    assert_a_download(sara.get(f"/desk/tickets/{reference}/files/{certificate}"), "filename")

    form = form_of(sara, f"/desk/tickets/{reference}")
    sent = post(
        sara,
        f"/desk/tickets/{reference}/respond",
        {**form, "message": "Corrected.", "files": upload(("fixed.pdf", CERTIFICATE))},
    )
    assert sent.status_code == 303, sent.get_data(as_text=True)[:500]
    assert container.desk.ticket(reference).files[-1]["name"] == "fixed.pdf"

    form = form_of(sara, f"/desk/tickets/{reference}")
    refused = post(
        sara,
        f"/desk/tickets/{reference}/respond",
        {**form, "message": "Again.", "files": upload(("fixed.png", EXECUTABLE))},
    )
    assert refused.status_code == 422
    assert "fixed.png" in unescape(refused.get_data(as_text=True))


# ---- emails to the requester -------------------------------------------------------------------


def emails_to(paths: list[Path], address: str) -> list[EmailMessage]:
    found = []
    for path in paths:
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        if message["To"] == address:
            found.append(cast(EmailMessage, message))
    return found


@pytest.mark.parametrize("batch_size", [200, 1], ids=["files-in-the-batch", "files-after-it"])
def test_emails_link_to_the_files_and_name_those_refused_without_attaching_any(
    client: FlaskClient,
    container: Container,
    filed: dict[str, Any],
    bearer: Callable[[Role], dict[str, str]],
    batch_size: int,
) -> None:
    reply = post(
        client,
        f"/api/v1/tickets/{filed['reference']}/respond",
        {"message": "The corrected certificate.", "files": upload(("fixed.pdf", CERTIFICATE))},
        **bearer(Role.AGENT),
    )
    assert reply.status_code == 200

    receipt, response = emails_to(send_mail(container, batch_size), REQUEST["email"])

    for email in (receipt, response):
        assert [part.get_content_type() for part in email.walk()] == [
            "multipart/alternative",
            "text/plain",
            "text/html",
        ]  # links, never the files themselves
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "setup.png: نوع الملف غير مقبول" in text
    assert "setup.png: This kind of file is not accepted" in text
    links = re.findall(r"- (.+?): (http://127\.0\.0\.1:8000/support/files/\S+)", text)
    assert [name for name, _ in links] == ["screen.jpg", "شهادة الحضور.pdf"] * 2  # ar, en
    opened = client.get(links[1][1].removeprefix("http://127.0.0.1:8000"))
    assert opened.status_code == 200 and opened.data == CERTIFICATE
    answer = response.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    [link, _] = re.findall(r"- fixed\.pdf: http://127\.0\.0\.1:8000(/support/files/\S+)", answer)
    assert client.get(link).data == CERTIFICATE
