"""Who is past the retention period: requesters whose every ticket is closed, the last resolved
before a given instant (P7.3; PDPL: data is destroyed once its purpose has ended)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from domain.personal import ERASED
from projections.queue import queue_table
from projections.reports import reports_table


def requesters_resolved_before(engine: Engine, before: datetime, limit: int = 500) -> list[str]:
    """Addresses (as the queue holds them) with no open ticket, whose last resolution was
    before `before`. A ticket closed without a resolution (a suggestion forwarded to
    management) keeps its requester: the register of suggestions is kept."""
    queue, reports = queue_table, reports_table
    address = sa.func.lower(queue.c.requester_email)
    query = (
        sa.select(sa.func.min(queue.c.requester_email))
        .select_from(queue.join(reports, queue.c.ticket_id == reports.c.ticket_id))
        .where(queue.c.requester_email != ERASED)
        .group_by(address)
        .having(
            sa.func.sum(sa.case((queue.c.is_open, 1), else_=0)) == 0,
            sa.func.count() == sa.func.count(reports.c.resolved_at),
            sa.func.max(reports.c.resolved_at) < before,
        )
        .order_by(address)
        .limit(limit)
    )
    with engine.connect() as connection:
        return [str(email) for (email,) in connection.execute(query)]
