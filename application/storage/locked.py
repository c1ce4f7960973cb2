"""A row read under lock, made when missing: for counts that several processes keep."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def locked_value(
    connection: Connection, key: sa.Column[str], value: sa.Column[str], at: str
) -> str:
    """`value` of the row whose `key` is `at`, made with an empty JSON object when missing;
    its row stays locked until the transaction ends.

    Writing first takes the lock on either database (a row lock on PostgreSQL, the write lock
    on SQLite), so two processes count one after the other; a read would not."""
    table = key.table
    found = connection.execute(
        sa.update(table).where(key == at).values({value.name: value})
    ).rowcount
    if not found:
        connection.execute(sa.insert(table).values({key.name: at, value.name: "{}"}))
    return str(connection.execute(sa.select(value).where(key == at)).scalar_one())
