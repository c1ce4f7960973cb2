"""What the read models take from ticket events: their topics, the status, who acted."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic

from domain.request import REQUESTER
from domain.status import Status
from domain.ticket import Ticket, status_after
from projections.rows import Row

OPEN_STATUSES = tuple(status.value for status in Status if status.is_open)


def topics_of(*event_classes: type[Ticket.Event]) -> tuple[str, ...]:
    """The stored topics of these event classes, for a read model's `topics`."""
    return tuple(get_topic(event_class) for event_class in event_classes)


EVERY_TICKET_EVENT = topics_of(
    Ticket.Submitted,
    Ticket.Acknowledged,
    Ticket.Responded,
    Ticket.Classified,
    Ticket.DeadlineExtended,
    Ticket.FollowUpReceived,
    Ticket.Escalated,
    Ticket.ForwardedToManagement,
    Ticket.Resolved,
    Ticket.Reopened,
    Ticket.DetailsSupplied,
    Ticket.Assigned,
    Ticket.Unassigned,
    Ticket.NoteAdded,
    Ticket.DeadlineAtRisk,
    Ticket.RequesterDataErased,
    Ticket.HoldPlaced,
    Ticket.HoldLifted,
    Ticket.FieldRedacted,
    Ticket.FilesAttached,
)


def status_value_after(status: str, domain_event: Ticket.Event) -> str:
    """A row's status once the event is applied, by the aggregate's own rule."""
    return status_after(Status(status), domain_event).value


def details_after(row: Row, domain_event: Ticket.Event) -> Row:
    """The row with the category and course the requester stated later, where it keeps them."""
    if isinstance(domain_event, Ticket.DetailsSupplied):
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
