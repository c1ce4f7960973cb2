"""Each read model's row for a ticket, folded from the ticket's events, without a database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.categories import Category
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity, SlaState
from domain.ticket import Ticket
from projections.queue import QueueProjection, sla_state
from projections.readmodel import TicketRows
from projections.reports import ReportsProjection
from projections.rows import Row
from projections.sla import SlaProjection
from projections.suggestions import SuggestionsProjection
from tests.builders import RIYADH, SLA, SUNDAY_10
from tests.builders import new_ticket as submit

NO_VIEW: Any = None  # folds touch no database


def folded(model: TicketRows, ticket: Ticket, row: Row | None = None) -> Row | None:
    """The row after the ticket's events not folded yet (those since the last call)."""
    for domain_event in ticket.collect_events():
        row = model.fold(row, domain_event)
    return row


def hours(h: float) -> timedelta:
    return timedelta(hours=h)


def test_queue_row_follows_status_and_the_agent_who_last_acted() -> None:
    ticket = submit()
    ticket.acknowledge(message_id="<1@desk>", actor="system:mailer", at=SUNDAY_10)
    ticket.respond(message="Try again", actor="sara", at=SUNDAY_10 + hours(1))
    ticket.receive_follow_up(message="still", channel=Channel.EMAIL, at=SUNDAY_10 + hours(2))
    row = folded(QueueProjection(NO_VIEW, SLA), ticket)
    assert row is not None
    assert (row["status"], row["is_open"], row["last_actor"], row["version"]) == (
        "in_progress",
        True,
        "sara",
        4,
    )
    assert row["responded"] and row["next_due"] == row["resolution_due"]


def test_queue_row_leaves_the_queue_when_solved_and_comes_back_when_reopened() -> None:
    model = QueueProjection(NO_VIEW, SLA)
    ticket = submit()
    ticket.resolve(summary="done", actor="omar", at=SUNDAY_10 + hours(3))
    closed = folded(model, ticket)
    assert closed is not None and not closed["is_open"] and closed["next_due"] is None
    reopened_at = SUNDAY_10 + timedelta(days=1)
    ticket.reopen(reason="not solved", actor="requester", at=reopened_at, sla=SLA)
    row = folded(model, ticket, closed)
    assert row is not None and row["is_open"] and row["status"] == "in_progress"
    assert row["resolution_started_at"] == reopened_at
    assert row["resolution_due"] == SLA.resolution_due(reopened_at, Complexity.SIMPLE)
    assert row["requester_email"] == "learner@example.org"  # kept while it was closed
    assert row["last_actor"] == "omar"  # the requester is no agent


def test_a_solution_answers_the_request_in_the_queue_and_the_watch_list_after_a_reopen() -> None:
    # As in the aggregate (P3.4): solved without a reply, then reopened, the first response
    # stays given; only the resolution clock runs again.
    ticket = submit()
    ticket.resolve(summary="done", actor="omar", at=SUNDAY_10 + hours(3))
    ticket.reopen(reason="not solved", actor="requester", at=SUNDAY_10 + hours(4), sla=SLA)
    events = list(ticket.collect_events())
    queue_row = sla_row = None
    for domain_event in events:
        queue_row = QueueProjection(NO_VIEW, SLA).fold(queue_row, domain_event)
        sla_row = SlaProjection(NO_VIEW, SLA).fold(sla_row, domain_event)
    assert queue_row is not None and sla_row is not None
    assert ticket.overdue_deadlines(ticket.first_response_due) == []
    assert queue_row["responded"] and queue_row["next_due"] == queue_row["resolution_due"]
    assert sla_row["watch_due"] == sla_row["resolution_due"]


def test_queue_state_is_the_most_urgent_running_clock() -> None:
    ticket = submit()
    ticket.classify(complexity=Complexity.COMPLEX, actor="sara", at=SUNDAY_10, sla=SLA)
    row = folded(QueueProjection(NO_VIEW, SLA), ticket)
    assert row is not None
    # First response due Wed 10:00 (24 h), resolution (complex, 40 h) later: Wed 10:00 leads.
    assert row["next_due"] == datetime(2026, 11, 4, 10, tzinfo=RIYADH)
    assert sla_state(SLA, row, datetime(2026, 11, 3, 12, tzinfo=RIYADH)) is SlaState.AT_RISK
    assert sla_state(SLA, row, datetime(2026, 11, 4, 10, tzinfo=RIYADH)) is SlaState.BREACHED


def test_sla_row_counts_escalations_extensions_and_hours() -> None:
    ticket = submit()
    ticket.respond(message="Looking", actor="sara", at=SUNDAY_10 + hours(2))
    ticket.extend_deadline(
        resolution_due=datetime(2026, 11, 12, 17, tzinfo=RIYADH),
        reason="waiting for the platform team",
        actor="sara",
        at=SUNDAY_10 + hours(3),
    )
    ticket.escalate(reason=EscalationReason.AGENT, actor="sara", at=SUNDAY_10 + hours(4))
    row = folded(SlaProjection(NO_VIEW, SLA), ticket)
    assert row is not None
    assert (row["escalations"], row["extensions"], row["first_response_hours"]) == (1, 1, 2.0)
    assert (row["first_response_outcome"], row["resolution_outcome"]) == ("met", "pending")
    assert row["watch_due"] == datetime(2026, 11, 12, 17, tzinfo=RIYADH)


def test_sla_row_without_any_reply_takes_the_solution_as_first_response() -> None:
    ticket = submit()
    ticket.resolve(summary="done", actor="omar", at=SUNDAY_10 + hours(5))
    row = folded(SlaProjection(NO_VIEW, SLA), ticket)
    assert row is not None
    assert row["first_response_hours"] == row["resolution_hours"] == 5.0
    assert row["watch_due"] is None


def test_reports_row_holds_nothing_personal() -> None:
    row = folded(ReportsProjection(NO_VIEW, SLA), submit())
    assert row is not None
    assert row["week"] == "2026-W44"
    text = " ".join(str(value) for value in row.values())
    for personal in ("learner@example.org", "Noura", "password is wrong", "Cannot sign in"):
        assert personal not in text


def test_only_suggestions_enter_the_register_with_their_referral() -> None:
    model = SuggestionsProjection(NO_VIEW)
    assert folded(model, submit(Category.LOGIN)) is None
    suggestion = submit(Category.SUGGESTION)
    suggestion.forward_to_management(
        department="product", note="dark mode", actor="sara", at=SUNDAY_10 + hours(1)
    )
    row = folded(model, suggestion)
    assert row is not None
    assert (row["status"], row["department"], row["note"], row["forwarded_by"]) == (
        "forwarded_to_management",
        "product",
        "dark mode",
        "sara",
    )
    assert "learner@example.org" not in " ".join(str(value) for value in row.values())
