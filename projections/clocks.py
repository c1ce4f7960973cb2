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
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from domain.sla import SlaPolicy, SlaState
from domain.ticket import EscalationReason, Status
from projections.readmodel import Instant, Row, utc
from projections.ticket_events import (
    Acknowledged,
    Classified,
    DeadlineExtended,
    DetailsSupplied,
    Escalated,
    ForwardedToManagement,
    Reopened,
    Resolved,
    Responded,
    Submitted,
    details_after,
    status_after,
    topics_of,
)

CLOCK_EVENTS = topics_of(
    Submitted,
    Acknowledged,
    Responded,
    Classified,
    DeadlineExtended,
    Escalated,
    ForwardedToManagement,
    Resolved,
    Reopened,
)
"""The events that move a ticket's first-response and resolution clocks."""

REPORTED_EVENTS = (*CLOCK_EVENTS, *topics_of(DetailsSupplied))
"""The clock events, and the category and course a requester stated after submitting (P3.2)."""

_ONE_US = timedelta(microseconds=1)
_SEVERITY = {SlaState.ON_TRACK: 0, SlaState.AT_RISK: 1, SlaState.BREACHED: 2}


class Outcome(StrEnum):
    """How a deadline ended, or that it is still running."""

    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"


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


def start_clocks(submitted: Any) -> Row:
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


def advance_clocks(row: Row, domain_event: Any, policy: SlaPolicy) -> Row:
    """The clocks after one more of the ticket's events (a new dict; `row` is left alone)."""
    row = details_after(dict(row), domain_event)
    at = utc(domain_event.timestamp)
    row["status"] = status_after(row["status"], domain_event)
    if isinstance(domain_event, Responded):
        row["responses"] += 1
        _first_response(row, at, policy)
    elif isinstance(domain_event, (Classified, DeadlineExtended)):
        row["resolution_due"] = utc(domain_event.resolution_due)
        if isinstance(domain_event, DeadlineExtended):
            row["extensions"] += 1
    elif isinstance(domain_event, Escalated):
        row["escalations"] += 1
        if domain_event.reason == EscalationReason.FIRST_RESPONSE_OVERDUE:
            row["first_response_escalated"] = True
        elif domain_event.reason == EscalationReason.RESOLUTION_OVERDUE:
            row["resolution_escalated_due"] = utc(domain_event.deadline)
    elif isinstance(domain_event, (ForwardedToManagement, Resolved)):
        if isinstance(domain_event, Resolved):
            _first_response(row, at, policy)  # the solution answers the request (P3.4)
        if row["resolved_at"] is None:
            row["resolved_at"] = at
            row["resolution_hours"] = policy.business_hours_taken(row["resolution_started_at"], at)
    elif isinstance(domain_event, Reopened):
        row["resolved_at"] = None
        row["resolution_hours"] = None
        row["resolution_started_at"] = at
        row["resolution_due"] = utc(domain_event.resolution_due)
    return row


def _first_response(row: Row, at: datetime, policy: SlaPolicy) -> None:
    if row["first_response_at"] is None:
        row["first_response_at"] = at
        row["first_response_hours"] = policy.business_hours_taken(row["submitted_at"], at)


def first_response_outcome(row: Row) -> Outcome:
    """Met or breached once answered; breached also when the watcher escalated it (P5.1, P6)."""
    answered = row["first_response_at"]
    if answered is not None:
        return Outcome.MET if answered <= row["first_response_due"] else Outcome.BREACHED
    return Outcome.BREACHED if row["first_response_escalated"] else Outcome.PENDING


def resolution_outcome(row: Row) -> Outcome:
    """Met or breached once closed; breached also when the running deadline was escalated."""
    closed = row["resolved_at"]
    if closed is not None:
        return Outcome.MET if closed <= row["resolution_due"] else Outcome.BREACHED
    escalated = row["resolution_escalated_due"] == row["resolution_due"]
    return Outcome.BREACHED if escalated else Outcome.PENDING


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
