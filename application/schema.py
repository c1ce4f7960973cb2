"""The tables the application keeps beside the event log, created once when the desk starts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application import signin, users
from application.audit import access, rekeyings, seals
from application.mail import outbox
from application.storage import holders, idempotency, leases

# Every table outside the event store and the read models (which projections/ creates).
SCHEMAS: tuple[sa.MetaData, ...] = (
    users.metadata,
    idempotency.metadata,
    holders.metadata,
    leases.metadata,
    outbox.mail_metadata,
    seals.metadata,
    rekeyings.metadata,
    access.metadata,
    signin.metadata,
)


def create_schema(engine: Engine) -> None:
    """Create whatever table is missing, and add the optional columns a table made by an
    earlier release lacks; nothing else of an existing table changes."""
    for metadata in SCHEMAS:
        metadata.create_all(engine, checkfirst=True)
        for table in metadata.tables.values():
            _add_missing_columns(engine, table)


def _add_missing_columns(engine: Engine, table: sa.Table) -> None:
    present = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in present and c.nullable]
    if not missing:
        return
    with engine.begin() as connection:
        for column in missing:
            kind = column.type.compile(dialect=engine.dialect)
            connection.exec_driver_sql(
                f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
            )
