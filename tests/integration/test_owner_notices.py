"""A ticket's owner is told by email when the requester writes again (P6.1) and when a deadline
is at risk (P5), within business hours only (P4): what is made while the desk is closed is held,
durably, and sent at the next business opening, holidays included. Emails to requesters and to
management go at once, as before."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from kombu import Connection

from application.bootstrap import Container, bootstrap
from application.mail.mailer import Mailer
from application.mail.notifications import EmailKind, OutgoingEmail, OwnerMail
from application.mail.outbox import BrokerUnavailable, OutboxRelay, held_table, pending_table
from application.runtime.leadership import Led
from application.sla_watch import SLA_WATCH, SlaWatcher
from application.users import Role
from domain.deadlines import Deadline
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.ticket import Ticket
from interfaces.mail.broker import MailBroker
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import FileSender
from interfaces.workers import relay, sla_watcher, workers
from tests.builders import (
    ADDRESSES,
    END_OF_TIME,
    LEARNER,
    RABBITMQ,
    Proxy,
    caught_up,
    record_extension,
    riyadh,
    submit,
)
from tests.conftest import FakeClock, service_missing
from tests.waiting import DEADLINE, join

SARA = "sara"
SARA_ADDRESS = "sara@captainmama.org"
FOLLOW_UP = "ما زلت لا أستطيع الدخول، I still cannot sign in"
# Submitted Sunday 1 November 2026, 10:00 in Riyadh (the `clock` fixture): both deadlines of a
# simple problem are due 24 business hours on, Wednesday 10:00; 75 % of them are used by
# Tuesday 12:00 (P5).
AT_RISK_FROM = riyadh(11, 3, 12)
DUE = riyadh(11, 4, 10)


@pytest.fixture
def broker() -> Iterator[MailBroker]:
    built = MailBroker("memory://", f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    yield built
    with Connection("memory://") as connection:
        built.queue(connection.default_channel).delete()


def queued(broker: MailBroker) -> list[OutgoingEmail]:
    emails: list[OutgoingEmail] = []
    broker.drain(lambda body: emails.append(OutgoingEmail.from_payload(body)))
    return emails


def owned(container: Container, owner: str = SARA, email: str | None = SARA_ADDRESS) -> str:
    """A request owned by an agent of the team with this address; its reference."""
    container.users.add(owner, Role.AGENT, email=email)
    reference = submit(container)
    container.desk.assign(reference, assignee=owner, actor=owner)
    return reference


def follow_up(container: Container, reference: str, *, verified: bool = True) -> None:
    container.desk.receive_follow_up(
        reference,
        message=FOLLOW_UP,
        channel=Channel.EMAIL,
        sender=LEARNER,
        subject="Re: still locked out",
        verified=verified,
    )


def to_owners(emails: Sequence[OutgoingEmail]) -> list[OutgoingEmail]:
    return [e for e in emails if e.kind in (EmailKind.OWNER_FOLLOW_UP, EmailKind.OWNER_AT_RISK)]


def plain(container: Container, email: OutgoingEmail) -> str:
    message = MailRenderer(ADDRESSES, container.settings.timezone)(email)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


class Switchable:
    """The in-process broker behind a switch: off, it fails as an unreachable broker does."""

    def __init__(self, broker: MailBroker) -> None:
        self.broker = broker
        self.up = True

    @property
    def durable(self) -> bool:
        return self.broker.durable

    def publish(self, emails: Sequence[OutgoingEmail]) -> None:
        if not self.up:
            raise BrokerUnavailable("switched off")
        self.broker.publish(emails)


# ---- what the owner is told ------------------------------------------------------------------


def test_a_follow_up_on_an_owned_ticket_emails_its_owner_and_only_them(
    container: Container, broker: MailBroker
) -> None:
    reference = owned(container)
    mail = relay(container, broker)
    mail.relay_once()
    queued(broker)  # the receipt
    follow_up(container, reference, verified=False)

    assert mail.relay_once() == 1
    [email] = queued(broker)
    version = container.desk.ticket(reference).version
    assert (email.kind, email.to) == (EmailKind.OWNER_FOLLOW_UP, SARA_ADDRESS)
    assert email.message_id == f"owner_follow_up.{version}.{reference}"
    assert email.in_reply_to is None
    assert email.context == {
        "received_at": "2026-11-01T07:00:00+00:00",  # Sunday, 10:00 in Riyadh
        "channel": "email",
        "verified": "no",
        "subject": "Re: still locked out",
        "message": FOLLOW_UP,
    }
    text = plain(container, email)
    assert text.index("كتب مقدم الطلب مجدداً") < text.index("The requester wrote again")
    assert "Received: Sunday 1 November 2026, 10:00 Riyadh time" in text
    assert "Channel: email" in text
    assert "Sender verified: no, it is not known to come from the requester" in text
    assert "Email subject: Re: still locked out" in text
    assert text.count(FOLLOW_UP) == 2  # under the Arabic and under the English
    assert reference in text


def test_a_follow_up_by_the_verified_requester_says_so(
    container: Container, broker: MailBroker
) -> None:
    reference = owned(container)
    follow_up(container, reference)
    relay(container, broker).relay_once()
    [email] = to_owners(queued(broker))
    assert email.context["verified"] == "yes"
    assert "Sender verified: yes, it comes from the requester" in plain(container, email)


def test_the_owner_sees_the_requester_words_without_what_would_reorder_them(
    container: Container, broker: MailBroker
) -> None:
    reference = owned(container)
    container.desk.receive_follow_up(
        reference,
        message="Pay \u202eCM-0000\u202c now\nor not",
        channel=Channel.WEB_FORM,
    )
    relay(container, broker).relay_once()
    [email] = to_owners(queued(broker))
    assert (email.context["message"], email.context["subject"]) == ("Pay CM-0000 now\nor not", None)
    assert email.context["channel"] == "web_form"
    assert "Channel: the web form" in plain(container, email)


def test_a_follow_up_on_a_ticket_nobody_owns_emails_nobody(
    container: Container, broker: MailBroker
) -> None:
    reference = submit(container)
    follow_up(container, reference)
    relay(container, broker).relay_once()
    assert [e.kind for e in queued(broker)] == [EmailKind.RECEIPT]


def test_the_owner_is_the_one_who_owned_the_ticket_when_the_requester_wrote(
    container: Container, broker: MailBroker
) -> None:
    reference = owned(container)
    container.users.add("omar", Role.AGENT, email="omar@captainmama.org")
    follow_up(container, reference)
    container.desk.assign(reference, assignee="omar", actor="lead", reassign=True)
    follow_up(container, reference)
    relay(container, broker).relay_once()
    assert [e.to for e in to_owners(queued(broker))] == [SARA_ADDRESS, "omar@captainmama.org"]


def test_the_owner_address_is_the_one_held_when_the_email_is_made(
    container: Container, broker: MailBroker
) -> None:
    reference = owned(container)
    follow_up(container, reference)
    container.users.set_email(SARA, "sara.new@captainmama.org")  # `supportdesk users email`
    relay(container, broker).relay_once()
    assert [e.to for e in to_owners(queued(broker))] == ["sara.new@captainmama.org"]


@pytest.mark.parametrize("why", ["no address", "revoked"])
def test_an_owner_who_cannot_be_written_to_gets_nothing_and_it_is_said_once(
    container: Container, broker: MailBroker, caplog: pytest.LogCaptureFixture, why: str
) -> None:
    reference = owned(container, email=None if why == "no address" else SARA_ADDRESS)
    if why == "revoked":
        container.users.revoke(SARA)
    follow_up(container, reference)
    switch = Switchable(broker)
    mail = OutboxRelay(
        container.desk,
        container.engine,
        switch,
        ADDRESSES,
        owners=OwnerMail(container.users, container.calendar),
    )
    caplog.set_level(logging.INFO, logger="application.mail")
    switch.up = False
    with pytest.raises(BrokerUnavailable):
        mail.relay_once()  # the batch is read twice: the receipt could not go the first time
    switch.up = True
    mail.relay_once()

    assert [e.kind for e in queued(broker)] == [EmailKind.RECEIPT]
    said = [r for r in caplog.records if "owner" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.INFO]
    expected = "has no email address" if why == "no address" else "is no longer active"
    assert expected in said[0].getMessage() and reference in said[0].getMessage()
    assert "@" not in said[0].getMessage()


# ---- business hours (P4) ---------------------------------------------------------------------


def test_an_owner_email_made_after_hours_waits_for_the_opening_and_others_do_not(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    mail = relay(container, broker)
    mail.relay_once()
    queued(broker)
    clock.now = riyadh(11, 5, 18)  # Thursday evening, after the deadlines passed
    follow_up(container, reference)  # the late ticket chased: escalated too (P6)
    container.desk.respond(reference, message="We are on it", actor=SARA)

    assert mail.relay_once() == 2
    assert sorted((e.kind, e.to) for e in queued(broker)) == [
        (EmailKind.ESCALATION, ADDRESSES.management),
        (EmailKind.RESPONSE, LEARNER),
    ]
    [held] = mail.held()
    assert (held.email.kind, held.email.to) == (EmailKind.OWNER_FOLLOW_UP, SARA_ADDRESS)
    assert held.due_at == riyadh(11, 8, 9)  # Sunday, 09:00: the weekend is Friday and Saturday
    assert mail.position() == container.desk.recorder.max_notification_id()

    clock.now = riyadh(11, 8, 8, 59)
    assert mail.relay_once() == 0
    assert queued(broker) == []
    clock.now = riyadh(11, 8, 9)
    assert mail.relay_once() == 1
    assert queued(broker) == [held.email]
    assert mail.held() == []
    assert mail.relay_once() == 0


def test_a_held_owner_email_waits_past_the_holidays(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    clock.now = riyadh(5, 25, 10)  # Monday; Eid al-Adha closes the desk until Monday 1 June
    reference = owned(container)
    clock.now = riyadh(5, 25, 17, 30)
    follow_up(container, reference)
    mail = relay(container, broker)
    mail.relay_once()

    [held] = mail.held()
    assert held.due_at == riyadh(6, 1, 9)
    for day in (26, 27, 28, 31):
        clock.now = riyadh(5, day, 10)
        assert mail.relay_once() == 0
    clock.now = riyadh(6, 1, 9, 30)
    assert mail.relay_once() == 1


def test_held_emails_survive_a_restart_and_are_sent_once(
    container: Container, broker: MailBroker, clock: FakeClock, tmp_path: Any
) -> None:
    reference = owned(container)
    clock.now = riyadh(11, 1, 20)  # Sunday evening
    follow_up(container, reference)
    version = container.desk.ticket(reference).version
    relay(container, broker).relay_once()
    queued(broker)  # the process stops: the in-process queue is gone
    assert len(relay(container, broker).held()) == 1

    clock.now = riyadh(11, 2, 9, 5)
    restarted = relay(container, broker)  # a new process, from the same database
    assert restarted.relay_once() == 1
    sender = Mailer(
        container.desk,
        container.engine,
        broker,
        MailRenderer(ADDRESSES, container.settings.timezone),
        FileSender(tmp_path / "outbox"),
    )
    assert sender.drain() == 2  # the receipt published again at start, and the held email
    sent = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert f"owner_follow_up.{version}.{reference}@captainmama.org.eml" in sent
    with container.engine.connect() as connection:
        for table in (held_table, pending_table):
            assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
    assert restarted.relay_once() == 0


def test_the_position_moves_only_when_every_email_is_confirmed_or_held(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    switch = Switchable(broker)
    mail = OutboxRelay(
        container.desk,
        container.engine,
        switch,
        ADDRESSES,
        owners=OwnerMail(container.users, container.calendar),
    )
    mail.relay_once()
    queued(broker)
    start = mail.position()
    clock.now = riyadh(11, 5, 18)
    follow_up(container, reference)  # an owner email to hold and an escalation to send

    switch.up = False
    with pytest.raises(BrokerUnavailable):
        mail.relay_once()
    assert mail.position() == start
    assert mail.held() == []  # nothing stored before the escalation was confirmed

    switch.up = True
    assert mail.relay_once() == 1
    assert [e.kind for e in queued(broker)] == [EmailKind.ESCALATION]
    assert [h.email.kind for h in mail.held()] == [EmailKind.OWNER_FOLLOW_UP]
    assert mail.position() > start

    clock.now = riyadh(11, 8, 9)
    switch.up = False
    with pytest.raises(BrokerUnavailable):
        mail.relay_once()
    assert len(mail.held()) == 1  # kept until the broker confirms it
    switch.up = True
    assert mail.relay_once() == 1
    assert [e.kind for e in queued(broker)] == [EmailKind.OWNER_FOLLOW_UP]
    assert mail.held() == []


def test_two_relays_hold_an_email_once(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    clock.now = riyadh(11, 1, 20)
    follow_up(container, reference)
    first, second = relay(container, broker), relay(container, broker)
    first.relay_once()
    with container.engine.begin() as connection:  # the second read the log before the first
        connection.execute(sa.text("UPDATE outbox_position SET position = 0"))
    second.relay_once()
    assert len(second.held()) == 1


# ---- deadlines at risk (P5) ------------------------------------------------------------------


def test_the_watcher_warns_the_owner_once_per_deadline_at_risk(
    container: Container, clock: FakeClock
) -> None:
    reference = owned(container)
    unowned = submit(container)
    watcher = sla_watcher(container)

    clock.now = AT_RISK_FROM - timedelta(minutes=1)
    caught_up(container)
    assert watcher.watch_once() == 0
    clock.now = AT_RISK_FROM
    assert watcher.watch_once() == 2  # the first response and the solution, both due Wednesday
    assert watcher.watch_once() == 0
    caught_up(container)
    assert watcher.watch_once() == 0

    ticket = container.desk.ticket(reference)
    assert sorted(ticket.warnings) == [("first_response", DUE), ("resolution", DUE)]
    assert container.desk.ticket(unowned).warnings == []
    warnings = [
        e
        for e in container.desk.repository.event_store.get(ticket.id)
        if isinstance(e, Ticket.DeadlineAtRisk)
    ]
    assert {(e.actor, e.owner) for e in warnings} == {(SLA_WATCH, SARA)}


def test_a_passed_deadline_is_escalated_not_warned(container: Container, clock: FakeClock) -> None:
    reference = owned(container)
    clock.now = DUE
    caught_up(container)
    assert sla_watcher(container).watch_once() == 2
    ticket = container.desk.ticket(reference)
    assert ticket.warnings == []
    assert sorted(e.reason for e in ticket.escalations) == [
        EscalationReason.FIRST_RESPONSE_OVERDUE,
        EscalationReason.RESOLUTION_OVERDUE,
    ]


def test_a_new_due_instant_is_warned_of_again(container: Container, clock: FakeClock) -> None:
    reference = owned(container)
    container.desk.respond(reference, message="Looking into it", actor=SARA)
    clock.now = AT_RISK_FROM
    caught_up(container)
    watcher = sla_watcher(container)
    assert watcher.watch_once() == 1  # the solution only: the first response was given
    later = container.calendar.add_business_hours(DUE, 8)
    container.desk.extend_deadline(reference, resolution_due=later, reason="Vendor", actor=SARA)
    clock.now = container.calendar.add_business_hours(DUE, 3)  # 27 of 32 hours used
    caught_up(container)
    assert watcher.watch_once() == 1
    assert container.desk.ticket(reference).warnings == [("resolution", DUE), ("resolution", later)]


def test_the_warning_tells_the_owner_the_deadline_and_the_business_time_left(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    container.desk.respond(reference, message="Looking into it", actor=SARA)
    clock.now = AT_RISK_FROM
    caught_up(container)
    sla_watcher(container).watch_once()
    relay(container, broker).relay_once()

    [email] = to_owners(queued(broker))
    assert (email.kind, email.to) == (EmailKind.OWNER_AT_RISK, SARA_ADDRESS)
    assert email.context == {
        "deadline": "resolution",
        "due": DUE.isoformat(),
        "business_minutes_left": "360",  # Tuesday 12:00-17:00 and Wednesday 09:00-10:00
    }
    text = plain(container, email)
    assert text.index("يقترب موعد الحل") < text.index("The solution deadline")
    assert "الموعد: الأربعاء 4 نوفمبر 2026، الساعة 10:00 بتوقيت الرياض" in text
    assert "Due: Wednesday 4 November 2026, 10:00 Riyadh time" in text
    assert "Business time left: 6 h 00 min" in text
    assert "المتبقي من ساعات العمل: 6 س 00 د" in text


def test_a_warning_recorded_after_hours_reaches_the_owner_at_the_opening(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    clock.now = riyadh(11, 3, 18)  # Tuesday evening: still at risk, business time stands still
    caught_up(container)
    assert sla_watcher(container).watch_once() == 2
    mail = relay(container, broker)
    mail.relay_once()

    assert to_owners(queued(broker)) == []
    held = mail.held()
    assert {h.due_at for h in held} == {riyadh(11, 4, 9)}
    assert {h.email.context["business_minutes_left"] for h in held} == {"60"}
    clock.now = riyadh(11, 4, 9)
    assert mail.relay_once() == 2
    assert {(e.kind, e.reference) for e in queued(broker)} == {(EmailKind.OWNER_AT_RISK, reference)}


def test_a_due_instant_beyond_the_calendar_stops_neither_the_watcher_nor_the_relay(
    container: Container, broker: MailBroker, clock: FakeClock
) -> None:
    reference = owned(container)
    container.desk.respond(reference, message="Looking into it", actor=SARA)
    record_extension(container, clock, reference, END_OF_TIME)  # as an older release allowed
    other = owned(container, owner="omar")
    clock.now = AT_RISK_FROM
    every = [reference, other]
    watcher = SlaWatcher(container.desk, lambda now: [], at_risk=lambda now: every)
    assert watcher.watch_once() == 2  # the other ticket's deadlines; this one is never at risk
    assert container.desk.ticket(reference).warnings == []

    container.desk.warn_owner(
        reference, deadline=Deadline.RESOLUTION, due=END_OF_TIME, actor="agent.lead"
    )
    relay(container, broker).relay_once()
    [email] = [e for e in to_owners(queued(broker)) if e.reference == reference]
    assert email.context["business_minutes_left"] is None
    assert "Business time left: —" in plain(container, email)


def test_two_watchers_warn_of_each_deadline_once(container: Container, clock: FakeClock) -> None:
    references = [owned(container, owner=f"agent{n}") for n in range(3)]
    clock.now = AT_RISK_FROM
    caught_up(container)
    watchers = [sla_watcher(container) for _ in range(2)]
    start = threading.Barrier(2, timeout=DEADLINE)
    counts: list[int] = []

    def watch(watcher: Any) -> None:
        start.wait()
        counts.append(watcher.watch_once())

    threads = [threading.Thread(target=watch, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a watcher")

    assert sum(counts) == 6
    for reference in references:
        assert len(container.desk.ticket(reference).warnings) == 2


@pytest.mark.postgres
def test_two_watcher_processes_on_postgres_warn_once(
    postgres_container: Container, clock: FakeClock
) -> None:
    reference = owned(postgres_container)
    clock.now = AT_RISK_FROM
    caught_up(postgres_container)
    other = bootstrap(postgres_container.settings, clock=clock)  # its own desk and connections
    watchers = [sla_watcher(c) for c in (postgres_container, other) * 2]
    start = threading.Barrier(len(watchers), timeout=DEADLINE)
    counts: list[int] = []

    def watch(watcher: Any) -> None:
        start.wait()
        counts.append(watcher.watch_once())

    threads = [threading.Thread(target=watch, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a watcher")
    other.close()

    assert sum(counts) == 2
    assert sorted(postgres_container.desk.ticket(reference).warnings) == [
        (Deadline.FIRST_RESPONSE.value, DUE),
        (Deadline.RESOLUTION.value, DUE),
    ]


def test_the_composed_workers_tell_owners(container: Container) -> None:
    built = workers(container)
    led = container.settings.uses_postgres  # replicas of these elect a leader on PostgreSQL
    mail, watch = (getattr(w, "worker", w) for w in (built["relay"], built["sla-watch"]))
    assert all(isinstance(built[name], Led) == led for name in ("relay", "sla-watch"))
    assert isinstance(mail, OutboxRelay) and mail.owners is not None
    assert mail.owners.calendar is container.calendar
    assert getattr(watch, "at_risk", None) is not None


# ---- on the real broker ----------------------------------------------------------------------


@pytest.fixture
def rabbit_queue() -> Iterator[str]:
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
    except OSError as error:
        service_missing("RabbitMQ", error)
    name = f"supportdesk.test.{uuid.uuid4().hex[:12]}"
    yield name
    broker = MailBroker("amqp://guest:guest@127.0.0.1:5672//", name)
    with Connection(broker.url) as connection:
        broker.queue(connection.default_channel).delete()
        broker.exchange(connection.default_channel).delete()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    built = Proxy()
    built.up()
    yield built
    built.down()


@pytest.mark.rabbitmq
def test_a_held_email_leaves_only_once_rabbitmq_confirmed_it(
    container: Container, clock: FakeClock, rabbit_queue: str, proxy: Proxy
) -> None:
    via_proxy = MailBroker(
        f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
        rabbit_queue,
        connect_timeout=1.0,
        connect_retries=1,
        confirm_timeout=2.0,
    )
    reference = owned(container)
    clock.now = riyadh(11, 5, 18)
    follow_up(container, reference)
    assert relay(container, via_proxy).relay_once() == 2  # the receipt and the escalation
    proxy.down()

    clock.now = riyadh(11, 8, 9)
    restarted = relay(container, via_proxy)
    with pytest.raises(BrokerUnavailable):
        restarted.relay_once()
    assert len(restarted.held()) == 1
    proxy.up()
    assert restarted.relay_once() == 1
    assert restarted.held() == []

    bodies: list[dict[str, Any]] = []
    MailBroker("amqp://guest:guest@127.0.0.1:5672//", rabbit_queue).drain(
        lambda body: bodies.append(dict(body))
    )
    assert [b["kind"] for b in bodies] == ["receipt", "escalation", "owner_follow_up"]
    assert bodies[-1]["to"] == SARA_ADDRESS
