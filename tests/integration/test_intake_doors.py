"""The three doors of inbound mail: the SMTP listener, `POST /api/v1/inbound/email`, `ingest`."""

from __future__ import annotations

import mailbox
import smtplib
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from application.bootstrap import Container
from application.mail.intake import MailIntake
from application.mail.message import MAX_MESSAGE_BYTES
from application.users import Role
from interfaces.cli.mail import ingest
from tests import builders
from tests.builders import ENGLISH, INFO, LEARNER, SUPPORT

ARABIC = "لا أستطيع الدخول.\nالفئة: تسجيل الدخول\nالدورة: التربية الإيجابية\n"
MX = "mx.captainmama.org"  # the desk's mail server, which authenticated the senders below


@pytest.fixture(autouse=True)
def trusted_mx(container: Container) -> None:
    """Every door believes the authentication results of the desk's mail server (P6)."""
    container.intake = MailIntake(
        container.desk, container.engine, container.addresses, trusted_authserv=[MX]
    )


def mail(body: str, subject: str, to: str = SUPPORT) -> EmailMessage:
    """The learner's email as the desk's mail server passes it on: DMARC passed."""
    message = builders.mail(body, subject, to)
    message["Authentication-Results"] = f"{MX}; dmarc=pass header.from=example.org"
    return message


def history(container: Container, reference: str) -> list[str]:
    ticket = container.desk.ticket(reference)
    return [type(e).__name__ for e in container.desk.events.get(ticket.id)]


# ---- SMTP ------------------------------------------------------------------------------------


def send(port: int, message: EmailMessage, recipients: list[str] | None = None) -> str:
    """Send over SMTP; returns the listener's answer to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail(LEARNER)
        for recipient in recipients or [str(message["To"])]:
            code, answer = client.rcpt(recipient)
            assert code == 250, answer
        code, answer = client.data(message.as_bytes(policy=policy.SMTP))
    return f"{code} {answer.decode()}"


@pytest.mark.parametrize("body", [ENGLISH, ARABIC])
def test_smtp_request_follow_up_and_escalation(
    container: Container, smtp_port: int, body: str
) -> None:
    created = send(smtp_port, mail(body, "Help / مساعدة"))
    assert created.startswith("250 2.0.0 created CM-")
    reference = created.split()[-1]

    followed = send(smtp_port, mail("Any news? / هل من جديد؟", f"Re: [{reference}]"))
    escalated = send(smtp_port, mail("No answer / لا رد", reference, to=INFO))

    assert followed == f"250 2.0.0 follow_up {reference}"
    assert escalated == f"250 2.0.0 escalated {reference}"
    assert history(container, reference) == ["Submitted", "FollowUpReceived", "Escalated"]


def test_smtp_refuses_addresses_that_are_not_the_desks(smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail(LEARNER)
        code, _ = client.rcpt("someone@elsewhere.org")
    assert code == 550


def test_smtp_refuses_an_oversized_message(smtp_port: int) -> None:
    message = mail(ENGLISH, "Big")
    message.add_attachment(b"\0" * (MAX_MESSAGE_BYTES + 1), "application", "octet-stream")
    assert send(smtp_port, message).startswith("552")


def test_smtp_takes_and_ignores_mail_from_the_null_sender(smtp_port: int) -> None:
    """Bounces and out-of-office replies come from `MAIL FROM:<>` (RFC 5321, RFC 3834),
    whatever their headers say: accepted, so the server does not retry, and never a ticket."""
    message = mail(ENGLISH, "Re: your request")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        code, _ = client.mail("")
        assert code == 250
        client.rcpt(SUPPORT)
        code, answer = client.data(message.as_bytes(policy=policy.SMTP))
    assert (code, answer.decode()) == (250, "2.0.0 ignored")


def test_smtp_takes_a_message_with_lines_longer_than_rfc_5321s_thousand_bytes(
    container: Container, smtp_port: int
) -> None:
    """Real senders write HTML or JSON on one line; refusing it would bounce a request."""
    line = "x" * 3_000
    raw = (
        f"From: {LEARNER}\r\nTo: {SUPPORT}\r\nSubject: One long line\r\n"
        f"Message-ID: <long-line@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 7bit\r\n\r\n{ENGLISH}{line}\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail(LEARNER)
        client.rcpt(SUPPORT)
        code, said = client.data(raw)
    answer = f"{code} {said.decode()}"
    assert answer.startswith("250 2.0.0 created")
    reference = answer.split()[-1]
    assert line in container.desk.ticket(reference).description


def test_smtp_refuses_a_message_without_a_sender_and_keeps_listening(smtp_port: int) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail(LEARNER)
        client.rcpt(SUPPORT)
        code, _ = client.data(b"Subject: no from\r\n\r\n\xff\xfe garbage \x00\r\n")
    assert code == 554
    assert send(smtp_port, mail(ENGLISH, "Still here")).startswith("250 2.0.0 created")


# ---- HTTP ------------------------------------------------------------------------------------


@pytest.fixture
def app(app: Flask) -> Flask:
    app.config["TESTING"] = True
    return app


@pytest.mark.parametrize("body", [ENGLISH, ARABIC])
def test_http_door_applies_the_same_rules(container: Container, app: Flask, body: str) -> None:
    token = container.users.add("mta", Role.INTAKE)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}

    created = client.post(
        "/api/v1/inbound/email", data=mail(body, "Help").as_bytes(), headers=headers
    )
    reference = created.get_json()["reference"]
    followed = client.post(
        "/api/v1/inbound/email", data=mail("More", f"Re: {reference}").as_bytes(), headers=headers
    )
    escalated = client.post(
        "/api/v1/inbound/email", data=mail("Late!", reference, to=INFO).as_bytes(), headers=headers
    )
    again = client.post(
        "/api/v1/inbound/email", data=mail(body, "Help").as_bytes(), headers=headers
    )

    assert (created.status_code, created.get_json()["action"]) == (201, "created")
    assert (followed.status_code, followed.get_json()["action"]) == (200, "follow_up")
    assert (escalated.status_code, escalated.get_json()["action"]) == (200, "escalated")
    assert again.status_code == 201  # a new message: another request
    assert history(container, reference) == ["Submitted", "FollowUpReceived", "Escalated"]


def test_http_door_needs_an_intake_token(container: Container, app: Flask) -> None:
    client = app.test_client()
    agent = container.users.add("sara", Role.AGENT)
    raw = mail(ENGLISH, "Help").as_bytes()

    assert client.post("/api/v1/inbound/email", data=raw).status_code == 401
    forbidden = client.post(
        "/api/v1/inbound/email", data=raw, headers={"Authorization": f"Bearer {agent}"}
    )
    assert forbidden.status_code == 403


def test_http_door_refuses_what_is_not_an_email(container: Container, app: Flask) -> None:
    token = container.users.add("mta", Role.INTAKE)
    answer = app.test_client().post(
        "/api/v1/inbound/email",
        data=b"\x00\x01 not a message",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422
    assert answer.content_type == "application/problem+json"


def test_http_door_takes_messages_larger_than_ordinary_requests(
    container: Container, app: Flask
) -> None:
    token = container.users.add("mta", Role.INTAKE)
    message = mail(ENGLISH, "Screenshot attached")
    message.add_attachment(b"\x89PNG" + b"\0" * 1_000_000, "image", "png", filename="shot.png")
    answer = app.test_client().post(
        "/api/v1/inbound/email",
        data=message.as_bytes(),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 201


# ---- files -----------------------------------------------------------------------------------


def test_ingest_reads_eml_files_and_mailboxes(
    container: Container, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    eml = tmp_path / "request.eml"
    eml.write_bytes(mail(ARABIC, "مشكلة في الدخول").as_bytes())
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    box.add(mail(ENGLISH, "Cannot sign in"))
    box.add(mail("Hello, I have an idea.\nCategory: suggestion\nCourse: All", "Idea"))
    box.flush()
    box.close()

    result = CliRunner().invoke(ingest, [str(eml), str(tmp_path / "inbox.mbox")], env=cli_env)

    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.output.splitlines()]
    assert [(line[0].rsplit("/", 1)[-1], line[1]) for line in lines] == [
        ("request.eml#1", "created"),
        ("inbox.mbox#1", "created"),
        ("inbox.mbox#2", "created"),
    ]
    assert container.desk.ticket(lines[0][2]).language == "ar"
    assert container.desk.ticket(lines[2][2]).category is not None

    again = CliRunner().invoke(ingest, [str(eml)], env=cli_env)
    assert again.output.split("\t")[1] == "duplicate"


def test_ingest_refuses_a_broken_file_and_goes_on(
    container: Container, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    broken = tmp_path / "broken.eml"
    broken.write_bytes(b"\xff\xfe\x00garbage without headers")
    good = tmp_path / "good.eml"
    good.write_bytes(mail(ENGLISH, "Help").as_bytes())

    result = CliRunner().invoke(ingest, [str(broken), str(good)], env=cli_env)

    assert result.exit_code == 1
    assert "\trefused\t" in result.output
    assert "\tcreated\t" in result.output


def test_an_eml_saved_with_an_mbox_envelope_line_is_one_message(
    container: Container, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    body = "I cannot sign in.\nFrom the login page I get an error.\nCategory: login\nCourse: Python"
    eml = tmp_path / "saved.eml"
    envelope = b"From learner@example.org Mon Dec  7 10:00:00 2026\n"
    eml.write_bytes(envelope + mail(body, "Cannot sign in").as_bytes())

    result = CliRunner().invoke(ingest, [str(eml)], env=cli_env)

    assert result.exit_code == 0, result.output
    [line] = [line.split("\t") for line in result.output.splitlines()]
    assert line[1] == "created"
    assert "From the login page" in container.desk.ticket(line[2]).description


def test_ingest_goes_on_after_a_message_it_could_not_record_and_says_so(
    container: Container, tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    received = MailIntake.receive

    def failing_once(self: MailIntake, raw: bytes, *args: object, **kwargs: object) -> object:
        if b"Subject: Breaks" in raw:
            raise RuntimeError("the database went away")
        return received(self, raw, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(MailIntake, "receive", failing_once)
    box = mailbox.mbox(tmp_path / "inbox.mbox")
    for subject in ("Breaks", "Cannot sign in"):
        box.add(mail(ENGLISH, subject))
    box.flush()
    box.close()

    result = CliRunner().invoke(ingest, [str(tmp_path / "inbox.mbox")], env=cli_env)

    assert result.exit_code == 1
    lines = [line.split("\t")[1] for line in result.output.splitlines() if "\t" in line]
    assert lines == ["failed", "created"]
    assert "1 not recorded (ingest them again)" in result.output
