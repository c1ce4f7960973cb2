"""The SLA register: per ticket, what was due, when it was met, hours taken, escalations (P5, P6).

It also keeps, per ticket, the earliest deadline that has not been escalated yet (`watch_due`),
so the SLA watcher finds the tickets to escalate with one indexed comparison with now.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.engine import Engine

from domain.deadlines import Deadline, running_deadlines
from domain.sla import SlaPolicy
from domain.status import Status
from domain.ticket import Ticket
from projections.clocks import (
    REPORTED_EVENTS,
    advance_clocks,
    clock_columns,
    first_response_outcome,
    resolution_outcome,
    start_clocks,
)
from projections.readmodel import TicketRows
from projections.rows import Instant, Row

metadata = sa.MetaData()
sla_table = sa.Table(
    "sla_tickets",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("category", sa.String(32)),
    *clock_columns(),
    sa.Column("first_response_outcome", sa.String(16), nullable=False),
    sa.Column("resolution_outcome", sa.String(16), nullable=False),
    sa.Column("watch_due", Instant),
)
sa.Index(
    "sla_tickets_watch_due",
    sla_table.c.watch_due,
    postgresql_where=sla_table.c.watch_due.is_not(None),
    sqlite_where=sla_table.c.watch_due.is_not(None),
)


class SlaProjection(TicketRows):
    """Keeps `sla_tickets` from the events that move a ticket's clocks or its category."""

    name = "sla"
    tables = (sla_table,)
    topics = REPORTED_EVENTS

    def __init__(self, view: SQLAlchemyTrackingRecorder, policy: SlaPolicy) -> None:
        super().__init__(view)
        self.policy = policy

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.Submitted):
            row = {
                "ticket_id": domain_event.originator_id,
                "reference": domain_event.reference,
                "category": domain_event.category,
                **start_clocks(domain_event),
            }
        elif row is None:
            return None
        else:
            row = advance_clocks(row, domain_event, self.policy)
        row["first_response_outcome"] = first_response_outcome(row).value
        row["resolution_outcome"] = resolution_outcome(row).value
        row["watch_due"] = _watch_due(row)
        return row


def _watch_due(row: Row) -> datetime | None:
    """The earliest open deadline the watcher would escalate and has not yet (P6).

    Open by the rule of `running_deadlines`, the first response counting as given once an agent
    replied or solved the problem (P3.4), as in the aggregate.
    """
    running = running_deadlines(
        Status(row["status"]),
        row["first_response_at"] is not None,
        row["first_response_due"],
        row["resolution_due"],
    )
    escalated = {
        Deadline.FIRST_RESPONSE: row["first_response_escalated"],
        Deadline.RESOLUTION: row["resolution_escalated_due"] == row["resolution_due"],
    }
    return min((due for deadline, due in running.items() if not escalated[deadline]), default=None)


def overdue_candidates(engine: Engine, now: datetime) -> list[str]:
    """References of tickets with a deadline at or before `now` not escalated yet (P6).

    Candidates only: the watcher asks each ticket (`Ticket.overdue_deadlines`) before it
    escalates. A deadline already escalated is left out, so the list stays short.
    """
    table = sla_table
    query = (
        sa.select(table.c.reference)
        .where(table.c.watch_due.is_not(None), table.c.watch_due <= now)
        .order_by(table.c.watch_due, table.c.reference)
    )
    with engine.connect() as connection:
        return list(connection.scalars(query))
