"""The suggestions register: suggestions and their referral to the competent management (P3.5).

It holds what management needs to follow a suggestion up (the course, when it came, where it
was referred, the agent's note, by whom, when) and nothing that identifies the requester (P7.3).
An email may come without its category and have it stated in a later reply (P3.2), so such a
ticket keeps a row too, out of sight until it turns out to be a suggestion.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.categories import Category
from domain.status import Status
from domain.ticket import Ticket
from projections.cursor import encode_cursor, past_cursor
from projections.readmodel import TicketRows
from projections.rows import Instant, Row, utc
from projections.ticket_events import details_after, status_value_after, topics_of

metadata = sa.MetaData()
suggestions_table = sa.Table(
    "suggestions",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False, unique=True),
    sa.Column("course", sa.Text),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("language", sa.String(2), nullable=False),
    sa.Column("submitted_at", Instant, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("department", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("forwarded_at", Instant),
    sa.Column("forwarded_by", sa.String(100)),
    sa.Column("category_unknown", sa.Boolean, nullable=False),
)
sa.Index(
    "suggestions_by_submission",
    suggestions_table.c.submitted_at,
    suggestions_table.c.reference,
    postgresql_where=~suggestions_table.c.category_unknown,
    sqlite_where=~suggestions_table.c.category_unknown,
)


class SuggestionsProjection(TicketRows):
    """Keeps `suggestions` from the events of suggestions, and of tickets not yet categorised."""

    name = "suggestions"
    tables = (suggestions_table,)
    topics = topics_of(
        Ticket.Submitted,
        Ticket.Acknowledged,
        Ticket.Responded,
        Ticket.ForwardedToManagement,
        Ticket.Resolved,
        Ticket.Reopened,
        Ticket.DetailsSupplied,
    )

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.Submitted):
            return _submitted(domain_event)
        if row is None:
            return None
        if isinstance(domain_event, Ticket.DetailsSupplied) and domain_event.category is not None:
            if domain_event.category != Category.SUGGESTION:
                return None  # not a suggestion after all
            row = dict(row, category_unknown=False)
        row = details_after(
            dict(row, status=status_value_after(row["status"], domain_event)), domain_event
        )
        if isinstance(domain_event, Ticket.ForwardedToManagement):
            row.update(
                department=domain_event.department,
                note=domain_event.note,
                forwarded_at=utc(domain_event.timestamp),
                forwarded_by=domain_event.actor,
            )
        return row


def _submitted(submitted: Ticket.Submitted) -> Row | None:
    """A suggestion's row, or a row kept out of sight while the category is unknown (P3.2)."""
    if submitted.category not in (Category.SUGGESTION, None):
        return None
    return {
        "ticket_id": submitted.originator_id,
        "reference": submitted.reference,
        "course": submitted.course,
        "channel": submitted.channel,
        "language": submitted.language,
        "submitted_at": utc(submitted.timestamp),
        "status": Status.NEW.value,
        "department": None,
        "note": None,
        "forwarded_at": None,
        "forwarded_by": None,
        "category_unknown": submitted.category is None,
    }


def suggestions_page(
    engine: Engine,
    per_page: int,
    forwarded: bool | None = None,
    cursor: str | None = None,
) -> tuple[list[Row], str | None]:
    """Suggestions, newest first, `per_page` at a time, and the cursor of the next page (P3.5).

    `forwarded` narrows to those referred to management (True) or still waiting (False).
    """
    table = suggestions_table
    query = sa.select(*(c for c in table.c if c is not table.c.category_unknown))
    query = query.where(~table.c.category_unknown)
    if forwarded is not None:
        query = query.where(
            table.c.forwarded_at.is_not(None) if forwarded else table.c.forwarded_at.is_(None)
        )
    if cursor is not None:
        query = query.where(
            past_cursor(table.c.submitted_at, table.c.reference, cursor, descending=True)
        )
    query = query.order_by(table.c.submitted_at.desc(), table.c.reference.desc())
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query.limit(per_page + 1))]
    if len(rows) <= per_page:
        return rows, None
    last = rows[per_page - 1]
    return rows[:per_page], encode_cursor(last["submitted_at"], last["reference"])
