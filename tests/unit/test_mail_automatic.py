"""Which inbound messages a robot wrote (RFC 3834, RFC 3464, RFC 6522): each marker on its own,
and people's messages that look a little like robots' but are requests."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from application.mail.automatic import is_automatic


def message(*fields: tuple[str, str], body: str = "Hello", subject: str = "Help") -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "learner@example.org", "support@x.org", subject
    for name, value in fields:
        mail[name] = value
    mail.set_content(body)
    return mail


def robot(mail: EmailMessage, sender: str = "learner@example.org") -> bool:
    return is_automatic(mail, sender, str(mail["Subject"]))


@pytest.mark.parametrize(
    "fields",
    [
        (("Auto-Submitted", "auto-replied"),),
        (("Precedence", "bulk"),),
        (("Precedence", "list"),),
        (("X-Autoreply", "yes"),),
        (("X-Auto-Response-Suppress", "All"),),
        (("Return-Path", "<>"),),
    ],
)
def test_a_robots_header_marks_it(fields: tuple[tuple[str, str], ...]) -> None:
    assert robot(message(*fields))


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.org",
        "postmaster@example.org",
        "post_master@vtext.example.com",
        "no-reply@sns.example.com",
        "noreply@example.org",
        "do-not-reply@example.gov",
        "DoNotReply@example.org",
        "noreply-dmarc@example.org",
        "<>",
        "Mail Delivery System <>",
    ],
)
def test_a_robots_mailbox_marks_it(sender: str) -> None:
    assert robot(message(), sender)


def test_a_list_servers_mailbox_marks_it_only_with_list_headers() -> None:
    list_robot = "courses-request@lists.example.org"
    assert robot(message(("List-Id", "<courses.lists.example.org>")), list_robot)
    assert robot(message(("X-MLServer", "fml [fml 4.0.3]")), "neko-admin@example.org")
    # Without them, an address that merely ends so is a person's.
    assert not robot(message(), "it-admin@school.example")
    assert not robot(message(), "payment-request@example.org")


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Your request",
        "Out of Office AutoReply: Your request",
        "رد تلقائي: تم استلام طلبك",
        "الرد التلقائي: تم استلام طلبك",
        "Automatyczna odpowiedź: Faktura",
        "Undeliverable: Your request",
        "Unzustellbar: Ihre Anfrage",
        "Non remis : votre demande",
        "غير قابل للتسليم: تم استلام طلبك",
        "Delivery Status Notification (Failure)",
        "Delivery Status",
        "Mail delivery failed: returning message to sender",
        "Mail Delivery Warning",
        "Delivery Failure",
        "Returned mail: see transcript for details",
        "Mail could not be delivered",
        "RE: Your message awaits moderator approval : non remis(delivery failed)",
        "complaint about message from 192.0.2.1",
    ],
)
def test_a_robots_subject_marks_it(subject: str) -> None:
    assert robot(message(subject=subject))


@pytest.mark.parametrize(
    "subject",
    [
        "Delivery problem: my certificate never arrived",
        "Re: Automatic replies from your system",
        "Fwd: Returned mail: see transcript for details",  # a person asks about a bounce
        "لم تصلني رسالة التأكيد",
        "My message could not be delivered to the teacher",
    ],
)
def test_a_persons_subject_about_mail_is_a_persons(subject: str) -> None:
    assert not robot(message(subject=subject))


def test_a_report_part_marks_it_even_inside_a_mixed_message() -> None:
    raw = (
        b"From: Mail Delivery System <mta@example.org>\r\nSubject: Notice\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nYour message was not delivered.\r\n"
        b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nSubject: Help\r\n\r\n--b--\r\n"
    )
    mail = message_from_bytes(raw, policy=policy.default)
    assert is_automatic(mail, "mta@example.org", "Notice")


def test_a_bounce_a_person_forwards_as_an_attachment_is_the_persons() -> None:
    bounce = message_from_bytes(
        b"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undeliverable: Help\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
        b"--x\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        b"--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n\r\n--x--\r\n",
        policy=policy.default,
    )
    forward = message(subject="Fwd: what is this?", body="I got this, is my address wrong?")
    forward.add_attachment(bounce)
    assert not robot(forward)
    assert robot(bounce, "MAILER-DAEMON@mx.example.org")
