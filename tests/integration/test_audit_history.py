"""A ticket's history and its state at any past instant, replayed from the record (P7.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from application.audit.history import Audit
from application.bootstrap import Container
from domain.categories import Category
from domain.errors import InvalidRequest, TicketNotFound
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity
from tests.builders import KEY
from tests.conftest import FakeClock

# What each of the dozen events leaves behind: its type and the ticket's status after it.
LIFE = [
    ("Submitted", "new"),
    ("Acknowledged", "acknowledged"),
    ("Responded", "in_progress"),
    ("Classified", "in_progress"),
    ("DeadlineExtended", "in_progress"),
    ("FollowUpReceived", "in_progress"),
    ("Escalated", "in_progress"),
    ("Responded", "in_progress"),
    ("Resolved", "resolved"),
    ("Reopened", "in_progress"),
    ("Responded", "in_progress"),
    ("Resolved", "resolved"),
]


def audit_of(container: Container) -> Audit:
    return Audit(container.desk, container.sla, container.calendar.timezone, KEY)


def live_a_full_life(container: Container, clock: FakeClock) -> tuple[str, list[datetime]]:
    """A ticket with a dozen events an hour apart; its reference and each event's instant."""
    desk = container.desk
    outcome = desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="learner@example.org",
        category=Category.CONTENT_LOADING,
        course="Positive Parenting 101",
        subject="Lessons do not load",
        description="Lesson 3 stays blank.",
    )
    ref = outcome.reference
    instants = [clock.now]
    steps = [
        lambda: desk.acknowledge(ref, message_id="<receipt-1@desk>", actor="system:mailer"),
        lambda: desk.respond(ref, message="Which browser?", actor="agent.sara"),
        lambda: desk.classify(ref, complexity=Complexity.COMPLEX, actor="agent.sara"),
        lambda: desk.extend_deadline(
            ref,
            resolution_due=clock.now + timedelta(days=14),
            reason="waiting for the video host",
            actor="agent.sara",
        ),
        lambda: desk.receive_follow_up(ref, message="Any news?", channel=Channel.EMAIL),
        lambda: desk.escalate(ref, reason=EscalationReason.AGENT, actor="agent.sara"),
        lambda: desk.respond(ref, message="The host fixed it.", actor="agent.omar"),
        lambda: desk.resolve(ref, summary="Video host fixed", actor="agent.omar"),
        lambda: desk.reopen(ref, reason="Lesson 4 is blank too", actor="agent.omar"),
        lambda: desk.respond(ref, message="Fixed lesson 4 as well.", actor="agent.omar"),
        lambda: desk.resolve(ref, summary="All lessons load", actor="agent.omar"),
    ]
    for step in steps:
        clock.advance(hours=1)
        step()
        instants.append(clock.now)
    return ref, instants


def test_history_lists_every_event_in_order_with_its_chain(
    container: Container, clock: FakeClock
) -> None:
    reference, instants = live_a_full_life(container, clock)
    audit = audit_of(container)
    entries = [audit.entry(r) for r in audit.history(reference)]
    assert [e["type"] for e in entries] == [t for t, _ in LIFE]
    assert [e["version"] for e in entries] == list(range(1, 13))
    assert [e["position"] for e in entries] == sorted(e["position"] for e in entries)
    assert [e["instant"] for e in entries] == [i.isoformat() for i in instants]
    assert entries[0]["local_instant"] == "2026-11-01T10:00:00+03:00"
    assert entries[1]["actor"] == "system:mailer"
    assert entries[2]["data"] == {
        "message": "Which browser?",
        "template": None,
        "template_version": None,
    }
    for previous, entry in zip(entries, entries[1:], strict=False):
        assert entry["prev_hash"] == previous["hash"]


def test_state_between_each_pair_of_events_replays_only_what_came_before(
    container: Container, clock: FakeClock
) -> None:
    reference, instants = live_a_full_life(container, clock)
    audit = audit_of(container)
    for version, (earlier, later) in enumerate(zip(instants, instants[1:], strict=False), 1):
        past = audit.state_at(reference, as_of=earlier + (later - earlier) / 2)
        assert past.ticket.version == version
        assert past.ticket.status.value == LIFE[version - 1][1]
    assert audit.state_at(reference, as_of=instants[-1]).ticket.version == 12
    assert audit.state_at(reference, as_of=instants[3]).ticket.complexity is Complexity.COMPLEX
    assert audit.state_at(reference, as_of=instants[2]).ticket.complexity is Complexity.SIMPLE
    assert len(audit.state_at(reference, as_of=instants[6]).ticket.escalations) == 1


def test_state_at_a_version_is_the_state_at_its_instant(
    container: Container, clock: FakeClock
) -> None:
    reference, instants = live_a_full_life(container, clock)
    audit = audit_of(container)
    for version in (1, 5, 9, 12):
        by_version = audit.state_at(reference, version=version)
        by_instant = audit.state_at(reference, as_of=instants[version - 1])
        assert by_version.at == instants[version - 1]
        assert by_version.as_dict() == by_instant.as_dict()


def test_before_submission_the_ticket_did_not_exist(container: Container, clock: FakeClock) -> None:
    reference, instants = live_a_full_life(container, clock)
    audit = audit_of(container)
    with pytest.raises(TicketNotFound):
        audit.state_at(reference, as_of=instants[0] - timedelta(seconds=1))
    with pytest.raises(TicketNotFound):
        audit.state_at(reference, version=13)
    with pytest.raises(InvalidRequest):
        audit.state_at(reference, as_of=datetime(2026, 11, 1, 12, 0))
    with pytest.raises(InvalidRequest):
        audit.state_at(reference)


def test_sla_standing_is_as_it_was_then(container: Container, clock: FakeClock) -> None:
    outcome = container.desk.submit(
        channel=Channel.EMAIL,
        requester_email="learner@example.org",
        category=Category.LOGIN,
        course="Positive Parenting 101",
        subject="Cannot sign in",
        description="Rejected password.",
    )
    reference = outcome.reference
    due = outcome.ticket.first_response_due
    clock.now = due + timedelta(hours=2)
    container.desk.respond(reference, message="Sorry for the wait.", actor="agent.sara")
    audit = audit_of(container)

    before = audit.state_at(reference, as_of=due - timedelta(minutes=1))
    assert before.sla["first_response"]["state"] == "at_risk"
    assert before.sla["breached"] is False
    overdue = audit.state_at(reference, as_of=due + timedelta(hours=1))
    assert overdue.sla["first_response"]["state"] == "breached"
    assert overdue.sla["breached"] is True
    answered = audit.state_at(reference, as_of=clock.now)
    assert answered.sla["first_response"]["state"] == "missed"
    assert answered.sla["resolution"]["state"] in ("on_track", "at_risk", "breached")
    assert answered.as_dict()["sla"]["first_response"]["due"] == due.isoformat()


def test_unknown_ticket_has_no_history(container: Container) -> None:
    with pytest.raises(TicketNotFound):
        audit_of(container).history("CM-0000-0000")


def test_history_instants_are_utc(container: Container, clock: FakeClock) -> None:
    reference, _ = live_a_full_life(container, clock)
    for record in audit_of(container).history(reference):
        assert record.timestamp is not None
        assert record.timestamp.utcoffset() == UTC.utcoffset(None)
