"""Cursors for keyset pagination: a page resumes after (instant, reference), however deep."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import sqlalchemy as sa


class InvalidCursor(ValueError):
    """A cursor no page handed out."""


def encode_cursor(instant: datetime, reference: str) -> str:
    """An opaque cursor for the rows after the row with this sort instant and reference."""
    return base64.urlsafe_b64encode(f"{instant.isoformat()}|{reference}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The sort instant and reference of the row a cursor points after."""
    try:
        instant, reference = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(instant), reference
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor(f"{cursor!r} is not a cursor of this list") from None


def past_cursor(
    instant: sa.Column[Any], reference: sa.Column[Any], cursor: str, *, descending: bool = False
) -> sa.ColumnElement[bool]:
    """The rows a page resumes with: those after the cursor's row in (instant, reference) order,
    or before it for a list newest first.

    A row comparison, which an index on (instant, reference) answers in order: the same test
    spelled with OR made PostgreSQL fetch every later row and sort.
    """
    at, named = decode_cursor(cursor)
    row = sa.tuple_(instant, reference)
    mark = sa.tuple_(sa.literal(at, instant.type), sa.literal(named, reference.type))
    return row < mark if descending else row > mark
