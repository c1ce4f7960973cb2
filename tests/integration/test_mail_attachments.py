"""Files that come by email: kept as the web form's are (P2.2), told by their bytes, within the
policy's limits; what is refused is named with why, and the text is recorded all the same."""

from __future__ import annotations

import base64
import hashlib
from email import policy
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.mail.intake import Action
from application.mail.message import MAX_DEPTH, MAX_MESSAGE_BYTES, parse_email
from application.users import Role
from domain.attachment import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES
from projections.conversation import conversation
from tests.builders import ENGLISH, LEARNER, SUPPORT, caught_up, mail
from tests.integration.test_attachments import CERTIFICATE, EXECUTABLE
from tests.integration.test_intake_doors import send
from tests.unit.test_attachment_inspection import image, photo_with_location

HEAD = f"From: {LEARNER}\r\nTo: {SUPPORT}\r\nSubject: Help\r\nMIME-Version: 1.0\r\n"


def with_files(*files: tuple[str, bytes, str], body: str = ENGLISH, subject: str = "Help") -> bytes:
    """A learner's email with files attached, each declared of the given type."""
    message = mail(body, subject)
    for name, data, declared in files:
        maintype, subtype = declared.split("/")
        message.add_attachment(data, maintype, subtype, filename=name)
    return message.as_bytes(policy=policy.SMTP)


def pdf(size: int, mark: bytes = b"") -> bytes:
    """A PDF of `size` bytes, which `mark` tells from another."""
    head, tail = b"%PDF-1.4\n" + mark + b"\n", b"\n%%EOF\n"
    lines = b"% filler\n" * ((size - len(head) - len(tail)) // 9)
    return head + lines + b" " * (size - len(head) - len(lines) - len(tail)) + tail


def received(container: Container, raw: bytes) -> str:
    """The reference of the ticket the message created or followed."""
    outcome = container.intake.receive(raw)
    assert outcome.action in (Action.CREATED, Action.FOLLOW_UP), outcome
    assert outcome.reference is not None
    return outcome.reference


def files_item(container: Container, reference: str) -> dict[str, Any]:
    """The conversation's one item listing a message's files."""
    caught_up(container)
    items = conversation(container.engine, reference).items
    found = [i for i in items if i["kind"] == "files_attached"]
    assert len(found) == 1, items
    return found[0]


def kept_names(item: dict[str, Any]) -> list[str]:
    return [f["name"] for f in item["files"]]


def events(container: Container, reference: str) -> list[str]:
    ticket = container.desk.ticket(reference)
    return [type(e).__name__ for e in container.desk.events.get(ticket.id)]


# ---- what is kept ------------------------------------------------------------------------------


def test_a_request_by_email_keeps_its_certificate_and_its_photo(container: Container) -> None:
    photo = photo_with_location()
    raw = with_files(
        ("شهادة الحضور.pdf", CERTIFICATE, "application/pdf"),
        ("IMG_2041.JPG", photo, "image/jpeg"),
    )

    reference = received(container, raw)

    ticket = container.desk.ticket(reference)
    assert "I cannot sign in." in ticket.description
    assert events(container, reference) == ["Submitted", "FilesAttached"]
    item = files_item(container, reference)
    assert item["of_version"] == 1 and item["refused"] == []
    assert kept_names(item) == ["شهادة الحضور.pdf", "IMG_2041.JPG"]
    assert [f["media_type"] for f in item["files"]] == ["application/pdf", "image/jpeg"]
    certificate, kept_photo = item["files"]
    assert certificate["sha256"] == hashlib.sha256(CERTIFICATE).hexdigest()
    # The photograph went through inspection: written again, without its location.
    assert kept_photo["sha256"] != hashlib.sha256(photo).hexdigest()


def test_an_image_shown_inline_in_an_html_message_is_kept(container: Container) -> None:
    message = mail("See the picture of the error.", "Error page")
    message.add_alternative('<p>See the picture:</p><img src="cid:error@x">', subtype="html")
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    html.add_related(image("PNG"), "image", "png", cid="<error@x>")  # inline, and no name

    reference = received(container, message.as_bytes())

    item = files_item(container, reference)
    assert [f["media_type"] for f in item["files"]] == ["image/png"] and item["refused"] == []
    assert "See the picture of the error." in container.desk.ticket(reference).description


def test_a_follow_up_quoting_the_reference_keeps_its_file(container: Container) -> None:
    reference = received(container, mail(ENGLISH, "Help").as_bytes())

    screenshot = image("PNG")
    raw = with_files(("error.png", screenshot, "image/png"), body="Here is the screen.")
    answer = raw.replace(b"Subject: Help", f"Subject: Re: [{reference}]".encode(), 1)
    assert received(container, answer) == reference

    assert events(container, reference) == ["Submitted", "FollowUpReceived", "FilesAttached"]
    item = files_item(container, reference)
    assert item["of_version"] == 2 and kept_names(item) == ["error.png"]


def test_a_message_delivered_twice_brings_its_files_once(container: Container) -> None:
    raw = with_files(("certificate.pdf", CERTIFICATE, "application/pdf"))
    reference = received(container, raw)

    again = container.intake.receive(raw)

    assert (again.action, again.reference) == (Action.DUPLICATE, reference)
    assert events(container, reference) == ["Submitted", "FilesAttached"]


# ---- what is refused, and the text kept all the same ------------------------------------------


def test_an_executable_named_png_is_refused_and_the_text_recorded(container: Container) -> None:
    raw = with_files(("setup.png", EXECUTABLE, "image/png"))

    reference = received(container, raw)

    assert "I cannot sign in." in container.desk.ticket(reference).description
    item = files_item(container, reference)
    assert item["files"] == []
    assert item["refused"] == [{"name": "setup.png", "reason": "kind_not_kept"}]


def test_a_sixth_file_is_refused_as_one_too_many(container: Container) -> None:
    named = [(f"page-{n}.pdf", pdf(200, str(n).encode()), "application/pdf") for n in range(6)]

    reference = received(container, with_files(*named))

    item = files_item(container, reference)
    assert kept_names(item) == [f"page-{n}.pdf" for n in range(MAX_FILES)]
    assert item["refused"] == [{"name": "page-5.pdf", "reason": "too_many"}]


def test_a_file_over_10_mb_is_refused_and_the_others_kept(container: Container) -> None:
    raw = with_files(
        ("scan.pdf", pdf(MAX_FILE_BYTES + 1), "application/pdf"),
        ("certificate.pdf", CERTIFICATE, "application/pdf"),
    )

    item = files_item(container, received(container, raw))

    assert kept_names(item) == ["certificate.pdf"]
    assert item["refused"] == [{"name": "scan.pdf", "reason": "too_large"}]


def test_the_files_a_message_may_bring_pass_the_door(container: Container) -> None:
    """25 MB of files in base64 is about 34 MB of message: within the door's bound."""
    each = MAX_TOTAL_BYTES // 3
    raw = with_files(
        *[(f"part-{n}.pdf", pdf(each, b"%d" % n), "application/pdf") for n in range(3)]
    )
    assert len(raw) <= MAX_MESSAGE_BYTES

    item = files_item(container, received(container, raw))

    assert kept_names(item) == ["part-0.pdf", "part-1.pdf", "part-2.pdf"]
    assert sum(f["size"] for f in item["files"]) <= MAX_TOTAL_BYTES


def test_a_file_past_25_mb_in_all_is_refused(container: Container) -> None:
    """Sent unencoded (8bit), files over 25 MB in all fit in a message the door takes."""
    parts = b"".join(
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: 8bit\r\n"
        + f'Content-Disposition: attachment; filename="part-{n}.pdf"\r\n\r\n'.encode()
        + pdf(9 * 1024 * 1024, b"%d" % n)
        + b"\r\n"
        for n in range(3)
    )
    raw = (
        HEAD.encode()
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nMy three certificates.\r\n"
        + parts
        + b"--b--\r\n"
    )

    item = files_item(container, received(container, raw))

    assert kept_names(item) == ["part-0.pdf", "part-1.pdf"]
    assert item["refused"] == [{"name": "part-2.pdf", "reason": "too_much_in_all"}]


def test_a_path_for_a_name_is_only_a_name(container: Container, tmp_path: Path) -> None:
    data = b"root:x:0:0:root:/root:/bin/bash\n"
    raw = with_files(("../../etc/passwd", data, "text/plain"))

    item = files_item(container, received(container, raw))

    assert kept_names(item) == ["passwd"]
    assert item["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    # Kept under its hash: no file is named after what the sender wrote, nor written above.
    assert [p for p in tmp_path.rglob("*") if p.name in ("passwd", "etc")] == []
    assert not (tmp_path.parent / "etc").exists()


# ---- messages built to hurt --------------------------------------------------------------------


def many_files(count: int) -> bytes:
    png = base64.encodebytes(image("PNG", (2, 2)))
    parts = b"".join(
        b"--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="f{n}.png"\r\n\r\n'.encode()
        + png
        for n in range(count)
    )
    return (
        HEAD.encode()
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b"--b\r\nContent-Type: text/plain\r\n\r\nMany screenshots.\r\n"
        + parts
        + b"--b--\r\n"
    )


def nested(depth: int, leaf: bytes) -> bytes:
    """A text and an image, in multiparts nested `depth` deep."""
    body = leaf
    for level in range(depth):
        boundary = f"n{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
            b"--" + boundary + b"\r\n" + body + b"\r\n--" + boundary + b"--\r\n"
        )
    return HEAD.encode() + body


NESTED_LEAF = (
    b'Content-Type: multipart/mixed; boundary="leaf"\r\n\r\n'
    b"--leaf\r\nContent-Type: text/plain\r\n\r\nDeep inside.\r\n"
    b"--leaf\r\nContent-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    + base64.encodebytes(image("GIF"))
    + b"--leaf--\r\n"
)


def test_a_message_of_many_files_keeps_five_and_names_the_rest(container: Container) -> None:
    reference = received(container, many_files(150))

    assert container.desk.ticket(reference).description == "Many screenshots."
    item = files_item(container, reference)
    assert kept_names(item) == [f"f{n}.png" for n in range(MAX_FILES)]
    assert len(item["refused"]) == 145
    assert {r["reason"] for r in item["refused"]} == {"too_many"}


def test_a_file_deep_in_nested_parts_is_kept(container: Container) -> None:
    reference = received(container, nested(MAX_DEPTH - 1, NESTED_LEAF))

    assert container.desk.ticket(reference).description == "Deep inside."
    item = files_item(container, reference)
    assert [f["media_type"] for f in item["files"]] == ["image/gif"]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(many_files(5_000), "parts"), (nested(MAX_DEPTH + 2, NESTED_LEAF), "nest")],
)
def test_a_message_past_the_parsers_bounds_is_refused_whole_and_the_next_one_read(
    container: Container, raw: bytes, reason: str
) -> None:
    """Too many parts or too deep a nesting: the whole message is refused with why (the
    sending server returns it to its sender), never half read; the desk goes on."""
    outcome = container.intake.receive(raw)

    assert outcome.action is Action.REFUSED and reason in outcome.detail
    assert received(container, mail(ENGLISH, "Help").as_bytes())


# ---- the doors ----------------------------------------------------------------------------------


def test_smtp_takes_a_message_with_files_over_the_old_10_mb(
    container: Container, smtp_port: int
) -> None:
    message = mail(ENGLISH, "Scans")
    message.add_attachment(pdf(9 * 1024 * 1024), "application", "pdf", filename="scan.pdf")
    assert len(message.as_bytes()) > 10 * 1024 * 1024

    answer = send(smtp_port, message)

    assert answer.startswith("250 2.0.0 created CM-"), answer
    assert kept_names(files_item(container, answer.split()[-1])) == ["scan.pdf"]


def test_the_http_pipe_takes_a_message_with_files_over_the_old_10_mb(
    container: Container, client: FlaskClient
) -> None:
    token = container.users.add("mta", Role.INTAKE)
    message = mail(ENGLISH, "Scans")
    message.add_attachment(pdf(9 * 1024 * 1024), "application", "pdf", filename="scan.pdf")

    answer = client.post(
        "/api/v1/inbound/email",
        data=message.as_bytes(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"},
    )

    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    assert kept_names(files_item(container, answer.get_json()["reference"])) == ["scan.pdf"]


# ---- names and parts, as the parser reads them --------------------------------------------------

ARABIC_NAME = "شهادة الحضور.pdf"


@pytest.mark.parametrize(
    "disposition",
    [
        # RFC 2231, as Gmail and Thunderbird write it, and continued over two lines.
        "attachment; filename*=utf-8''%D8%B4%D9%87%D8%A7%D8%AF%D8%A9%20"
        "%D8%A7%D9%84%D8%AD%D8%B6%D9%88%D8%B1.pdf",
        "attachment;\r\n filename*0*=utf-8''%D8%B4%D9%87%D8%A7%D8%AF%D8%A9%20;\r\n"
        " filename*1*=%D8%A7%D9%84%D8%AD%D8%B6%D9%88%D8%B1.pdf",
        # Encoded words in a quoted name, as Outlook writes it.
        'attachment; filename="=?utf-8?B?2LTZh9in2K/YqSDYp9mE2K3YttmI2LEucGRm?="',
        # A name in windows-1256.
        "attachment; filename*=windows-1256''%D4%E5%C7%CF%C9%20%C7%E1%CD%D6%E6%D1.pdf",
    ],
)
def test_an_arabic_file_name_is_decoded(disposition: str) -> None:
    raw = (
        HEAD + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nمرفق\r\n"
        f"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    ).encode()

    assert parse_email(raw).files == ((ARABIC_NAME, b"%PDF-1.4\n"),)


def test_a_name_loses_its_bidi_override_and_a_signature_is_no_file() -> None:
    """`gnp.exe` shown backwards reads `exe.png`; a signature is how the message was sent."""
    message = mail(ENGLISH, "Signed")
    message.add_attachment(b"%PDF-1.4\n", "application", "pdf", filename="invoice\u202egnp.exe")
    message.add_attachment(b"0\x82", "application", "pkcs7-signature", filename="smime.p7s")

    assert parse_email(message.as_bytes()).files == (("invoicegnp.exe", b"%PDF-1.4\n"),)
