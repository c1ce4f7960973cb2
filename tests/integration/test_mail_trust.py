"""Mail is attributed to a requester only when a trusted mail server vouches for its sender
(P6.1, P6.2): attacks through the SMTP listener, the HTTP pipe and `supportdesk ingest`."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from application.bootstrap import Container
from application.mail.intake import MailIntake
from application.users import Role
from domain.ticket import Ticket
from interfaces.cli.mail import ingest
from interfaces.mail.listener import mail_listener
from interfaces.web import create_app
from tests.builders import submit
from tests.conftest import FakeClock

SUPPORT = "support@captainmama.org"
INFO = "info@captainmama.org"
LEARNER = "learner@example.org"
MX = "mx.captainmama.org"
PASS = f"{MX}; dmarc=pass header.from=example.org"


def raw_mail(
    subject: str,
    body: str = "Nobody answered me.",
    *,
    sender: str = LEARNER,
    to: str = SUPPORT,
    authentication: tuple[str, ...] = (),
) -> bytes:
    """A message as it reaches the desk; the topmost Authentication-Results come first."""
    message = EmailMessage()
    for result in authentication:
        message["Authentication-Results"] = result
    message["To"], message["Subject"] = to, subject
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    # The From field exactly as the attacker writes it, never re-rendered by Python.
    return f"From: {sender}\r\n".encode() + message.as_bytes(policy=policy.SMTP)


def late_ticket(container: Container, clock: FakeClock) -> str:
    """The learner's ticket, past its first-response deadline (P5.1)."""
    reference = submit(container, email=LEARNER)
    clock.now = container.desk.ticket(reference).first_response_due
    return reference


def history(container: Container, reference: str) -> list[Ticket.Event]:
    ticket = container.desk.ticket(reference)
    return list(container.desk.events.get(ticket.id))  # type: ignore[arg-type]


def follow_ups(container: Container, reference: str) -> list[tuple[str | None, str | None, bool]]:
    return [
        (e.sender, e.subject, e.verified)
        for e in history(container, reference)
        if isinstance(e, Ticket.FollowUpReceived)
    ]


def kinds(container: Container, reference: str) -> list[str]:
    return [type(e).__name__ for e in history(container, reference)]


def trusting(container: Container) -> MailIntake:
    return MailIntake(container.desk, container.engine, container.addresses, trusted_authserv=[MX])


@pytest.fixture
def smtp_port(container: Container) -> Iterator[int]:
    """The listener of a desk that trusts its mail server's verdicts."""
    listener = mail_listener(trusting(container), "127.0.0.1", 0)
    listener.start()
    yield listener.port
    listener.stop()


def send(port: int, raw: bytes, to: str = SUPPORT) -> str:
    """Deliver over SMTP, as the mail server would; the listener's answer to DATA."""
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.ehlo()
        client.mail("bounces@mx.example.net")
        client.rcpt(to)
        code, answer = client.data(raw)
    return f"{code} {answer.decode()}"


# ---- spoofed From -------------------------------------------------------------------------------


def test_a_spoofed_follow_up_by_smtp_is_recorded_unverified_and_escalates_nothing(
    container: Container, clock: FakeClock, smtp_port: int
) -> None:
    reference = late_ticket(container, clock)

    answer = send(smtp_port, raw_mail(f"Re: {reference} Close it"))

    assert answer == f"250 2.0.0 follow_up {reference}"
    assert kinds(container, reference) == ["Submitted", "FollowUpReceived"]
    assert follow_ups(container, reference) == [(LEARNER, f"Re: {reference} Close it", False)]


def test_a_spoofed_escalation_to_management_by_smtp_is_recorded_unverified(
    container: Container, clock: FakeClock, smtp_port: int
) -> None:
    reference = late_ticket(container, clock)

    answer = send(smtp_port, raw_mail(f"Escalate {reference}", to=INFO), to=INFO)

    assert answer == f"250 2.0.0 follow_up {reference}"
    assert kinds(container, reference) == ["Submitted", "FollowUpReceived"]
    assert follow_ups(container, reference) == [(LEARNER, f"Escalate {reference}", False)]


@pytest.mark.parametrize(
    "authentication",
    [
        # The sender's own header naming the trusted server, below the server's real one:
        (f"{MX}; dmarc=fail header.from=example.org", PASS),
        # Passes, but for the attacker's domain, or not the From domain exactly:
        (f"{MX}; dkim=pass header.d=evil.org; spf=pass smtp.mailfrom=x@evil.org",),
        (f"{MX}; dkim=pass header.d=mail.example.org",),
        # A pass written inside a comment the server copied from the sender:
        (f"{MX}; spf=neutral (helo said ; dmarc=pass header.from=example.org) smtp.helo=x",),
        # Another server's verdict:
        ("mx.evil.org; dmarc=pass header.from=example.org",),
    ],
)
def test_forged_or_misaligned_authentication_results_verify_nothing(
    container: Container, clock: FakeClock, smtp_port: int, authentication: tuple[str, ...]
) -> None:
    reference = late_ticket(container, clock)

    send(smtp_port, raw_mail(f"Re: {reference}", authentication=authentication))
    send(smtp_port, raw_mail(reference, to=INFO, authentication=authentication), to=INFO)

    assert kinds(container, reference) == ["Submitted", "FollowUpReceived", "FollowUpReceived"]
    assert [verified for _, _, verified in follow_ups(container, reference)] == [False, False]


@pytest.mark.parametrize(
    "verdict",
    [
        "dmarc=pass (p=reject) header.from=example.org",
        "dkim=pass header.d=example.org header.s=s1; spf=fail smtp.mailfrom=bounce.example.net",
        "spf=pass smtp.mailfrom=learner@example.org",
    ],
)
def test_mail_the_trusted_server_vouches_for_follows_up_and_escalates(
    container: Container, clock: FakeClock, smtp_port: int, verdict: str
) -> None:
    reference = late_ticket(container, clock)

    late = send(smtp_port, raw_mail(f"Re: {reference}", authentication=(f"{MX}; {verdict}",)))

    assert late == f"250 2.0.0 escalated {reference}"  # P6.1: after the deadline
    assert kinds(container, reference) == ["Submitted", "FollowUpReceived", "Escalated"]
    assert follow_ups(container, reference) == [(LEARNER, f"Re: {reference}", True)]


def test_with_no_trusted_server_configured_mail_is_never_verified(
    container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    # The embedded default: `ingest` builds the desk from the environment, which names none.
    reference = late_ticket(container, clock)
    eml = tmp_path / "late.eml"
    eml.write_bytes(raw_mail(f"Re: {reference}", authentication=(PASS,)))
    to_management = tmp_path / "to-info.eml"
    to_management.write_bytes(raw_mail(reference, to=INFO, authentication=(PASS,)))
    env = {
        "SUPPORTDESK_DATABASE_URL": container.settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(tmp_path),
        "SUPPORTDESK_MAIL_TRUSTED_AUTHSERV": "",
    }

    result = CliRunner().invoke(ingest, [str(eml), str(to_management)], env=env)

    assert result.exit_code == 0, result.output
    assert [line.split("\t")[1] for line in result.output.splitlines()] == ["follow_up"] * 2
    assert "no trusted mail server vouches for the sender" in result.output
    assert kinds(container, reference) == ["Submitted", "FollowUpReceived", "FollowUpReceived"]


def test_the_trusted_servers_are_named_by_the_setting(
    container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    reference = late_ticket(container, clock)
    eml = tmp_path / "late.eml"
    eml.write_bytes(raw_mail(f"Re: {reference}", authentication=(PASS,)))
    env = {
        "SUPPORTDESK_DATABASE_URL": container.settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(tmp_path),
        "SUPPORTDESK_MAIL_TRUSTED_AUTHSERV": f"relay.example.net, {MX}",
    }

    result = CliRunner().invoke(ingest, [str(eml)], env=env)

    assert result.output.split("\t")[1:3] == ["escalated", reference], result.output
    assert follow_ups(container, reference) == [(LEARNER, f"Re: {reference}", True)]


def test_an_unverified_reply_fills_in_no_missing_detail(
    container: Container, smtp_port: int
) -> None:
    created = send(smtp_port, raw_mail("Help", "I cannot sign in."))
    reference = created.split()[-1]

    send(smtp_port, raw_mail(f"Re: {reference}", "Category: suggestion\nCourse: Phishing 101"))

    ticket = container.desk.ticket(reference)
    assert ticket.missing_details == ["category", "course"] and ticket.course is None


# ---- From fields that say one thing to people and another to DMARC ------------------------------


@pytest.fixture
def pipe(container: Container) -> Iterator[tuple[Flask, dict[str, str]]]:
    container.intake = trusting(container)
    token = container.users.add("mta", Role.INTAKE)
    yield create_app(container=container), {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "sender",
    [
        "learner@=?utf-8?q?example.org?=",  # an encoded word inside the address
        "=?utf-8?q?learner?=@example.org",
        "learner@example.org, evil@evil.org",
    ],
)
def test_a_from_field_that_could_pose_as_the_requester_is_refused_by_the_http_pipe(
    container: Container, clock: FakeClock, pipe: tuple[Flask, dict[str, str]], sender: str
) -> None:
    app, headers = pipe
    reference = late_ticket(container, clock)
    auth = (f"{MX}; dmarc=pass header.from=evil.org",)

    answer = app.test_client().post(
        "/api/v1/inbound/email",
        data=raw_mail(reference, sender=sender, to=INFO, authentication=auth),
        headers=headers,
    )

    assert answer.status_code == 422, answer.get_json()
    assert kinds(container, reference) == ["Submitted"]


@pytest.mark.parametrize(
    "sender",
    [
        '"learner@example.org" <evil@evil.org>',
        # Unquoted: Python alone would read the first address; DMARC checks the second.
        "learner@example.org <evil@evil.org>",
        "Name@x <evil@evil.org>",
    ],
)
def test_a_display_name_showing_the_requesters_address_is_not_the_requester(
    container: Container, clock: FakeClock, pipe: tuple[Flask, dict[str, str]], sender: str
) -> None:
    app, headers = pipe
    reference = late_ticket(container, clock)
    auth = (f"{MX}; dmarc=pass header.from=evil.org",)

    answer = app.test_client().post(
        "/api/v1/inbound/email",
        data=raw_mail(f"Re: {reference}", sender=sender, authentication=auth),
        headers=headers,
    )

    assert answer.status_code == 201  # a request of evil@evil.org's own
    created = container.desk.ticket(answer.get_json()["reference"])
    assert (created.requester_email, created.requester_name) == ("evil@evil.org", None)
    assert kinds(container, reference) == ["Submitted"]


@pytest.mark.parametrize("domain", ["exаmple.org", "xn--exmple-4nf.org"])  # a Cyrillic а
def test_a_sender_domain_mixing_scripts_is_refused_by_smtp(
    container: Container, smtp_port: int, domain: str
) -> None:
    raw = raw_mail("Help", sender=f"learner@{domain}")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
        client.ehlo()
        client.mail("bounces@mx.example.net", options=["SMTPUTF8"])
        client.rcpt(SUPPORT)
        code, answer = client.data(raw)
    assert code == 554 and b"mixes" in answer


def test_controls_and_bidi_overrides_do_not_reach_a_mailed_request(
    container: Container, smtp_port: int
) -> None:
    raw = raw_mail(
        "Login \x1b[2Jfails \u202egnp.exe\u202c",
        "I cannot\x07 sign in \u2066now\u2069.\nCategory: login\nCourse: Python\x1b 101\n",
        sender="=?utf-8?q?Sara=1B=07=E2=80=AE?= <sara@example.org>",
    )

    reference = send(smtp_port, raw).split()[-1]

    ticket = container.desk.ticket(reference)
    assert ticket.subject == "Login [2Jfails gnp.exe"
    assert ticket.description.startswith("I cannot sign in now.\n")
    assert (ticket.course, ticket.requester_name) == ("Python 101", "Sara")
