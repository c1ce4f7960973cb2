"""Rows of the read models: their instant column, and writing many rows at once."""

from __future__ import annotations

import io
import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Row = dict[str, Any]
"""One row of a read model's table, by column name."""


class Instant(sa.TypeDecorator[datetime]):
    """An instant, stored in UTC and read back in UTC on every database.

    SQLite keeps no UTC offset, so instants are normalised before they are stored: values and
    comparisons then agree on SQLite and PostgreSQL.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(instant: datetime) -> datetime:
    """The instant in UTC, as read models store it."""
    return instant.astimezone(UTC)


def insert_rows(connection: Connection, table: sa.Table, rows: list[Row]) -> None:
    """Insert rows; on PostgreSQL with COPY, two to three times faster than a multi-row INSERT."""
    if connection.dialect.name != "postgresql":
        connection.execute(sa.insert(table), rows)
        return
    fields = [(column.name, _copy_format(column)) for column in table.columns]
    text = "".join(
        [
            "\t".join(["\\N" if (v := row[name]) is None else form(v) for name, form in fields])
            + "\n"
            for row in rows
        ]
    )
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        columns = ", ".join(name for name, _ in fields)
        cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN", io.StringIO(text))
    finally:
        cursor.close()


# PostgreSQL text cannot hold NUL: one in a requester's text would otherwise stop the read
# model at that event for good, so it becomes U+FFFD, as undecodable bytes do.
_COPY_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": "\ufffd"}
)


def _copy_format(column: sa.Column[Any]) -> Callable[[Any], str]:
    """How a column's non-NULL values are written in COPY's text format."""
    if isinstance(column.type, Instant):
        return datetime.isoformat
    if isinstance(column.type, sa.Float):
        return repr  # every digit, so the value reads back exactly
    if isinstance(column.type, sa.String):  # Text too: backslash, tab and line ends escaped
        return operator.methodcaller("translate", _COPY_ESCAPES)
    return str
