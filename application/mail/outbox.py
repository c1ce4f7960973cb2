"""The outbox relay: turns recorded events into emails on the message broker (P3.3, P5.4, P6.2).

The event log is the outbox. The relay reads it from its stored position, publishes the emails
each event causes, and stores the new position only after the broker confirmed every message,
so an email is published at least once; the mailer drops the repeats by message id.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.desk import SupportDesk
from application.mail.notifications import Addresses, OutgoingEmail, causes_email, emails_for
from domain.ticket import Ticket

log = logging.getLogger(__name__)

mail_metadata = sa.MetaData()
"""The tables of outgoing and incoming mail, in the event store's database."""

positions_table = sa.Table(
    "outbox_position",
    mail_metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)

pending_table = sa.Table(
    "outbox_pending",
    mail_metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)
"""Emails published to a broker that forgets them on restart (`memory://`), until sent."""


class BrokerUnavailable(Exception):
    """The broker could not be reached, or did not confirm, within the bounded retries."""


class Publisher(Protocol):
    """Where the relay publishes emails."""

    @property
    def durable(self) -> bool:
        """Whether a confirmed message survives a restart of this process."""

    def publish(self, emails: Sequence[OutgoingEmail]) -> None:
        """Publish persistently and return once the broker confirmed all; else BrokerUnavailable."""


class OutboxRelay:
    """Follows the event log and publishes one broker message per email to send."""

    def __init__(
        self,
        desk: SupportDesk,
        engine: Engine,
        publisher: Publisher,
        addresses: Addresses,
        *,
        name: str = "mail",
        batch_size: int = 200,
        poll_interval: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        self.desk = desk
        self.engine = engine
        self.publisher = publisher
        self.addresses = addresses
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._recovered = False
        try:
            with engine.begin() as connection:
                connection.execute(positions_table.insert().values(name=name, position=0))
        except sa.exc.IntegrityError:
            pass  # the relay has run before: resume from where it stopped

    def position(self) -> int:
        """The last log position whose emails the broker confirmed."""
        with self.engine.connect() as connection:
            stored = connection.execute(
                sa.select(positions_table.c.position).where(positions_table.c.name == self.name)
            ).scalar()
        return int(stored or 0)

    def relay_once(self) -> int:
        """Publish the emails of the next batch of events; returns how many were published."""
        published, _ = self._relay_batch()
        return published

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set; a broker that is away is retried with growing pauses."""
        backoff = self.poll_interval
        while not stop.is_set():
            try:
                _, read = self._relay_batch()
            except BrokerUnavailable as error:
                log.warning(
                    "outbox relay: broker unavailable (%s); retrying in %.1f s", error, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.poll_interval
            if read < self.batch_size:
                stop.wait(self.poll_interval)  # caught up; look again shortly

    def _relay_batch(self) -> tuple[int, int]:
        if not self._recovered:
            self._republish_pending()
            self._recovered = True
        position = self.position()
        notifications = self.desk.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        if not notifications:
            return 0, 0
        emails: list[tuple[int, OutgoingEmail]] = []
        for notification in notifications:
            event = self.desk.mapper.to_domain_event(notification)
            if not isinstance(event, Ticket.Event) or not causes_email(event):
                continue
            ticket: Ticket = self.desk.repository.get(
                event.originator_id, version=event.originator_version
            )
            emails.extend((notification.id, e) for e in emails_for(event, ticket, self.addresses))
        if emails:
            if not self.publisher.durable:
                self._keep_until_sent(emails)
            self.publisher.publish([email for _, email in emails])
        with self.engine.begin() as connection:
            # Never backwards: another relay on the same log may have gone further.
            connection.execute(
                positions_table.update()
                .where(
                    positions_table.c.name == self.name,
                    positions_table.c.position < notifications[-1].id,
                )
                .values(position=notifications[-1].id)
            )
        return len(emails), len(notifications)

    def _keep_until_sent(self, emails: list[tuple[int, OutgoingEmail]]) -> None:
        """Record emails as unsent, for a broker that forgets them when the process stops."""
        # The position moves past them on publishing; these rows bring them back at start.
        with self.engine.begin() as connection:
            kept = set(
                connection.execute(
                    sa.select(pending_table.c.message_id).where(
                        pending_table.c.message_id.in_([e.message_id for _, e in emails])
                    )
                ).scalars()
            )
            rows = [
                {
                    "message_id": e.message_id,
                    "position": at,
                    "payload": json.dumps(e.to_payload(), ensure_ascii=False),
                }
                for at, e in emails
                if e.message_id not in kept
            ]
            if rows:
                connection.execute(pending_table.insert(), rows)

    def _republish_pending(self) -> None:
        """Publish again what an earlier process published but did not send."""
        if self.publisher.durable:
            return
        with self.engine.connect() as connection:
            payloads = connection.execute(
                sa.select(pending_table.c.payload).order_by(pending_table.c.position)
            ).scalars()
            emails = [OutgoingEmail.from_payload(json.loads(p)) for p in payloads]
        if emails:
            log.info("outbox relay: publishing %d unsent emails again", len(emails))
            self.publisher.publish(emails)


def settle_pending(engine: Engine, message_id: str) -> None:
    """The mailer is done with this email (sent, or dead-lettered): stop keeping it."""
    with engine.begin() as connection:
        connection.execute(pending_table.delete().where(pending_table.c.message_id == message_id))
