"""Instants read back from the database."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(instant: datetime) -> datetime:
    """The instant with its offset: SQLite returns naive datetimes, written in UTC."""
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)
