"""A ticket's SLA clocks as read models keep them: what is due, when it was met, hours taken (P5).

Two clocks run from submission: the first response (P5.1) and the resolution (P5.2–P5.4).
A solution given before any reply is also the first response (P3.4). A ticket is closed when
it is solved or, for a suggestion, referred to management (P3.5); reopening starts the
resolution clock again. Business hours are counted on the desk's calendar when the event is
applied, so the stored figures are plain numbers to aggregate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from domain.deadlines import Outcome, outcome
from domain.escalation import EscalationReason
from domain.sla import SlaPolicy, SlaState
from domain.status import Status
from domain.ticket import Ticket
from projections.rows import Instant, Row, utc
from projections.ticket_events import details_after, status_value_after, topics_of

CLOCK_EVENTS = topics_of(
    Ticket.Submitted,
    Ticket.Acknowledged,
    Ticket.Responded,
    Ticket.Classified,
    Ticket.DeadlineExtended,
    Ticket.Escalated,
    Ticket.ForwardedToManagement,
    Ticket.Resolved,
    Ticket.Reopened,
)
"""The events that move a ticket's first-response and resolution clocks."""

REPORTED_EVENTS = (*CLOCK_EVENTS, *topics_of(Ticket.DetailsSupplied))
"""The clock events, and the category and course a requester stated after submitting (P3.2)."""

_ONE_US = timedelta(microseconds=1)
_SEVERITY = {SlaState.ON_TRACK: 0, SlaState.AT_RISK: 1, SlaState.BREACHED: 2}


def clock_columns() -> list[sa.Column[Any]]:
    """The columns `start_clocks` and `advance_clocks` fill (new objects for each table)."""
    return [
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("submitted_at", Instant, nullable=False),
        sa.Column("first_response_due", Instant, nullable=False),
        sa.Column("first_response_at", Instant),
        sa.Column("first_response_hours", sa.Float),
        sa.Column("responses", sa.Integer, nullable=False),
        sa.Column("resolution_started_at", Instant, nullable=False),
        sa.Column("resolution_due", Instant, nullable=False),
        sa.Column("resolved_at", Instant),
        sa.Column("resolution_hours", sa.Float),
        sa.Column("escalations", sa.Integer, nullable=False),
        sa.Column("extensions", sa.Integer, nullable=False),
        sa.Column("first_response_escalated", sa.Boolean, nullable=False),
        sa.Column("resolution_escalated_due", Instant),
    ]


def start_clocks(submitted: Ticket.Submitted) -> Row:
    """The clocks of a ticket just submitted, with the due instants it was promised (P5)."""
    at = utc(submitted.timestamp)
    return {
        "status": Status.NEW.value,
        "submitted_at": at,
        "first_response_due": utc(submitted.first_response_due),
        "first_response_at": None,
        "first_response_hours": None,
        "responses": 0,
        "resolution_started_at": at,
        "resolution_due": utc(submitted.resolution_due),
        "resolved_at": None,
        "resolution_hours": None,
        "escalations": 0,
        "extensions": 0,
        "first_response_escalated": False,
        "resolution_escalated_due": None,
    }


def advance_clocks(row: Row, domain_event: Ticket.Event, policy: SlaPolicy) -> Row:
    """The clocks after one more of the ticket's events (a new dict; `row` is left alone)."""
    row = details_after(dict(row), domain_event)
    at = utc(domain_event.timestamp)
    row["status"] = status_value_after(row["status"], domain_event)
    match domain_event:
        case Ticket.Responded():
            row["responses"] += 1
            _first_response(row, at, policy)
        case Ticket.Classified(resolution_due=due):
            row["resolution_due"] = utc(due)
        case Ticket.DeadlineExtended(resolution_due=due):
            row["resolution_due"] = utc(due)
            row["extensions"] += 1
        case Ticket.Escalated():
            _escalated(row, domain_event)
        case Ticket.Resolved():
            _first_response(row, at, policy)  # the solution answers the request (P3.4)
            _closed(row, at, policy)
        case Ticket.ForwardedToManagement():
            _closed(row, at, policy)
        case Ticket.Reopened():
            row["resolved_at"] = None
            row["resolution_hours"] = None
            row["resolution_started_at"] = at
            row["resolution_due"] = utc(domain_event.resolution_due)
    return row


def _escalated(row: Row, escalated: Ticket.Escalated) -> None:
    row["escalations"] += 1
    if escalated.reason == EscalationReason.FIRST_RESPONSE_OVERDUE:
        row["first_response_escalated"] = True
    elif escalated.reason == EscalationReason.RESOLUTION_OVERDUE and escalated.deadline:
        row["resolution_escalated_due"] = utc(escalated.deadline)


def _closed(row: Row, at: datetime, policy: SlaPolicy) -> None:
    """Solved or referred (P3.4, P3.5): the resolution clock stops, once."""
    if row["resolved_at"] is None:
        row["resolved_at"] = at
        row["resolution_hours"] = policy.business_hours_taken(row["resolution_started_at"], at)


def _first_response(row: Row, at: datetime, policy: SlaPolicy) -> None:
    if row["first_response_at"] is None:
        row["first_response_at"] = at
        row["first_response_hours"] = policy.business_hours_taken(row["submitted_at"], at)


def first_response_outcome(row: Row) -> Outcome:
    """Met or breached once answered; breached also when the watcher escalated it (P5.1, P6)."""
    return outcome(
        row["first_response_due"], row["first_response_at"], passed=row["first_response_escalated"]
    )


def resolution_outcome(row: Row) -> Outcome:
    """Met or breached once closed; breached also when the running deadline was escalated."""
    escalated = row["resolution_escalated_due"] == row["resolution_due"]
    return outcome(row["resolution_due"], row["resolved_at"], passed=escalated)


def at_risk_from(policy: SlaPolicy, started: datetime, due: datetime) -> datetime:
    """The first instant at which `policy.state` stops saying on track: at risk, or due.

    Stored per ticket, so that filtering on the SLA state is a comparison with now and agrees,
    to the microsecond, with the state computed at query time.
    """
    allowed = policy.calendar.business_hours_between(started, due)
    if allowed <= 0:
        return utc(due)
    threshold = policy.at_risk_fraction * allowed

    def on_track(instant: datetime) -> bool:
        # `policy.state(started, due, instant) is ON_TRACK`, spelled out so that the business
        # hours allowed, the same at every probe, are counted once: this function was a fifth
        # of a queue rebuild. The unit tests hold the two to the same answer.
        used = policy.calendar.business_hours_between(started, instant)
        return instant < due and used < threshold

    # Invariant: on track at `low`, not at `high`. The calendar's answer lands on the boundary
    # or within a microsecond of it (float rounding), so two probes usually settle it; the
    # bisection is the fallback that needs no such assumption.
    low, high = started, due
    estimate = policy.calendar.add_business_hours(started, policy.at_risk_fraction * allowed)
    if low < estimate < high:
        low, high = (estimate, high) if on_track(estimate) else (low, estimate)
    probe = low + _ONE_US if low == estimate else high - _ONE_US
    if low < probe < high:
        low, high = (probe, high) if on_track(probe) else (low, probe)
    while high - low > _ONE_US:
        middle = low + (high - low) // 2
        low, high = (middle, high) if on_track(middle) else (low, middle)
    return utc(high)


def worst_state(states: Iterable[SlaState]) -> SlaState:
    """The most urgent of several clocks' states (on track when none runs)."""
    return max(states, key=_SEVERITY.__getitem__, default=SlaState.ON_TRACK)
