"""The ticket aggregate: the policy's rules, the record it keeps, and its hash chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.categories import Category
from domain.chain import GENESIS, event_hash, event_type_name
from domain.errors import InvalidRequest, TransitionRefused
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity
from domain.status import Status
from tests.builders import RIYADH, SLA, SUNDAY_10
from tests.builders import new_ticket as submit


def test_submission_records_what_was_promised_at_the_time() -> None:
    ticket = submit()
    assert ticket.status is Status.NEW
    assert ticket.first_response_due == datetime(2026, 11, 4, 10, 0, tzinfo=RIYADH)  # P5.1
    assert ticket.resolution_due == datetime(2026, 11, 4, 10, 0, tzinfo=RIYADH)  # simple: 24 h
    (submitted,) = ticket.collect_events()
    assert submitted.actor == "requester"
    assert submitted.timestamp == SUNDAY_10


def test_request_after_hours_counts_from_next_opening() -> None:
    thursday_evening = datetime(2026, 11, 5, 18, 0, tzinfo=RIYADH)
    ticket = submit(at=thursday_evening)
    # Counting starts Sunday 09:00; three business days later it is due Tuesday 17:00.
    assert ticket.first_response_due == datetime(2026, 11, 10, 17, 0, tzinfo=RIYADH)


def test_aggregate_id_is_derived_from_the_reference() -> None:
    reference = Reference.generate()
    ticket = submit(reference=reference)
    assert ticket.id == reference.ticket_id
    assert ticket.reference == str(reference)


def test_web_form_request_must_name_category_and_course() -> None:
    with pytest.raises(InvalidRequest, match="course"):
        submit(course="  ")
    with pytest.raises(InvalidRequest, match="category"):
        submit(category=None)


def test_email_request_missing_details_is_recorded_with_what_is_missing() -> None:
    ticket = submit(channel=Channel.EMAIL, category=None, course=None)
    assert ticket.missing_details == ["category", "course"]


def test_first_response_is_recorded_once_and_moves_the_ticket_in_progress() -> None:
    ticket = submit()
    later = SUNDAY_10 + timedelta(hours=2)
    ticket.respond(message="Please try resetting.", actor="agent.sara", at=later)
    ticket.respond(message="Any luck?", actor="agent.sara", at=later + timedelta(hours=1))
    assert ticket.first_responded_at == later
    assert ticket.responses == 2
    assert ticket.status is Status.IN_PROGRESS


def test_no_response_to_a_resolved_ticket_and_nothing_recorded() -> None:
    ticket = submit()
    ticket.resolve(summary="Password reset", actor="agent.sara", at=SUNDAY_10)
    ticket.collect_events()
    with pytest.raises(TransitionRefused):
        ticket.respond(message="hello", actor="agent.sara", at=SUNDAY_10)
    assert ticket.collect_events() == []


def test_no_second_acknowledgement() -> None:
    ticket = submit()
    ticket.acknowledge(message_id="<1@desk>", actor="system:mailer", at=SUNDAY_10)
    with pytest.raises(TransitionRefused):
        ticket.acknowledge(message_id="<2@desk>", actor="system:mailer", at=SUNDAY_10)
    assert ticket.status is Status.ACKNOWLEDGED


def test_complex_classification_gives_five_business_days() -> None:
    ticket = submit()
    ticket.classify(complexity=Complexity.COMPLEX, actor="agent.sara", at=SUNDAY_10, sla=SLA)
    assert ticket.resolution_due == datetime(2026, 11, 8, 10, 0, tzinfo=RIYADH)
    with pytest.raises(TransitionRefused):
        ticket.classify(complexity=Complexity.COMPLEX, actor="agent.sara", at=SUNDAY_10, sla=SLA)


def test_extension_must_move_the_deadline_later_and_give_a_reason() -> None:
    ticket = submit()
    with pytest.raises(InvalidRequest, match="later"):
        ticket.extend_deadline(
            resolution_due=ticket.resolution_due, reason="waiting", actor="a", at=SUNDAY_10
        )
    with pytest.raises(InvalidRequest, match="reason"):
        ticket.extend_deadline(
            resolution_due=ticket.resolution_due + timedelta(days=2),
            reason=" ",
            actor="a",
            at=SUNDAY_10,
        )
    new_due = ticket.resolution_due + timedelta(days=2)
    ticket.extend_deadline(resolution_due=new_due, reason="Vendor fix", actor="a", at=SUNDAY_10)
    assert ticket.resolution_due == new_due


def test_classification_does_not_take_back_an_extension() -> None:
    ticket = submit()
    promised = ticket.resolution_due + timedelta(days=10)
    ticket.extend_deadline(resolution_due=promised, reason="Vendor fix", actor="a", at=SUNDAY_10)
    ticket.classify(complexity=Complexity.COMPLEX, actor="a", at=SUNDAY_10, sla=SLA)
    assert ticket.resolution_due == promised


def test_only_suggestions_are_forwarded_and_only_once() -> None:
    with pytest.raises(TransitionRefused):
        submit().forward_to_management(department="Product", note="n", actor="a", at=SUNDAY_10)
    suggestion = submit(category=Category.SUGGESTION)
    suggestion.forward_to_management(
        department="Product", note="Dark mode", actor="a", at=SUNDAY_10
    )
    assert suggestion.status is Status.FORWARDED
    with pytest.raises(TransitionRefused):
        suggestion.forward_to_management(
            department="Product", note="again", actor="a", at=SUNDAY_10
        )


def test_each_deadline_escalates_once() -> None:
    ticket = submit()
    late = ticket.first_response_due + timedelta(minutes=1)
    assert ticket.overdue_deadlines(late)[0] == (
        EscalationReason.FIRST_RESPONSE_OVERDUE,
        ticket.first_response_due,
    )
    ticket.escalate(
        reason=EscalationReason.FIRST_RESPONSE_OVERDUE,
        deadline=ticket.first_response_due,
        actor="system:sla-watch",
        at=late,
    )
    with pytest.raises(TransitionRefused):
        ticket.escalate(
            reason=EscalationReason.FIRST_RESPONSE_OVERDUE,
            deadline=ticket.first_response_due,
            actor="system:sla-watch",
            at=late,
        )


def test_reopen_restarts_the_resolution_clock() -> None:
    ticket = submit()
    ticket.resolve(summary="done", actor="a", at=SUNDAY_10)
    with pytest.raises(TransitionRefused):
        submit().reopen(reason="x", actor="a", at=SUNDAY_10, sla=SLA)
    monday_10 = datetime(2026, 11, 2, 10, 0, tzinfo=RIYADH)
    ticket.reopen(reason="Still broken", actor="requester", at=monday_10, sla=SLA)
    assert ticket.status is Status.IN_PROGRESS
    assert ticket.resolution_due == datetime(2026, 11, 5, 10, 0, tzinfo=RIYADH)


def test_events_form_a_hash_chain_over_their_content() -> None:
    ticket = submit()
    ticket.acknowledge(message_id="<1@desk>", actor="system:mailer", at=SUNDAY_10)
    ticket.respond(message="Try again", actor="agent.sara", at=SUNDAY_10)
    ticket.resolve(summary="Fixed", actor="agent.sara", at=SUNDAY_10)
    events = ticket.collect_events()
    previous = GENESIS
    for recorded in events:
        assert recorded.prev_hash == previous
        # As stored: the mapper records the class version beside the fields.
        state = {**vars(recorded), "class_version": getattr(type(recorded), "class_version", 1)}
        assert event_hash(event_type_name(type(recorded)), state) == recorded.hash
        previous = recorded.hash
    assert ticket.chain_head == previous
    assert len({e.hash for e in events}) == len(events)


def test_changing_any_field_changes_the_hash() -> None:
    (submitted,) = submit().collect_events()
    state = dict(vars(submitted))
    original = event_hash("Ticket.Submitted", state)
    for name in ("description", "requester_email", "timestamp", "originator_version", "prev_hash"):
        tampered = dict(state)
        tampered[name] = "x" if isinstance(state[name], str) else 99
        assert event_hash("Ticket.Submitted", tampered) != original, name


def test_hash_does_not_depend_on_the_time_zone_an_instant_is_written_in() -> None:
    (submitted,) = submit().collect_events()
    state = dict(vars(submitted))
    in_utc = dict(state, timestamp=state["timestamp"].astimezone(UTC))
    assert event_hash("Ticket.Submitted", in_utc) == submitted.hash


def test_details_missing_from_an_email_can_be_supplied_later() -> None:
    ticket = submit(channel=Channel.EMAIL, category=None, course=None)
    ticket.supply_details(category=Category.LOGIN, course=None, actor="requester", at=SUNDAY_10)
    assert ticket.category is Category.LOGIN
    assert ticket.missing_details == ["course"]
    with pytest.raises(InvalidRequest):
        ticket.supply_details(category=Category.OTHER, course=None, actor="requester", at=SUNDAY_10)
    ticket.supply_details(category=None, course="Lesson 4", actor="requester", at=SUNDAY_10)
    assert (ticket.course, ticket.missing_details) == ("Lesson 4", [])


def test_a_solution_given_before_any_reply_is_the_first_response() -> None:
    ticket = submit()
    later = SUNDAY_10 + timedelta(hours=3)
    ticket.resolve(summary="Fixed on our side", actor="agent.sara", at=later)
    assert ticket.first_responded_at == later
    assert ticket.overdue_deadlines(later + timedelta(days=30)) == []


@pytest.mark.parametrize(
    "due", [datetime(9999, 12, 31, tzinfo=UTC), SUNDAY_10 + timedelta(days=366)]
)
def test_an_extension_beyond_a_year_is_refused_and_records_nothing(due: datetime) -> None:
    # An instant far out once overflowed the read models on every retry.
    ticket = submit()
    ticket.collect_events()
    with pytest.raises(InvalidRequest, match="within a year"):
        ticket.extend_deadline(resolution_due=due, reason="Vendor", actor="a", at=SUNDAY_10)
    assert ticket.collect_events() == []
