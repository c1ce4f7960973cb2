"""At most so many emails to one mailbox in any hour, whatever asks for them (P3.3, P7.3).

Anyone can name any address in a request, by the form or by mail, and the desk writes to it
(the receipt, P3.3). Without a bound the desk could be made to flood a mailbox that never
asked. Before sending, the mailer takes a place in the mailbox's last hour
(SUPPORTDESK_MAIL_PER_RECIPIENT_HOURLY places); an email that finds none is held as a dead
letter that says why and from when it may go, so operators see it
(`supportdesk mailer dead-letters`) and send it with `supportdesk mailer requeue`, where it
takes a place like any other email. The desk's own addresses are not bounded: an hour of many
escalations must still reach supervisory management (P6.2).

A mailbox is kept only as a hash, with the messages that took its places and when.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.mail.address import address_tag
from application.mail.notifications import OWNER_KINDS, OutgoingEmail
from application.mail.outbox import mail_metadata
from application.storage.locked import change_recent

HOUR = timedelta(hours=1)

quota_table = sa.Table(
    "mail_recipient_quota",
    mail_metadata,
    sa.Column("mailbox", sa.String(40), primary_key=True),
    # JSON: {message id: ISO instant} of the emails that took a place in the last hour.
    sa.Column("places", sa.Text, nullable=False),
)
_MAILBOX, _PLACES = quota_table.c.mailbox, quota_table.c.places


class RecipientLimitReached(Exception):
    """The mailbox had its hour's emails: this one is held."""


class RecipientQuota:
    """Counts the emails to each mailbox over the last hour."""

    def __init__(self, engine: Engine, per_hour: int, unbounded: Collection[str] = ()) -> None:
        self.engine = engine
        self.per_hour = per_hour
        self.unbounded = frozenset(address.casefold() for address in unbounded)

    def take(self, email: OutgoingEmail, now: datetime) -> datetime | None:
        """Take a place in the mailbox's hour for this email, which keeps it when tried again;
        None when it has one, else the instant a place frees."""
        if email.to.strip().casefold() in self.unbounded:
            return None
        # A team member's emails about their own tickets are counted per ticket: a Sunday
        # morning's held emails all go, and one requester still cannot flood an owner.
        owner = email.kind in OWNER_KINDS
        mailbox = address_tag(f"{email.to}|{email.reference}" if owner else email.to)

        def take_place(places: dict[str, datetime]) -> datetime | None:
            if email.message_id not in places and len(places) >= self.per_hour:
                return min(places.values(), default=now) + HOUR
            places.setdefault(email.message_id, now)
            return None

        return change_recent(self.engine, _MAILBOX, _PLACES, mailbox, now - HOUR, take_place)
