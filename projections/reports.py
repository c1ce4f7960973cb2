"""SLA compliance reports for analysts and management (P5, P6, P7.2).

One row per ticket with its clocks and the dimensions a report groups by, and nothing that
identifies the requester (P7.3). Figures are computed as of the instant asked: a deadline that
passed unmet counts as breached, even before the ticket is answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.engine import Engine

from domain.sla import SlaPolicy
from projections.clocks import advance_clocks, clock_columns, start_clocks
from projections.percentile import enable_percentiles, percentile
from projections.readmodel import Row, TicketRows
from projections.ticket_events import (
    Acknowledged,
    Classified,
    DeadlineExtended,
    Escalated,
    ForwardedToManagement,
    Reopened,
    Resolved,
    Responded,
    Submitted,
    iso_week,
    topics_of,
)

GROUPINGS = ("category", "course", "channel", "week")

metadata = sa.MetaData()
reports_table = sa.Table(
    "reports_tickets",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("week", sa.String(8), nullable=False),
    sa.Column("category", sa.String(32)),
    sa.Column("course", sa.Text),
    sa.Column("channel", sa.String(16), nullable=False),
    *clock_columns(),
)
sa.Index("reports_tickets_by_submission", reports_table.c.submitted_at)


class ReportsProjection(TicketRows):
    """Keeps `reports_tickets` from the events that move a ticket's clocks."""

    name = "reports"
    tables = (reports_table,)
    topics = topics_of(
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

    def __init__(self, view: SQLAlchemyTrackingRecorder, policy: SlaPolicy) -> None:
        super().__init__(view)
        self.policy = policy

    def fold(self, row: Row | None, domain_event: Any) -> Row | None:
        if isinstance(domain_event, Submitted):
            return {
                "ticket_id": domain_event.originator_id,
                "week": iso_week(domain_event.timestamp, self.policy.calendar.timezone),
                "category": domain_event.category,
                "course": domain_event.course,
                "channel": domain_event.channel,
                **start_clocks(domain_event),
            }
        if row is None:
            return None
        return advance_clocks(row, domain_event, self.policy)


# ---- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadlineFigures:
    """How one kind of deadline fared in a group (P5.1 or P5.2–P5.4)."""

    met: int
    breached: int
    pending: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def met_percent(self) -> float | None:
        """Share met among the deadlines already decided; None when none is."""
        decided = self.met + self.breached
        return round(100.0 * self.met / decided, 1) if decided else None


@dataclass(frozen=True)
class ReportLine:
    """The figures of one group (or of all tickets, as the total)."""

    group: str | None
    tickets: int
    first_response: DeadlineFigures
    resolution: DeadlineFigures
    escalations: int

    @property
    def breaches(self) -> int:
        """Deadlines missed, of either kind."""
        return self.first_response.breached + self.resolution.breached


@dataclass(frozen=True)
class SlaReport:
    """Lines by group, and the total over the same tickets."""

    group_by: str
    lines: list[ReportLine]
    total: ReportLine


def _deadline_columns(prefix: str, due: str, done: str, hours: str, now: datetime) -> list[Any]:
    table = reports_table
    due_at, done_at = table.c[due], table.c[done]
    met = sa.and_(done_at.is_not(None), done_at <= due_at)
    breached = sa.or_(
        sa.and_(done_at.is_not(None), done_at > due_at),
        sa.and_(done_at.is_(None), due_at <= now),
    )
    return [
        sa.func.sum(sa.case((met, 1), else_=0)).label(f"{prefix}_met"),
        sa.func.sum(sa.case((breached, 1), else_=0)).label(f"{prefix}_breached"),
        percentile(table.c[hours], 0.5).label(f"{prefix}_median"),
        percentile(table.c[hours], 0.9).label(f"{prefix}_p90"),
    ]


def _line(group: str | None, row: Any) -> ReportLine:
    def figures(prefix: str) -> DeadlineFigures:
        met, breached = int(row[f"{prefix}_met"] or 0), int(row[f"{prefix}_breached"] or 0)
        return DeadlineFigures(
            met=met,
            breached=breached,
            pending=int(row["tickets"]) - met - breached,
            median_hours=row[f"{prefix}_median"],
            p90_hours=row[f"{prefix}_p90"],
        )

    return ReportLine(
        group=group,
        tickets=int(row["tickets"]),
        first_response=figures("first_response"),
        resolution=figures("resolution"),
        escalations=int(row["escalations"] or 0),
    )


def sla_report(
    engine: Engine,
    now: datetime,
    group_by: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> SlaReport:
    """Counts, met %, median and p90 business hours, breaches, escalations, by group (P5, P6).

    Tickets submitted in [start, end); breaches as of `now`.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPINGS)}")
    table = reports_table
    figures = [
        sa.func.count().label("tickets"),
        sa.func.sum(table.c.escalations).label("escalations"),
        *_deadline_columns(
            "first_response",
            "first_response_due",
            "first_response_at",
            "first_response_hours",
            now,
        ),
        *_deadline_columns("resolution", "resolution_due", "resolved_at", "resolution_hours", now),
    ]
    scope = []
    if start is not None:
        scope.append(table.c.submitted_at >= start)
    if end is not None:
        scope.append(table.c.submitted_at < end)
    group = table.c[group_by]
    by_group = sa.select(group.label("grouped"), *figures).where(*scope).group_by(group)
    total = sa.select(*figures).where(*scope)
    with engine.connect() as connection:
        enable_percentiles(connection)
        rows = connection.execute(by_group.order_by(sa.nulls_last(group))).mappings().all()
        (total_row,) = connection.execute(total).mappings().all()
    return SlaReport(
        group_by=group_by,
        lines=[_line(row["grouped"], row) for row in rows],
        total=_line(None, total_row),
    )
