"""Mail out, end to end: event → relay → broker → mailer → a real SMTP server (P3.3, P5.4, P6.2).

Every test runs on SQLite and PostgreSQL, and on the in-process broker and real RabbitMQ.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session
from kombu import Connection

from application.bootstrap import Container
from application.mail.mailer import Disposition, Mailer
from application.mail.notifications import emails_for
from application.mail.outbox import OutboxRelay, positions_table
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity
from domain.ticket import Ticket
from interfaces.mail.broker import HandlingFailed, MailBroker
from interfaces.mail.listener import ListeningController
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import SmtpSender
from tests.builders import ADDRESSES, submit
from tests.conftest import FakeClock, service_missing

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"


class SmtpSink:
    """A real SMTP server's handler that keeps what it receives; it can refuse on demand."""

    def __init__(self) -> None:
        self.received: list[EmailMessage] = []
        self.replies: list[str] = []  # the next DATA answers, before accepting again

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.replies:
            return self.replies.pop(0)
        raw = envelope.original_content or b""
        self.received.append(BytesParser(policy=policy.default).parsebytes(raw))
        return "250 2.0.0 OK"

    def kinds(self) -> Counter[str]:
        """How many emails of each kind arrived (the kind opens the stable Message-ID)."""
        return Counter(str(m["Message-ID"]).strip("<").split(".", 1)[0] for m in self.received)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    controller = ListeningController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    yield sink, controller.port
    controller.stop()


def rabbitmq_reachable() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError as error:
        service_missing("RabbitMQ", error)


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
def broker(request: pytest.FixtureRequest) -> Iterator[MailBroker]:
    """The mail queue, with a name of its own so parallel runs never share it."""
    if request.param == "rabbitmq":
        rabbitmq_reachable()
        url = RABBITMQ_URL
    else:
        url = "memory://"
    built = MailBroker(url, f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    yield built
    with Connection(url) as connection:
        built.queue(connection.default_channel).delete()
        built.exchange(connection.default_channel).delete()


def make_mailer(container: Container, broker: MailBroker, port: int, **options: float) -> Mailer:
    return Mailer(
        container.desk,
        container.engine,
        broker,
        MailRenderer(ADDRESSES, container.settings.timezone),
        SmtpSender("127.0.0.1", port, timeout=5),
        first_backoff=0.01,
        **options,  # type: ignore[arg-type]
    )


def relay_all(relay: OutboxRelay) -> int:
    published = 0
    while batch := relay.relay_once():
        published += batch
    return published


def test_receipt_arrives_with_reference_and_due_instant_and_is_acknowledged(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    reference = submit(container)
    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)

    assert relay.relay_once() == 1
    assert make_mailer(container, broker, port).drain() == 1

    [receipt] = sink.received
    assert receipt["To"] == "learner@example.org"
    assert reference in str(receipt["Subject"])
    text = receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Submitted Sunday 10:00 Riyadh: 24 business hours later is Wednesday 10:00 (P5.1).
    assert "Wednesday 4 November 2026, 10:00 Riyadh time" in text
    assert "الأربعاء 4 نوفمبر 2026، الساعة 10:00 بتوقيت الرياض" in text
    assert text.index("استلمنا طلبك") < text.index("We received your support request")
    assert text.count(reference) >= 2

    ticket = container.desk.ticket(reference)
    assert ticket.acknowledgement_message_id == receipt["Message-ID"]
    history = [type(e).__name__ for e in container.desk.events.get(ticket.id)]
    assert history == ["Submitted", "Acknowledged"]


def test_each_email_of_the_policy_is_sent_once_even_when_published_again(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int], clock: FakeClock
) -> None:
    sink, port = smtp
    desk = container.desk
    problem = submit(container)
    suggestion = submit(container, Category.SUGGESTION)
    emailed = desk.submit(
        channel=Channel.EMAIL,
        requester_email="other@example.org",
        category=None,
        course=None,
        subject="Help",
        description="It does not work.",
    ).reference
    clock.advance(hours=1)
    desk.respond(problem, message="Please try again now.", actor="agent.sara")
    desk.classify(problem, complexity=Complexity.COMPLEX, actor="agent.sara")
    later = desk.ticket(problem).resolution_due + timedelta(days=2)
    desk.extend_deadline(problem, resolution_due=later, reason="Waiting on a vendor", actor="sara")
    desk.escalate(problem, reason=EscalationReason.AGENT, actor="agent.sara", note="Needs eyes")
    desk.resolve(problem, summary="Password reset.", actor="agent.sara")
    desk.forward_to_management(suggestion, department="Product", note="Good idea", actor="sara")

    relay = OutboxRelay(desk, container.engine, broker, ADDRESSES)
    mailer = make_mailer(container, broker, port)
    published = relay_all(relay)
    assert mailer.drain() == published == 10

    # Published again from the start (a relay that crashed before storing its position):
    with container.engine.begin() as connection:
        connection.execute(positions_table.update().values(position=0))
    assert relay_all(relay) == 10
    assert mailer.drain() == 10

    assert sink.kinds() == {
        "receipt": 3,
        "details_request": 1,
        "response": 1,
        "classified_complex": 1,
        "extension": 1,
        "escalation": 1,
        "resolution": 1,
        "suggestion_referral": 1,
    }
    to_management = [m for m in sink.received if m["To"] == "info@captainmama.org"]
    assert len(to_management) == 2  # the escalation notice (P6.2) and the referral (P3.5)
    assert all(desk.ticket(r).acknowledgement_message_id for r in (problem, suggestion, emailed))


def test_a_duplicate_delivery_is_sent_once(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    reference = submit(container)
    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)
    relay.relay_once()
    ticket = container.desk.ticket(reference)
    [submitted] = container.desk.events.get(ticket.id)
    assert isinstance(submitted, Ticket.Event)
    [receipt] = emails_for(submitted, ticket, ADDRESSES)
    broker.publish([receipt])  # the broker delivers the same message twice

    mailer = make_mailer(container, broker, port)
    dispositions: list[object] = []
    broker.drain(lambda payload: dispositions.append(mailer.handle(payload)))

    assert dispositions == [Disposition.SENT, Disposition.DUPLICATE]
    assert len(sink.received) == 1
    assert container.desk.ticket(reference).acknowledgement_message_id is not None


def test_a_mail_server_asking_to_retry_gets_the_email_once(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    sink.replies = ["451 4.3.0 Try again later", "421 4.7.0 Busy"]

    assert make_mailer(container, broker, port).drain() == 1
    assert len(sink.received) == 1


def test_an_email_refused_for_good_becomes_a_dead_letter_and_can_be_sent_again(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    reference = submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    sink.replies = ["554 5.7.1 Rejected"]
    mailer = make_mailer(container, broker, port)

    assert mailer.drain() == 1
    [letter] = mailer.dead_letters()
    assert (letter.kind, letter.reference, letter.attempts) == ("receipt", reference, 1)
    assert "554" in letter.error
    assert container.desk.ticket(reference).acknowledgement_message_id is None

    assert mailer.requeue() == 1
    assert mailer.drain() == 1
    assert mailer.dead_letters() == []
    assert len(sink.received) == 1
    assert container.desk.ticket(reference).acknowledgement_message_id is not None


def test_an_email_that_keeps_failing_is_dead_lettered_after_its_tries(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    sink.replies = ["451 4.3.0 Later"] * 3
    mailer = make_mailer(container, broker, port, max_attempts=3)

    assert mailer.drain() == 1
    [letter] = mailer.dead_letters()
    assert letter.attempts == 3
    assert sink.received == []


def test_a_message_is_acknowledged_only_after_its_email_was_sent(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    reference = submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]
    stopping = threading.Event()
    stopping.set()
    down = make_mailer(container, broker, dead_port)

    # The mail server is down and the mailer is told to stop while waiting to retry:
    with pytest.raises(HandlingFailed):
        broker.drain(lambda payload: down.handle(payload, stopping))

    assert make_mailer(container, broker, port).drain() == 1  # the message was still queued
    assert len(sink.received) == 1
    assert container.desk.ticket(reference).acknowledgement_message_id is not None


def test_html_part_escapes_what_the_requester_wrote(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    reference = container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="learner@example.org",
        category=Category.LOGIN,
        course='<img src=x onerror="alert(1)">',
        subject="<script>alert('x')</script>",
        description="…",
    ).reference
    container.desk.escalate(reference, reason=EscalationReason.AGENT, actor="agent.sara")
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    make_mailer(container, broker, port).drain()

    # The receipt repeats nothing the requester wrote; management's notice shows it escaped.
    receipt, notice = sorted(sink.received, key=lambda m: str(m["To"]) != "learner@example.org")
    for kind in ("plain", "html"):
        shown = receipt.get_body((kind,)).get_content()  # type: ignore[union-attr]
        assert "script" not in shown and "img" not in shown
    html = notice.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html and "&lt;img src=x" in html


def test_sent_emails_are_recorded_by_message_id(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    _, port = smtp
    submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    make_mailer(container, broker, port).drain()
    with container.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT message_id, kind FROM mail_sent")).all()
    assert [(r.message_id.split(".")[0], r.kind) for r in rows] == [("receipt", "receipt")]


def test_running_relay_and_mailer_deliver_as_requests_arrive(
    container: Container, broker: MailBroker, smtp: tuple[SmtpSink, int]
) -> None:
    sink, port = smtp
    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES, poll_interval=0.02)
    mailer = make_mailer(container, broker, port)
    stop = threading.Event()
    workers = [threading.Thread(target=w.run, args=(stop,)) for w in (relay, mailer)]
    for worker in workers:
        worker.start()
    references = [submit(container) for _ in range(3)]
    deadline = time.monotonic() + 20
    while len(sink.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    for worker in workers:
        worker.join(10)

    assert not any(worker.is_alive() for worker in workers)
    assert sorted(str(m["X-Supportdesk-Reference"]) for m in sink.received) == sorted(references)
    assert all(container.desk.ticket(r).acknowledgement_message_id for r in references)
