"""SLA compliance reports for analysts and management (P5, P6, P7.2).

One row per ticket with its clocks and the dimensions a report groups by, and nothing that
identifies the requester (P7.3). Figures are computed as of the instant asked: a deadline that
passed unmet counts as breached, even before the ticket is answered.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from eventsourcing_sqlalchemy.recorders import SQLAlchemyTrackingRecorder
from sqlalchemy.engine import Connection, Engine

from domain.sla import SlaPolicy
from domain.ticket import Ticket
from projections.clocks import REPORTED_EVENTS, advance_clocks, clock_columns, start_clocks
from projections.percentile import enable_percentiles
from projections.readmodel import TicketRows
from projections.report_counts import GROUPINGS, counts_query, daily_table, open_deadlines, roll_up
from projections.report_percentiles import CLOCKS, Scope, ranked_percentiles, sorted_percentiles
from projections.rows import Row
from projections.ticket_events import iso_week

__all__ = ["GROUPINGS", "ReportsProjection", "SlaReport", "reports_table", "sla_report"]

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
sa.Index(
    "reports_tickets_open",
    reports_table.c.submitted_at,
    postgresql_where=open_deadlines(reports_table),
    sqlite_where=open_deadlines(reports_table),
)
# Each grouping's hours in order, and all tickets' hours, with the submission instant for the
# scope: percentiles read the values at their ranks (`ranked_percentiles`). PostgreSQL
# only: on SQLite the percentile is computed in Python over the embedded shape's few tickets.
_ORDERED = [
    sa.Index(
        f"reports_tickets_{'_'.join(c.name for c in columns)}",
        *columns,
        postgresql_include=["submitted_at"],
    ).ddl_if(dialect="postgresql")
    for hours in ("first_response_hours", "resolution_hours")
    for columns in [
        (reports_table.c[hours],),
        *((reports_table.c[dimension], reports_table.c[hours]) for dimension in GROUPINGS),
    ]
]


class ReportsProjection(TicketRows):
    """Keeps `reports_tickets` from the events that move a ticket's clocks or its category."""

    name = "reports"
    tables = (reports_table, daily_table)
    topics = REPORTED_EVENTS

    def __init__(self, view: SQLAlchemyTrackingRecorder, policy: SlaPolicy) -> None:
        super().__init__(view)
        self.policy = policy

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.Submitted):
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

    def rows_changed(self, connection: Connection, before: list[Row], after: list[Row]) -> None:
        roll_up(connection, before, after)


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
    scope = Scope(reports_table, reports_table.c[group_by], start, end)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for all the report's queries: the ranks read from the indexes must
            # be those of the counts.
            connection.execution_options(isolation_level="REPEATABLE READ")
        enable_percentiles(connection)
        counts = counts_query(reports_table, group_by, start, end, now)
        lines = [dict(row) for row in connection.execute(counts).mappings()]
        # Counts add up, so the total is the sum of the groups' lines; percentiles do not.
        total: dict[str, Any] = {
            name: sum(line[name] or 0 for line in lines)
            for name in ("tickets", "escalations", *_COUNTED)
        }
        if _reads_by_rank(connection, total["tickets"]):
            scope = _without_needless_bounds(connection, scope)
            known = {
                prefix: {line["grouped"]: line[f"{prefix}_known"] for line in lines}
                for prefix in CLOCKS
            }
            found = ranked_percentiles(engine, connection, scope, known)
        else:
            found = sorted_percentiles(connection, scope)
    for prefix, (by_group, overall) in found.items():
        for line in lines:
            line[f"{prefix}_median"], line[f"{prefix}_p90"] = by_group.get(
                line["grouped"], (None, None)
            )
        total[f"{prefix}_median"], total[f"{prefix}_p90"] = overall
    return SlaReport(
        group_by=group_by,
        lines=[_line(line["grouped"], line) for line in lines],
        total=_line(None, total),
    )


_COUNTED = tuple(f"{prefix}_{outcome}" for prefix in CLOCKS for outcome in ("met", "breached"))


def _reads_by_rank(connection: Connection, tickets: int) -> bool:
    """Whether percentiles are read by rank from the indexes rather than sorted.

    A sort costs in proportion to the tickets in the scope; reading by rank, to the tickets in
    the table, as an index is read up to the rank past the tickets outside the scope too (at
    most 6/10 of it). Measured on a million tickets, they cost the same at about an eighth.
    """
    if connection.dialect.name != "postgresql":
        return False
    estimate = connection.execute(
        sa.text("SELECT reltuples FROM pg_class WHERE oid = 'reports_tickets'::regclass")
    ).scalar()
    return bool(estimate and estimate > 0 and tickets * 8 >= estimate)


def _without_needless_bounds(connection: Connection, scope: Scope) -> Scope:
    """The scope without the bounds that leave no ticket out: checking one on every index
    entry read costs a third of the time, and a report up to now has such a bound."""
    submitted = reports_table.c.submitted_at
    first, last = connection.execute(
        sa.select(sa.func.min(submitted), sa.func.max(submitted))
    ).one()
    start = (
        None if first is None or (scope.start is not None and scope.start <= first) else scope.start
    )
    end = None if last is None or (scope.end is not None and scope.end > last) else scope.end
    return dataclasses.replace(scope, start=start, end=end)
