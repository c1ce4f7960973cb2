"""The queue: open tickets by their next due instant, with their SLA state as of now (P5, P6).

Each ticket keeps one row, also once closed, because a reopened ticket comes back with
everything it had; the indexes cover open tickets only. The instant at which the ticket stops
being on track is stored with it, so the `sla` filter is a comparison with now.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.engine import Engine

from domain.deadlines import Deadline, running_deadlines
from domain.personal import ERASED, REDACTED
from domain.sla import SlaPolicy, SlaState
from domain.status import Status
from domain.ticket import Ticket
from projections.clocks import at_risk_from, worst_state
from projections.cursor import encode_cursor, past_cursor
from projections.readmodel import TicketRows
from projections.rows import Instant, Row, utc
from projections.ticket_events import (
    EVERY_TICKET_EVENT,
    OPEN_STATUSES,
    agent_of,
    details_after,
    status_value_after,
)

metadata = sa.MetaData()
queue_table = sa.Table(
    "queue_tickets",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("category", sa.String(32)),
    sa.Column("course", sa.Text),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("assignee", sa.String(100)),
    sa.Column("last_actor", sa.String(100)),
    sa.Column("requester_email", sa.Text, nullable=False),
    sa.Column("requester_name", sa.Text),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("submitted_at", Instant, nullable=False),
    sa.Column("first_response_due", Instant, nullable=False),
    sa.Column("first_response_at_risk", Instant, nullable=False),
    sa.Column("responded", sa.Boolean, nullable=False),
    sa.Column("resolution_started_at", Instant, nullable=False),
    sa.Column("resolution_due", Instant, nullable=False),
    sa.Column("resolution_at_risk", Instant, nullable=False),
    sa.Column("next_due", Instant),
    sa.Column("at_risk_at", Instant),
    sa.Column("escalations", sa.Integer, nullable=False),
    sa.Column("escalation_level", sa.String(64)),
)


def _open_tickets_index(name: str, *columns: str, **options: Any) -> None:
    """An index over the open tickets only: the queue never looks at closed ones."""
    sa.Index(
        f"queue_tickets_{name}",
        *(queue_table.c[column] for column in columns),
        postgresql_where=queue_table.c.is_open,
        sqlite_where=queue_table.c.is_open,
        **options,
    )


_open_tickets_index("by_due", "next_due", "reference")
_open_tickets_index("by_status", "status", "next_due", "reference")
_open_tickets_index("by_category", "category", "next_due", "reference")
_open_tickets_index("by_assignee", "assignee", "next_due", "reference")
# Course names are free text: a hash index takes values of any length, where a B-tree refuses
# entries over about 2.7 kB and would stop the read model at the ticket that carried one.
_open_tickets_index("by_course", "course", postgresql_using="hash")

PERSONAL_FIELDS = ("requester_email", "requester_name", "subject", "description")
"""What the requester wrote or is: for the support team only, never for analysts (P7.3)."""


class QueueProjection(TicketRows):
    """Keeps `queue_tickets` from every ticket event."""

    name = "queue"
    tables = (queue_table,)
    topics = EVERY_TICKET_EVENT

    def __init__(self, view: SQLAlchemyTrackingRecorder, policy: SlaPolicy) -> None:
        super().__init__(view)
        self.policy = policy
        # A submission starts both clocks at once, and they often share their due instant.
        self._at_risk_from = functools.lru_cache(maxsize=64)(
            functools.partial(at_risk_from, policy)
        )

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.Submitted):
            row = self._submitted(domain_event)
        elif row is None:
            return None
        else:
            row = dict(row)
        row["version"] = domain_event.originator_version
        row["status"] = status_value_after(row["status"], domain_event)
        row["is_open"] = row["status"] in OPEN_STATUSES
        row["last_actor"] = agent_of(domain_event.actor) or row["last_actor"]
        details_after(row, domain_event)
        match domain_event:
            case Ticket.Assigned():
                row["assignee"] = domain_event.assignee
            case Ticket.Unassigned():
                row["assignee"] = None
            case Ticket.Responded() | Ticket.Resolved():
                row["responded"] = True  # a solution answers the request too (P3.4)
            case (
                Ticket.Classified(resolution_due=due) | Ticket.DeadlineExtended(resolution_due=due)
            ):
                self._resolution_clock(row, row["resolution_started_at"], due)
            case Ticket.Reopened():
                self._resolution_clock(row, domain_event.timestamp, domain_event.resolution_due)
            case Ticket.Escalated():
                row["escalations"] += 1
                row["escalation_level"] = domain_event.level
            case Ticket.RequesterDataErased():
                row.update({f: ERASED for f in PERSONAL_FIELDS if row[f] is not None})
            case Ticket.FieldRedacted(version=1, field=field) if field in PERSONAL_FIELDS:
                row[field] = REDACTED if row[field] is not None else None
        row["next_due"], row["at_risk_at"] = _next_instants(row)
        return row

    def _submitted(self, submitted: Ticket.Submitted) -> Row:
        at = utc(submitted.timestamp)
        row: Row = {
            "ticket_id": submitted.originator_id,
            "reference": submitted.reference,
            "status": Status.NEW.value,
            "category": submitted.category,
            "course": submitted.course,
            "channel": submitted.channel,
            "language": submitted.language,
            "assignee": None,
            "last_actor": None,
            "requester_email": submitted.requester_email,
            "requester_name": submitted.requester_name,
            "subject": submitted.subject,
            "description": submitted.description,
            "submitted_at": at,
            "first_response_due": utc(submitted.first_response_due),
            "first_response_at_risk": self._at_risk_from(at, utc(submitted.first_response_due)),
            "responded": False,
            "escalations": 0,
            "escalation_level": None,
        }
        self._resolution_clock(row, at, submitted.resolution_due)
        return row

    def _resolution_clock(self, row: Row, started: datetime, due: datetime) -> None:
        row["resolution_started_at"] = utc(started)
        row["resolution_due"] = utc(due)
        row["resolution_at_risk"] = self._at_risk_from(utc(started), utc(due))


def _running_clocks(row: Row) -> list[tuple[datetime, datetime, datetime]]:
    """(started, due, at risk from) of each clock still running: the queue keeps open tickets."""
    if not row["is_open"]:
        return []
    clocks = {
        Deadline.FIRST_RESPONSE: (row["submitted_at"], row["first_response_at_risk"]),
        Deadline.RESOLUTION: (row["resolution_started_at"], row["resolution_at_risk"]),
    }
    running = running_deadlines(
        Status(row["status"]), row["responded"], row["first_response_due"], row["resolution_due"]
    )
    return [(clocks[d][0], due, clocks[d][1]) for d, due in running.items()]


def _next_instants(row: Row) -> tuple[datetime | None, datetime | None]:
    clocks = _running_clocks(row)
    if not clocks:
        return None, None
    return min(due for _, due, _ in clocks), min(risk for _, _, risk in clocks)


def sla_state(policy: SlaPolicy, row: Row, now: datetime) -> SlaState:
    """The ticket's SLA state as of `now`: the most urgent of its running clocks (P5)."""
    return worst_state(policy.state(started, due, now) for started, due, _ in _running_clocks(row))


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What the queue is narrowed to; None means any."""

    status: str | None = None
    category: str | None = None
    course: str | None = None
    sla: SlaState | None = None
    assignee: str | None = None
    """An owner's name, or `UNASSIGNED` for tickets nobody owns."""
    escalated: bool | None = None
    """Only tickets raised to supervisory management (True), or only the others (False)."""


UNASSIGNED = "none"
"""The `assignee` filter of the tickets nobody owns."""


def filtered(query: Any, where: QueueFilter, now: datetime) -> Any:
    """The query narrowed to the open tickets `where` describes."""
    table = queue_table
    query = query.where(table.c.is_open)
    for column in ("status", "category", "course"):
        value = getattr(where, column)
        if value is not None:
            query = query.where(table.c[column] == value)
    if where.assignee == UNASSIGNED:
        query = query.where(table.c.assignee.is_(None))
    elif where.assignee is not None:
        query = query.where(table.c.assignee == where.assignee)
    if where.escalated is not None:
        escalated = table.c.escalations > 0
        query = query.where(escalated if where.escalated else sa.not_(escalated))
    if where.sla is SlaState.BREACHED:
        query = query.where(table.c.next_due <= now)
    elif where.sla is SlaState.AT_RISK:
        query = query.where(table.c.next_due > now, table.c.at_risk_at <= now)
    elif where.sla is SlaState.ON_TRACK:
        query = query.where(table.c.next_due > now, table.c.at_risk_at > now)
    return query


@dataclass(frozen=True)
class QueuePage:
    """One page of the queue, each row with its `sla` state, and the cursor of the next page."""

    rows: list[Row]
    next_cursor: str | None


def queue_page(
    engine: Engine,
    policy: SlaPolicy,
    now: datetime,
    where: QueueFilter,
    per_page: int,
    cursor: str | None = None,
) -> QueuePage:
    """Open tickets by next due instant, filtered, `per_page` at a time (P5, P6)."""
    table = queue_table
    query = filtered(sa.select(table), where, now)
    if cursor is not None:
        query = query.where(past_cursor(table.c.next_due, table.c.reference, cursor))
    query = query.order_by(table.c.next_due, table.c.reference).limit(per_page + 1)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
    more = len(rows) > per_page
    rows = rows[:per_page]
    for row in rows:
        row["sla"] = sla_state(policy, row, now)
    last = rows[-1] if more else None
    return QueuePage(
        rows=rows,
        next_cursor=encode_cursor(last["next_due"], last["reference"]) if last else None,
    )


def owned_at_risk(engine: Engine, now: datetime, limit: int = 1000) -> list[str]:
    """References of owned open tickets with a running deadline at risk and not yet passed,
    as of `now`: whose owners may need a warning (P5). A passed deadline does not hide the
    other one."""
    table = queue_table
    first = sa.and_(
        sa.not_(table.c.responded),
        table.c.first_response_at_risk <= now,
        table.c.first_response_due > now,
    )
    resolution = sa.and_(table.c.resolution_at_risk <= now, table.c.resolution_due > now)
    query = (
        sa.select(table.c.reference)
        .where(table.c.is_open, table.c.assignee.is_not(None), sa.or_(first, resolution))
        .order_by(table.c.next_due, table.c.reference)
        .limit(limit)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())
