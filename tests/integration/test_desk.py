"""The SupportDesk application on a real event store: SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from application.bootstrap import Container
from domain.chain import GENESIS, event_hash, event_type_name
from domain.errors import StaleVersion, TicketNotFound, TransitionRefused
from domain.reference import Reference
from domain.request import Channel
from domain.status import Status
from tests.builders import submit
from tests.conftest import FakeClock
from tests.waiting import DEADLINE, join


def test_submitted_ticket_is_stored_and_read_back(container: Container) -> None:
    reference = submit(container)
    ticket = container.desk.ticket(reference)
    assert ticket.status is Status.NEW
    assert ticket.requester_email == "learner@example.org"
    assert container.desk.ticket(reference.lower().replace("-", " ")).id == ticket.id


def test_commands_report_their_log_position(container: Container, clock: FakeClock) -> None:
    reference = submit(container)
    clock.advance(hours=1)
    first = container.desk.respond(reference, message="Try resetting.", actor="agent.sara")
    second = container.desk.resolve(reference, summary="Reset done", actor="agent.sara")
    assert second.position > first.position
    assert container.desk.ticket(reference).status is Status.RESOLVED


def test_unknown_reference_is_not_found(container: Container) -> None:
    with pytest.raises(TicketNotFound):
        container.desk.ticket(Reference.generate())


def test_stale_expected_version_is_refused_and_records_nothing(container: Container) -> None:
    reference = submit(container)
    container.desk.respond(reference, message="hello", actor="agent.sara", expected_version=1)
    with pytest.raises(StaleVersion):
        container.desk.resolve(reference, summary="done", actor="agent.sara", expected_version=1)
    assert container.desk.ticket(reference).version == 2


def test_stored_events_keep_their_hash_chain(container: Container) -> None:
    reference = submit(container)
    container.desk.acknowledge(reference, message_id="<r@desk>", actor="system:mailer")
    container.desk.respond(reference, message="hello", actor="agent.sara")
    ticket_id = Reference.parse(reference).ticket_id
    previous = GENESIS
    for stored in container.desk.events.get(ticket_id):
        assert stored.prev_hash == previous
        # As stored: the mapper records the class version beside the fields.
        state = {**vars(stored), "class_version": getattr(type(stored), "class_version", 1)}
        assert event_hash(event_type_name(type(stored)), state) == stored.hash
        previous = stored.hash


@pytest.mark.postgres
def test_concurrent_commands_on_one_ticket_lose_nothing_and_break_no_rule(
    postgres_container: Container,
) -> None:
    desk = postgres_container.desk
    reference = submit(postgres_container)
    results: Counter[str] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(16, timeout=DEADLINE)

    def agent(number: int) -> None:
        start.wait()
        try:
            if number % 4 == 0:
                desk.resolve(reference, summary=f"fixed by {number}", actor=f"agent.{number}")
            else:
                desk.respond(reference, message=f"reply {number}", actor=f"agent.{number}")
            outcome = "resolved" if number % 4 == 0 else "responded"
        except TransitionRefused:
            outcome = "refused"
        with lock:
            results[outcome] += 1

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "an agent")

    events = list(desk.events.get(Reference.parse(reference).ticket_id))
    kinds = Counter(type(e).__name__ for e in events)
    assert sum(results.values()) == 16
    # Every accepted command is exactly one event; every refusal recorded nothing.
    assert kinds["Resolved"] == results["resolved"] == 1
    assert kinds["Responded"] == results["responded"]
    assert len(events) == 1 + results["resolved"] + results["responded"]
    # No response was recorded after the resolution.
    assert type(events[-1]).__name__ == "Resolved" or all(
        type(e).__name__ != "Resolved" for e in events
    )
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))


def test_follow_up_after_a_missed_deadline_escalates_once(
    container: Container, clock: FakeClock
) -> None:
    reference = submit(container)
    container.desk.receive_follow_up(reference, message="Any news?", channel=Channel.WEB_FORM)
    assert container.desk.ticket(reference).escalations == []
    clock.advance(days=7)  # past both 24-business-hour deadlines
    for _ in range(3):
        container.desk.receive_follow_up(reference, message="Still waiting", channel=Channel.EMAIL)
    (escalation,) = container.desk.ticket(reference).escalations
    assert escalation.reason == "requester_follow_up_after_deadline"
    assert escalation.actor == "requester"
    assert escalation.deadline == container.desk.ticket(reference).first_response_due
