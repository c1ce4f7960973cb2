"""What the read models take from ticket events: their topics, the status, who acted."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic

from domain.ticket import REQUESTER, Status, Ticket
from projections.readmodel import Row

OPEN_STATUSES = tuple(status.value for status in Status if status.is_open)


def _event_class(name: str) -> type[Any]:
    # `@event` makes these classes at run time, where a type checker cannot see them.
    event_class: type[Any] = getattr(Ticket, name)
    return event_class


Submitted = _event_class("Submitted")
Acknowledged = _event_class("Acknowledged")
Responded = _event_class("Responded")
Classified = _event_class("Classified")
DeadlineExtended = _event_class("DeadlineExtended")
FollowUpReceived = _event_class("FollowUpReceived")
Escalated = _event_class("Escalated")
ForwardedToManagement = _event_class("ForwardedToManagement")
Resolved = _event_class("Resolved")
Reopened = _event_class("Reopened")
DetailsSupplied = _event_class("DetailsSupplied")


def topics_of(*event_classes: type) -> tuple[str, ...]:
    """The stored topics of these event classes, for a read model's `topics`."""
    return tuple(get_topic(event_class) for event_class in event_classes)


EVERY_TICKET_EVENT = topics_of(
    Submitted,
    Acknowledged,
    Responded,
    Classified,
    DeadlineExtended,
    FollowUpReceived,
    Escalated,
    ForwardedToManagement,
    Resolved,
    Reopened,
    DetailsSupplied,
)


def status_after(status: str, domain_event: Any) -> str:
    """The ticket's status once the event is applied, as the aggregate itself changes it."""
    if isinstance(domain_event, Acknowledged) and status == Status.NEW:
        return Status.ACKNOWLEDGED.value
    if isinstance(domain_event, Responded) and status in (Status.NEW, Status.ACKNOWLEDGED):
        return Status.IN_PROGRESS.value
    if isinstance(domain_event, ForwardedToManagement):
        return Status.FORWARDED.value
    if isinstance(domain_event, Resolved):
        return Status.RESOLVED.value
    if isinstance(domain_event, Reopened):
        return Status.IN_PROGRESS.value
    return status


def details_after(row: Row, domain_event: Any) -> Row:
    """The row with the category and course the requester stated later, where it keeps them."""
    if isinstance(domain_event, DetailsSupplied):
        stated = {"category": domain_event.category, "course": domain_event.course}
        row.update({k: v for k, v in stated.items() if v is not None and k in row})
    return row


def agent_of(actor: str) -> str | None:
    """The actor if it is a member of the support team: not the requester, not a system actor."""
    return None if actor == REQUESTER or ":" in actor else actor


def iso_week(instant: datetime, timezone: ZoneInfo) -> str:
    """The ISO week of the instant in the desk's time zone, e.g. `2026-W45`."""
    year, week, _ = instant.astimezone(timezone).isocalendar()
    return f"{year}-W{week:02d}"
