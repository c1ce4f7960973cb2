"""New requests by email from one sender in a short time: a loop, or a flood (P7.1).

A robot that answers every email it gets, and labels none of its answers as automatic,
turns each of the desk's receipts into a new request and so into a new receipt. People rarely
open more than a few new requests within the hour; past `MAX_NEW_REQUESTS`, a sender's further
messages are added to their newest ticket instead, where they are kept and read by agents,
and cause no receipt. The window counts per sender (kept as a hash) and is shared by every
process through the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.mail.address import address_tag
from application.mail.outbox import mail_metadata
from application.storage.locked import change_recent, recent

WINDOW = timedelta(hours=1)
MAX_NEW_REQUESTS = 3

bursts_table = sa.Table(
    "mail_sender_requests",
    mail_metadata,
    sa.Column("sender", sa.String(40), primary_key=True),
    # JSON: {reference: ISO instant} of the tickets the sender's email opened in the window.
    sa.Column("opened", sa.Text, nullable=False),
)
_SENDER, _OPENED = bursts_table.c.sender, bursts_table.c.opened


class SenderBursts:
    """Counts the new requests each sender's email opened within the window."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def newest_if_full(self, sender: str, now: datetime) -> str | None:
        """The sender's newest ticket when their window is full (the next message goes there),
        else None."""
        with self.engine.connect() as connection:
            stored = connection.execute(
                sa.select(_OPENED).where(_SENDER == _key(sender))
            ).scalar_one_or_none()
        opened = recent(stored, now - WINDOW)
        if len(opened) < MAX_NEW_REQUESTS:
            return None
        return max(opened, key=lambda reference: (opened[reference], reference))

    def opened(self, sender: str, reference: str, now: datetime) -> None:
        """Count a ticket the sender's email opened."""

        def count(opened: dict[str, datetime]) -> None:
            opened[reference] = now

        change_recent(self.engine, _SENDER, _OPENED, _key(sender), now - WINDOW, count)


def _key(sender: str) -> str:
    return address_tag(sender.strip().casefold())
