"""A row read under lock, made when missing: for counts that several processes keep."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")


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


def recent(stored: str | None, since: datetime) -> dict[str, datetime]:
    """The `{id: ISO instant}` JSON object kept in a row, without the instants up to `since`."""
    instants = {name: datetime.fromisoformat(at) for name, at in json.loads(stored or "{}").items()}
    return {name: at for name, at in instants.items() if at > since}


def change_recent(
    engine: Engine,
    key: sa.Column[str],
    value: sa.Column[str],
    at: str,
    since: datetime,
    change: Callable[[dict[str, datetime]], T],
) -> T:
    """In one transaction: the instants after `since` kept in the row whose `key` is `at`
    (`recent`, read under lock), given to `change` to edit in place, then stored back; what
    `change` returns. Two processes making the row at once: the second tries again."""

    def attempt() -> T:
        with engine.begin() as connection:
            instants = recent(locked_value(connection, key, value, at), since)
            answer = change(instants)
            kept = json.dumps({k: instant.isoformat() for k, instant in instants.items()})
            connection.execute(sa.update(key.table).where(key == at).values({value.name: kept}))
        return answer

    try:
        return attempt()
    except sa.exc.IntegrityError:  # another process made the row first
        return attempt()
