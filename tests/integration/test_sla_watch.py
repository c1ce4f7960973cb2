"""The SLA watcher across deadlines with an injected clock: one escalation per deadline (P6)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from datetime import datetime

import pytest

from application.bootstrap import Container, bootstrap
from application.mail.notifications import OutgoingEmail
from application.mail.outbox import OutboxRelay
from application.sla_watch import SLA_WATCH, Candidates, SlaWatcher
from domain.escalation import EscalationReason
from domain.sla import Complexity
from interfaces.mail.broker import MailBroker
from tests.builders import ADDRESSES, submit
from tests.conftest import FakeClock
from tests.waiting import DEADLINE, join


def every(references: list[str]) -> Candidates:
    def candidates(now: datetime) -> Iterable[str]:
        return list(references)

    return candidates


def escalations(container: Container, reference: str) -> list[tuple[str, datetime | None, str]]:
    return [(e.reason, e.deadline, e.actor) for e in container.desk.ticket(reference).escalations]


def test_nothing_is_escalated_before_the_deadline(container: Container, clock: FakeClock) -> None:
    reference = submit(container)
    watcher = SlaWatcher(container.desk, every([reference]), clock=clock)
    clock.now = container.desk.ticket(reference).first_response_due.replace(microsecond=0)
    clock.advance(seconds=-1)
    assert watcher.watch_once() == 0
    assert escalations(container, reference) == []


def test_each_missed_deadline_is_escalated_exactly_once(
    container: Container, clock: FakeClock
) -> None:
    reference = submit(container)
    container.desk.classify(reference, complexity=Complexity.COMPLEX, actor="agent.sara")
    ticket = container.desk.ticket(reference)
    assert ticket.first_response_due < ticket.resolution_due  # 24 and 40 business hours
    watcher = SlaWatcher(container.desk, every([reference]), clock=clock)

    clock.now = ticket.first_response_due
    assert watcher.watch_once() == 1
    assert watcher.watch_once() == 0
    clock.now = ticket.resolution_due
    assert watcher.watch_once() == 1
    clock.advance(days=3)
    assert watcher.watch_once() == 0

    assert escalations(container, reference) == [
        (EscalationReason.FIRST_RESPONSE_OVERDUE, ticket.first_response_due, SLA_WATCH),
        (EscalationReason.RESOLUTION_OVERDUE, ticket.resolution_due, SLA_WATCH),
    ]


def test_a_deadline_met_in_time_is_not_escalated(container: Container, clock: FakeClock) -> None:
    reference = submit(container)
    ticket = container.desk.ticket(reference)
    container.desk.respond(reference, message="Hello", actor="agent.sara")
    container.desk.resolve(reference, summary="Fixed", actor="agent.sara")
    clock.now = ticket.resolution_due
    clock.advance(days=10)

    assert SlaWatcher(container.desk, every([reference]), clock=clock).watch_once() == 0


def test_a_new_deadline_after_an_extension_is_escalated_again_when_missed(
    container: Container, clock: FakeClock
) -> None:
    reference = submit(container)
    container.desk.respond(reference, message="Looking", actor="agent.sara")
    watcher = SlaWatcher(container.desk, every([reference]), clock=clock)
    first_due = container.desk.ticket(reference).resolution_due
    clock.now = first_due
    assert watcher.watch_once() == 1
    later = container.sla.calendar.add_business_hours(first_due, 8)
    container.desk.extend_deadline(reference, resolution_due=later, reason="Vendor", actor="sara")
    clock.now = later

    assert watcher.watch_once() == 1
    assert [e[1] for e in escalations(container, reference)] == [first_due, later]


def test_two_watchers_escalate_each_deadline_once(container: Container, clock: FakeClock) -> None:
    references = [submit(container) for _ in range(5)]
    clock.now = container.desk.ticket(references[-1]).first_response_due
    watchers = [SlaWatcher(container.desk, every(references), clock=clock) for _ in range(2)]
    start = threading.Barrier(2, timeout=DEADLINE)
    counts: list[int] = []

    def watch(watcher: SlaWatcher) -> None:
        start.wait()
        counts.append(watcher.watch_once())

    threads = [threading.Thread(target=watch, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a watcher")

    # A simple problem's first response and solution are both due 24 business hours on (P5).
    assert sum(counts) == 10
    for reference in references:
        assert sorted(e[0] for e in escalations(container, reference)) == [
            EscalationReason.FIRST_RESPONSE_OVERDUE,
            EscalationReason.RESOLUTION_OVERDUE,
        ]


def test_an_escalation_becomes_an_email_to_management(
    container: Container, clock: FakeClock
) -> None:
    reference = submit(container)
    clock.now = container.desk.ticket(reference).first_response_due
    SlaWatcher(container.desk, every([reference]), clock=clock).watch_once()
    broker = MailBroker("memory://", f"supportdesk.test.{uuid.uuid4().hex[:12]}")

    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    emails: list[OutgoingEmail] = []
    broker.drain(lambda body: emails.append(OutgoingEmail.from_payload(body)))

    notices = [e for e in emails if e.kind == "escalation"]
    assert {e.to for e in notices} == {"info@captainmama.org"}
    assert sorted(str(e.context["reason"]) for e in notices) == [
        "first_response_overdue",
        "resolution_overdue",
    ]
    assert {e.context["escalated_by"] for e in notices} == {SLA_WATCH}


@pytest.mark.postgres
def test_two_watcher_processes_on_postgres_escalate_each_deadline_once(
    postgres_container: Container, clock: FakeClock
) -> None:
    reference = submit(postgres_container)
    clock.now = postgres_container.desk.ticket(reference).resolution_due
    other = bootstrap(postgres_container.settings, clock=clock)  # its own desk and connections
    watchers = [
        SlaWatcher(desk, every([reference]), clock=clock)
        for desk in (postgres_container.desk, other.desk) * 2
    ]
    start = threading.Barrier(len(watchers), timeout=DEADLINE)
    counts: list[int] = []

    def watch(watcher: SlaWatcher) -> None:
        start.wait()
        counts.append(watcher.watch_once())

    threads = [threading.Thread(target=watch, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a watcher")
    other.close()

    assert sum(counts) == 2  # the first-response and the resolution deadline, once each
    assert sorted(e[0] for e in escalations(postgres_container, reference)) == [
        EscalationReason.FIRST_RESPONSE_OVERDUE,
        EscalationReason.RESOLUTION_OVERDUE,
    ]
