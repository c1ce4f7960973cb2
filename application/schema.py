"""The tables the application keeps beside the event log, created once when the desk starts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application import users
from application.audit import access, seals
from application.mail import outbox
from application.storage import idempotency

# Every table outside the event store and the read models (which projections/ creates).
SCHEMAS: tuple[sa.MetaData, ...] = (
    users.metadata,
    idempotency.metadata,
    outbox.mail_metadata,
    seals.metadata,
    access.metadata,
)


def create_schema(engine: Engine) -> None:
    """Create whatever table is missing; existing tables are left as they are."""
    for metadata in SCHEMAS:
        metadata.create_all(engine, checkfirst=True)
