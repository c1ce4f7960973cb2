"""Events a read model failed on: retried, then set aside, so one event never stops it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

import sqlalchemy as sa

from application.bootstrap import Container
from projections.rows import Instant

quarantine_metadata = sa.MetaData()
quarantine_table = sa.Table(
    "projection_quarantine",
    quarantine_metadata,
    sa.Column("read_model", sa.String(32), primary_key=True),
    sa.Column("position", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("first_failed_at", Instant, nullable=False),
    sa.Column("last_failed_at", Instant, nullable=False),
    sa.Column("quarantined", sa.Boolean, nullable=False),  # False while it is still retried
)
"""Events a read model failed on, by log position: retried, then set aside (quarantined)."""


def blames_the_event(error: Exception) -> bool:
    """Whether the event may be what failed, rather than the database or the way to it.

    Bad data (a value out of range, a broken constraint) and errors raised in Python count
    against the event; a lost connection, a lock, a timeout or a missing table say nothing
    about it, and an event must never be set aside because the database was away.
    """
    if isinstance(error, sa.exc.DBAPIError):
        bad_data = isinstance(error, sa.exc.DataError | sa.exc.IntegrityError)
        return bad_data and not error.connection_invalidated
    return not isinstance(error, sa.exc.TimeoutError)


@dataclass(frozen=True)
class FailedEvent:
    """An event a read model failed on: set aside (`quarantined`), or still being retried."""

    read_model: str
    position: int
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    quarantined: bool


def failed_events(container: Container) -> list[FailedEvent]:
    """Every event a read model failed on, by read model and position."""
    table = quarantine_table
    query = sa.select(*(table.c[field.name] for field in fields(FailedEvent)))
    with container.engine.connect() as connection:
        rows = connection.execute(query.order_by(table.c.read_model, table.c.position))
        return [FailedEvent(*row) for row in rows]


def quarantined(container: Container) -> dict[str, int]:
    """How many events each read model has set aside, by name (read models with none left out)."""
    table = quarantine_table
    query = (
        sa.select(table.c.read_model, sa.func.count())
        .where(table.c.quarantined)
        .group_by(table.c.read_model)
    )
    with container.engine.connect() as connection:
        return {name: count for name, count in connection.execute(query)}
