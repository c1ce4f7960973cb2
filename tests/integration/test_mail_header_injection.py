"""A Message-ID crafted to inject headers never reaches an email the desk sends.

The attack: an encoded word in the Message-ID of a request sent to support@ decodes to a line
break. Copied into In-Reply-To of the receipt, Python's header folding (before 3.11.10) wrote
it as a real line break: a Bcc to the attacker, or a body of their choosing, sent from support@.
"""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from application.bootstrap import Container
from application.mail.message import strict_message_id
from domain.categories import Category
from domain.request import Channel
from interfaces.mail.render import UnsafeHeaders, check_headers
from tests.builders import send_mail

INJECTING_ID = "<=?utf-8?q?x=0D=0ABcc=3A_attacker=40evil.example?=@h>"


def sent_emails(container: Container) -> list[EmailMessage]:
    """Relay and send everything recorded; the emails as written to the outbox folder."""
    parse = BytesParser(policy=policy.compat32).parsebytes
    return [parse(path.read_bytes()) for path in send_mail(container)]


def test_an_injecting_message_id_sent_by_smtp_is_never_echoed(
    container: Container, smtp_port: int
) -> None:
    request = EmailMessage()
    request["From"] = "learner@example.org"
    request["To"] = container.settings.support_address
    request["Subject"] = "Cannot log in"
    request.set_content("Category: login\nCourse: Python 101\n\nThe password is refused.")
    raw = request.as_bytes(policy=policy.SMTP).replace(
        b"Subject:", b"Message-ID: " + INJECTING_ID.encode() + b"\r\nSubject:", 1
    )
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.sendmail("learner@example.org", [container.settings.support_address], raw)

    emails = sent_emails(container)
    assert emails, "the receipt was not sent"
    for email in emails:
        assert email.get_all("Bcc") is None
        assert "attacker" not in email.as_string()
        assert email.get("In-Reply-To") is None  # nothing of the attacker's id is echoed


def test_an_injecting_id_recorded_earlier_is_not_echoed_either(container: Container) -> None:
    # Events recorded before the intake checked ids may hold anything.
    container.desk.submit(
        channel=Channel.EMAIL,
        requester_email="learner@example.org",
        category=Category.LOGIN,
        course="Python 101",
        subject="Cannot log in",
        description="The password is refused.",
        message_id=INJECTING_ID,
    )
    emails = sent_emails(container)
    assert emails and all(email.get_all("Bcc") is None for email in emails)
    assert all("attacker" not in email.as_string() for email in emails)


def test_headers_that_change_when_written_are_refused() -> None:
    # The renderer's own check, whatever this Python does with the value: either the written
    # message carries no extra header, or it is refused before it can be sent.
    message = EmailMessage()
    message["Subject"] = "Your request"
    message["In-Reply-To"] = INJECTING_ID
    try:
        check_headers(message)
    except UnsafeHeaders:
        return
    written = BytesParser(policy=policy.compat32).parsebytes(message.as_bytes())
    assert written.get_all("Bcc") is None


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("<CAB1234.abc@mail.gmail.com>", True),
        ("<a.b+c@[127.0.0.1]>", True),
        (INJECTING_ID, False),
        ("<x\r\nBcc: a@b>", False),
        ("<no-at-sign>", False),
        ("<" + "a" * 300 + "@h>", False),
        ("<a b@h>", False),
        ("", False),
    ],
)
def test_only_strict_message_ids_are_kept(value: str, kept: bool) -> None:
    assert (strict_message_id(value) is not None) is kept
