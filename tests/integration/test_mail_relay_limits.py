"""The desk cannot be used to mail other people: receipts repeat nothing a requester typed, a
mailbox gets at most its hour's emails, only allowed clients deliver to `supportdesk smtpd`,
and mail-failure logs carry no address (P3.3, P7.3)."""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from click.testing import CliRunner
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.mail.address import address_tag
from application.mail.bursts import MAX_NEW_REQUESTS
from application.mail.mailer import Mailer
from application.mail.notifications import Addresses
from domain.escalation import EscalationReason
from interfaces.cli.mail import mailer_group, smtpd
from interfaces.mail.listener import ListeningController, mail_listener
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import SmtpSender
from interfaces.mail.wiring import mail_broker, mailer, outbox_relay
from interfaces.web import create_app
from interfaces.web.ratelimit import LIMIT_KEY
from tests.builders import submit
from tests.conftest import FakeClock

SUPPORT = "support@captainmama.org"
VICTIM = "victim@example.org"
PHISHING = {
    "name": "Captain Mama Security",
    "subject": "Your account is suspended",
    "course": "Verify now at https://captainmama-login.example",
    "description": "Your certificate is withheld until you sign in at the link above.",
}


@pytest.fixture
def client(container: Container) -> FlaskClient:
    app = create_app(container=container)
    app.config[LIMIT_KEY] = "1000/minute"
    return app.test_client()


def request_for(email: str, **typed: str) -> dict[str, str]:
    return {"email": email, "category": "login", "language": "en", **PHISHING, **typed}


def relay_and_send(container: Container) -> Mailer:
    """Relay every recorded event and send what it causes (`.eml` files); the mailer."""
    broker = mail_broker(container.settings, f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    relay, sending = outbox_relay(container, broker), mailer(container, broker)
    while relay.relay_once():
        pass
    sending.drain()
    return sending


def outbox(container: Container) -> list[EmailMessage]:
    folder = Path(container.settings.smtp_url.removeprefix("file:"))
    parse = BytesParser(policy=policy.default).parsebytes
    return [parse(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]  # type: ignore[misc]


def shown(message: EmailMessage) -> str:
    """What the reader sees: the decoded text and HTML parts."""
    return "\n".join(
        str(part.get_content())  # type: ignore[union-attr]
        for part in (message.get_body(("plain",)), message.get_body(("html",)))
    )


def cli_env(container: Container, tmp_path: Path) -> dict[str, str]:
    return {
        "SUPPORTDESK_DATABASE_URL": container.settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(tmp_path),
        "SUPPORTDESK_SMTP_URL": container.settings.smtp_url,
    }


# ---- what a receipt says -----------------------------------------------------------------------


def test_a_receipt_to_an_address_someone_typed_repeats_nothing_they_wrote(
    container: Container, client: FlaskClient
) -> None:
    answer = client.post("/api/v1/tickets", json=request_for(VICTIM))
    reference = answer.get_json()["reference"]

    relay_and_send(container)

    [receipt] = outbox(container)
    assert str(receipt["To"]) == VICTIM
    text = shown(receipt)
    assert not [typed for typed in PHISHING.values() if typed in text]
    assert "captainmama-login" not in text and "suspended" not in text
    # What P3.3 promises is all there, in both languages: the reference and the times.
    assert text.count(reference) >= 2
    assert "Wednesday 4 November 2026, 10:00 Riyadh time" in text
    assert "الأربعاء 4 نوفمبر 2026، الساعة 10:00 بتوقيت الرياض" in text
    assert "Problem signing in" in text and "مشكلة في تسجيل الدخول" in text


# ---- at most so many emails to one mailbox in an hour ------------------------------------------


def test_the_form_cannot_make_the_desk_flood_one_mailbox(
    container: Container, client: FlaskClient, clock: FakeClock, tmp_path: Path
) -> None:
    # The same mailbox, however its address is written.
    addresses = [VICTIM, "Victim@example.org", "victim+promo@example.org"] * 4
    for address in addresses:
        assert client.post("/api/v1/tickets", json=request_for(address)).status_code == 201

    sending = relay_and_send(container)

    assert len(outbox(container)) == 10
    held = sending.dead_letters()
    assert len(held) == 2 and all("RecipientLimitReached" in h.error for h in held)
    listed = CliRunner().invoke(mailer_group, ["dead-letters"], env=cli_env(container, tmp_path))
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("RecipientLimitReached: held: 10 emails") == 2

    # Sent again within the hour they stay held; an hour later they go.
    assert sending.requeue() == 2 and sending.drain() == 2
    assert len(sending.dead_letters()) == 2 and len(outbox(container)) == 10
    clock.advance(hours=1)
    assert sending.requeue() == 2 and sending.drain() == 2
    assert sending.dead_letters() == [] and len(outbox(container)) == 12


def test_mail_cannot_make_the_desk_flood_one_mailbox(container: Container) -> None:
    listener = mail_listener(container.intake, "127.0.0.1", 0)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
            for number in range(11):
                request = EmailMessage()
                request["From"], request["To"] = VICTIM, SUPPORT
                request["Subject"] = f"Suspended {number}"
                request["Message-ID"] = make_msgid(domain="example.org")
                request.set_content("Category: login\nCourse: https://captainmama-login.example")
                smtp.send_message(request)
    finally:
        listener.stop()

    sending = relay_and_send(container)

    # Past a few new requests within the hour, a sender's mail joins their newest ticket: the
    # flood stops at the intake, before the mailbox's hourly limit is reached.
    sent = outbox(container)
    assert len(sent) == MAX_NEW_REQUESTS and {str(m["To"]) for m in sent} == {VICTIM}
    assert not any("captainmama-login" in shown(m) for m in sent)
    assert sending.dead_letters() == []
    tickets = [container.desk.ticket(str(m["X-Supportdesk-Reference"])) for m in sent]
    assert sorted(t.follow_ups for t in tickets) == [0, 0, 11 - MAX_NEW_REQUESTS]


def test_the_desks_own_addresses_are_not_bounded(container: Container) -> None:
    desk = container.desk
    reference = submit(container, email=VICTIM)
    for number in range(12):
        desk.escalate(
            reference, reason=EscalationReason.AGENT, actor="agent.sara", note=f"{number}"
        )

    relay_and_send(container)

    to_management = [m for m in outbox(container) if str(m["To"]) == "info@captainmama.org"]
    assert len(to_management) == 12


# ---- who may deliver to `supportdesk smtpd` ----------------------------------------------------


def test_smtpd_refuses_mail_from_a_client_outside_the_allowed_networks(
    container: Container,
) -> None:
    listener = mail_listener(container.intake, "127.0.0.1", 0, ["10.0.0.0/8", "192.0.2.7"])
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
            smtp.ehlo()
            refused, _ = smtp.mail(VICTIM)
            rcpt, _ = smtp.rcpt(SUPPORT)
    finally:
        listener.stop()

    assert refused == 550 and rcpt == 503  # no transaction was opened
    assert container.desk.recorder.max_notification_id() in (None, 0)


def test_smtpd_takes_mail_from_an_allowed_network(container: Container) -> None:
    listener = mail_listener(container.intake, "127.0.0.1", 0, ["127.0.0.0/8"])
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as smtp:
            request = EmailMessage()
            request["From"], request["To"], request["Subject"] = VICTIM, SUPPORT, "Help"
            request.set_content("Category: login\nCourse: Python 101")
            assert smtp.send_message(request) == {}
    finally:
        listener.stop()


def test_smtpd_will_not_start_with_allowed_clients_it_cannot_read(
    container: Container, tmp_path: Path
) -> None:
    env = cli_env(container, tmp_path) | {"SUPPORTDESK_SMTPD_ALLOWED_CLIENTS": "10.0.0.0/8,mx"}
    result = CliRunner().invoke(smtpd, ["--port", "0"], env=env)
    assert result.exit_code == 1 and "SUPPORTDESK_SMTPD_ALLOWED_CLIENTS" in result.output


# ---- what the logs say when mail fails ---------------------------------------------------------


class RefusingServer:
    """A mail server that repeats the recipient's address in its refusals."""

    def __init__(self) -> None:
        self.busy = 1  # DATA answers 451 this many times first

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("gone"):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.busy:
            self.busy -= 1
            return f"451 4.2.2 Mailbox of {envelope.rcpt_tos[0]} is full, try later"
        return "250 2.0.0 OK"


@pytest.fixture
def refusing_port() -> Iterator[int]:
    controller = ListeningController(RefusingServer(), hostname="127.0.0.1", port=0)
    controller.start()
    yield controller.port
    controller.stop()


def test_mail_failure_logs_name_a_hash_never_the_recipients_address(
    container: Container, refusing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    for address in ("gone.learner@example.org", "busy.learner@example.org"):
        submit(container, email=address)
    broker = mail_broker(container.settings, f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    outbox_relay(container, broker).relay_once()
    own = Addresses(SUPPORT, "info@captainmama.org", "info@captainmama.org")
    sending = Mailer(
        container.desk,
        container.engine,
        broker,
        MailRenderer(own),
        SmtpSender("127.0.0.1", refusing_port, timeout=5),
        first_backoff=0.01,
    )

    with caplog.at_level(logging.WARNING, logger="application.mail.mailer"):
        assert sending.drain() == 2

    logged = caplog.text
    assert "not sent" in logged and "dead letter" in logged
    assert "learner@example.org" not in logged.lower()
    assert address_tag("gone.learner@example.org") in logged
    assert address_tag("busy.learner@example.org") in logged
