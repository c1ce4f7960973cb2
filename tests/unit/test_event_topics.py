"""What the log holds of a ticket's events does not change with the code (P7.1).

A stored event names its class by topic and keeps its fields as JSON; its hash covers the
class's name and every field. `recorded_ticket_events.json` holds two tickets' events, every
kind of event among them, exactly as the code that built events from `@event("Name")` stored
them: today's declared classes must read them, and their hashes must still hold. An event
class that evolved since (`class_version` above 1, `FollowUpReceived`) reads old records
through its upcaster; every other class stores them byte for byte the same.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from application.desk import SupportDesk
from domain.categories import Category
from domain.chain import event_hash, event_type_name
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity
from domain.status import Status
from domain.template import Template
from domain.ticket import Ticket
from tests.builders import SLA

TOPICS = {
    Ticket.Submitted: "domain.ticket:Ticket.Submitted",
    Ticket.DetailsSupplied: "domain.ticket:Ticket.DetailsSupplied",
    Ticket.Acknowledged: "domain.ticket:Ticket.Acknowledged",
    Ticket.Responded: "domain.ticket:Ticket.Responded",
    Ticket.Classified: "domain.ticket:Ticket.Classified",
    Ticket.DeadlineExtended: "domain.ticket:Ticket.DeadlineExtended",
    Ticket.Resolved: "domain.ticket:Ticket.Resolved",
    Ticket.Reopened: "domain.ticket:Ticket.Reopened",
    Ticket.ForwardedToManagement: "domain.ticket:Ticket.ForwardedToManagement",
    Ticket.FollowUpReceived: "domain.ticket:Ticket.FollowUpReceived",
    Ticket.Escalated: "domain.ticket:Ticket.Escalated",
    Ticket.Assigned: "domain.ticket:Ticket.Assigned",
    Ticket.Unassigned: "domain.ticket:Ticket.Unassigned",
    Ticket.NoteAdded: "domain.ticket:Ticket.NoteAdded",
    Ticket.DeadlineAtRisk: "domain.ticket:Ticket.DeadlineAtRisk",
    Ticket.RequesterDataErased: "domain.ticket:Ticket.RequesterDataErased",
    Ticket.HoldPlaced: "domain.ticket:Ticket.HoldPlaced",
    Ticket.HoldLifted: "domain.ticket:Ticket.HoldLifted",
    Ticket.FieldRedacted: "domain.ticket:Ticket.FieldRedacted",
    Ticket.FilesAttached: "domain.ticket:Ticket.FilesAttached",
}
ADDED_SINCE_RECORDED = {
    Ticket.Assigned,
    Ticket.Unassigned,
    Ticket.NoteAdded,
    Ticket.DeadlineAtRisk,
    Ticket.RequesterDataErased,
    Ticket.HoldPlaced,
    Ticket.HoldLifted,
    Ticket.FieldRedacted,
    Ticket.FilesAttached,
}
"""Kinds of event that did not exist when `recorded_ticket_events.json` was written."""
RECORDED: list[dict[str, Any]] = json.loads(
    Path(__file__).with_name("recorded_ticket_events.json").read_text(encoding="utf-8")
)
AT = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
H = timedelta(hours=1)


def stored(record: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(record["ticket_id"]),
        originator_version=record["version"],
        topic=record["topic"],
        state=record["state"].encode("utf-8"),
    )


@pytest.fixture
def desk() -> SupportDesk:
    return SupportDesk(SLA, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_every_ticket_event_keeps_its_stored_topic() -> None:
    declared = {
        value
        for value in vars(Ticket).values()
        if isinstance(value, type) and issubclass(value, Ticket.Event)
    }
    assert declared - {Ticket.Event, Ticket.Created} == set(TOPICS)  # a new event is pinned too
    for event_class, topic in TOPICS.items():
        assert get_topic(event_class) == topic
        assert resolve_topic(topic) is event_class


def test_the_recorded_events_cover_every_kind_of_their_time() -> None:
    older = {topic for kind, topic in TOPICS.items() if kind not in ADDED_SINCE_RECORDED}
    assert {record["topic"] for record in RECORDED} == older


def test_template_events_keep_their_topics() -> None:
    for kind in (Template.Created, Template.Revised, Template.Retired):
        topic = f"domain.template:Template.{kind.__name__}"
        assert get_topic(kind) == topic
        assert resolve_topic(topic) is kind


def evolved(topic: str) -> bool:
    """Whether the event class has a newer version than the records made before."""
    return getattr(resolve_topic(topic), "class_version", 1) > 1


@pytest.mark.parametrize("record", RECORDED, ids=lambda r: f"{r['topic']}@{r['version']}")
def test_an_event_recorded_before_decodes_and_its_hash_still_holds(
    desk: SupportDesk, record: dict[str, Any]
) -> None:
    domain_event = desk.mapper.to_domain_event(stored(record))
    assert type(domain_event) is resolve_topic(record["topic"])
    state = as_stored(desk, stored(record))
    assert event_hash(event_type_name(record["topic"]), state) == state["hash"]
    if evolved(record["topic"]):
        assert desk.mapper.to_stored_event(domain_event) != stored(record)  # upcast on reading
    else:
        assert desk.mapper.to_stored_event(domain_event) == stored(record)


def test_an_old_follow_up_reads_as_one_of_unknown_sender() -> None:
    (record,) = [r for r in RECORDED if r["topic"].endswith("FollowUpReceived")]
    desk = SupportDesk(SLA, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    follow_up = desk.mapper.to_domain_event(stored(record))
    assert isinstance(follow_up, Ticket.FollowUpReceived)
    assert (follow_up.sender, follow_up.subject, follow_up.verified) == (None, None, None)


def test_tickets_recorded_before_replay_to_their_state(desk: SupportDesk) -> None:
    desk.recorder.insert_events([stored(record) for record in RECORDED])
    login = desk.ticket("CM-6XQ4-G0AG")
    assert (login.status, login.complexity, login.responses, login.reopened) == (
        Status.IN_PROGRESS,
        Complexity.COMPLEX,
        1,
        1,
    )
    assert [e.reason for e in login.escalations] == ["first_response_overdue", "agent"]
    assert login.chain_head == json.loads(RECORDED[9]["state"])["hash"]
    idea = desk.ticket("CM-NAAC-C1FB")
    assert (idea.status, idea.category, idea.missing_details) == (
        Status.FORWARDED,
        Category.SUGGESTION,
        [],
    )


def test_the_same_commands_store_the_same_bytes_until_an_evolved_event(
    desk: SupportDesk,
) -> None:
    events = [*record_login().collect_events(), *record_idea().collect_events()]
    renewed: set[UUID] = set()  # tickets whose chain changed at an evolved event
    for recorded, event in zip(RECORDED, events, strict=True):
        written = desk.mapper.to_stored_event(event)
        if evolved(recorded["topic"]):
            renewed.add(event.originator_id)
        if event.originator_id not in renewed:
            assert written == stored(recorded)
        else:  # a new version of the event, and the links after it: new bytes, a sound chain
            state = as_stored(desk, written)
            assert event_hash(event_type_name(written.topic), state) == state["hash"]


def as_stored(desk: SupportDesk, event: StoredEvent) -> dict[str, Any]:
    """An event's state as the store holds it, before any upcasting, with its ids."""
    state = dict(desk.mapper.transcoder.decode(event.state))
    state.update(originator_id=event.originator_id, originator_version=event.originator_version)
    return state


def record_login() -> Ticket:
    """The commands that recorded the first ticket of `recorded_ticket_events.json`."""
    ticket = Ticket.submit(
        reference=Reference.parse("CM-6XQ4-G0AG"),
        channel=Channel.WEB_FORM,
        requester_email="learner@example.org",
        category=Category.LOGIN,
        course="Parenting 101",
        subject="Cannot sign in",
        description="Rejected.",
        language="ar",
        at=AT,
        sla=SLA,
        requester_name="Noura",
    )
    ticket.acknowledge(message_id="<1@desk>", actor="system:mailer", at=AT + H)
    ticket.receive_follow_up(
        message="Any news?", channel=Channel.EMAIL, at=AT + 2 * H, message_id="<f@x>"
    )
    ticket.escalate(
        reason=EscalationReason.FIRST_RESPONSE_OVERDUE,
        actor="system:sla-watch",
        at=AT + 100 * H,
        deadline=ticket.first_response_due,
    )
    ticket.classify(complexity=Complexity.COMPLEX, actor="sara", at=AT + 101 * H, sla=SLA)
    later = ticket.resolution_due + 10 * H
    ticket.extend_deadline(resolution_due=later, reason="Vendor", actor="sara", at=AT + 102 * H)
    ticket.resolve(summary="Password reset.", actor="sara", at=AT + 103 * H)
    ticket.reopen(reason="Still rejected.", actor="requester", at=AT + 104 * H, sla=SLA)
    ticket.respond(message="Try again now.", actor="sara", at=AT + 105 * H)
    ticket.escalate(reason=EscalationReason.AGENT, actor="sara", at=AT + 106 * H, note="Urgent")
    return ticket


def record_idea() -> Ticket:
    """The commands that recorded the second ticket: an emailed suggestion, referred (P3.5)."""
    ticket = Ticket.submit(
        reference=Reference.parse("CM-NAAC-C1FB"),
        channel=Channel.EMAIL,
        requester_email="parent@example.org",
        category=None,
        course=None,
        subject="An idea",
        description="Offline lessons.",
        language="en",
        at=AT,
        sla=SLA,
        message_id="<idea@example.org>",
    )
    ticket.supply_details(
        category=Category.SUGGESTION, course="Parenting 101", actor="requester", at=AT + H
    )
    ticket.acknowledge(message_id="<2@desk>", actor="system:mailer", at=AT + 2 * H)
    ticket.forward_to_management(
        department="product", note="Worth a look.", actor="sara", at=AT + 3 * H
    )
    return ticket
