"""The outbox relay: turns recorded events into emails on the message broker (P3.3, P4, P5.4, P6.2).

The event log is the outbox. The relay reads it from its stored position, publishes the emails
each event causes, and stores the new position only after the broker confirmed every message,
so an email is published at least once; the mailer drops the repeats by message id.

Emails to a ticket's owner go within business hours only (P4): one made while the desk is
closed is held (`outbox_held`), stored in the same transaction that moves the position past its
event, and published at the next business opening; its row goes only once the broker confirmed
it. Emails to requesters and to management go at once, whatever the hour.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from application.desk import Clock, SupportDesk
from application.mail.notifications import (
    OWNER_KINDS,
    Addresses,
    FilesOfMessage,
    OutgoingEmail,
    OwnerMail,
    causes_email,
    emails_for,
)
from application.storage.instants import aware
from application.storage.leases import Fence
from domain.attachment import split_names
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

held_table = sa.Table(
    "outbox_held",
    mail_metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    # When it may go: the next business opening, in UTC (SQLite keeps no offset).
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
)
"""Emails to owners made outside business hours, until the broker confirmed them (P4)."""
sa.Index("outbox_held_by_due", held_table.c.due_at, held_table.c.position)


class BrokerUnavailable(Exception):
    """The broker could not be reached, or did not confirm, within the bounded retries."""


class Publisher(Protocol):
    """Where the relay publishes emails."""

    @property
    def durable(self) -> bool:
        """Whether a confirmed message survives a restart of this process."""

    def publish(self, emails: Sequence[OutgoingEmail]) -> None:
        """Publish persistently and return once the broker confirmed all; else BrokerUnavailable."""


@dataclass(frozen=True)
class HeldEmail:
    """An email to an owner waiting for the business opening (P4)."""

    email: OutgoingEmail
    due_at: datetime
    position: int


START_NOW = "now"
"""A relay's starting point: the log's head, so that only events from now on are mailed."""


class StartUnknown(RuntimeError):
    """The relay has no stored position while the log already holds events: starting at the
    beginning would mail learners about every old ticket, so it is told where to begin."""

    def __init__(self, name: str, head: int) -> None:
        super().__init__(
            f"the outbox relay {name!r} has no stored position, and the log already holds "
            f"events up to position {head}: start it with --from now (no email for earlier "
            "events) or --from POSITION (emails for the events after it)"
        )


def begin_on_an_empty_log(engine: Engine, head: int, name: str = "mail") -> None:
    """A new installation's relay starts at the beginning: every event will be its own. Done
    at start-up, before any event can be recorded; a log that already has events is left for
    the operator to say where its relay begins."""
    if head == 0:
        _store_start(engine, name, 0)


def _store_start(engine: Engine, name: str, position: int) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(positions_table.insert().values(name=name, position=position))
    except sa.exc.IntegrityError:
        pass  # another relay stored it first


class OutboxRelay:
    """Follows the event log and publishes one broker message per email to send.

    With `owners`, it also makes the emails to tickets' owners and holds those made outside
    business hours until the next opening of `owners.calendar` (P4); without, it makes none.
    """

    def __init__(
        self,
        desk: SupportDesk,
        engine: Engine,
        publisher: Publisher,
        addresses: Addresses,
        *,
        owners: OwnerMail | None = None,
        clock: Clock | None = None,
        name: str = "mail",
        start: int | str | None = None,
        batch_size: int = 200,
        poll_interval: float = 0.5,
        max_backoff: float = 30.0,
        file_links: Callable[[str, str], str] | None = None,
        link_lifetime: timedelta = timedelta(days=30),
    ) -> None:
        self.desk = desk
        # A link that gives the requester a file of their ticket (reference, SHA-256): the
        # emails name the files with it; without, by name only.
        self.file_links = file_links
        self.link_lifetime = link_lifetime
        self.engine = engine
        self.publisher = publisher
        self.addresses = addresses
        self.owners = owners
        self.clock = clock or desk.clock
        self.name = name
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._recovered = False
        self._tickets = _TicketsAsOf(desk)
        # Set where replicas elect a leader: the position moves only while this one leads.
        self.fence: Fence | None = None
        if start is not None and not self.has_position():
            head = desk.recorder.max_notification_id() or 0
            begin = head if start == START_NOW else int(start)
            if not 0 <= begin <= head:
                raise ValueError(f"the log's positions run from 0 to {head}, not {begin}")
            _store_start(engine, name, begin)

    def has_position(self) -> bool:
        """Whether the relay has a stored position to resume from."""
        return self._stored_position() is not None

    def ensure_started(self) -> None:
        """Raise StartUnknown when the relay has no position to resume from."""
        if not self.has_position():
            raise StartUnknown(self.name, self.desk.recorder.max_notification_id() or 0)

    def position(self) -> int:
        """The last log position whose emails the broker confirmed or are held."""
        return self._stored_position() or 0

    def _stored_position(self) -> int | None:
        with self.engine.connect() as connection:
            stored = connection.execute(
                sa.select(positions_table.c.position).where(positions_table.c.name == self.name)
            ).scalar()
        return None if stored is None else int(stored)

    def held(self) -> list[HeldEmail]:
        """The emails waiting for the business opening, the soonest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(held_table).order_by(held_table.c.due_at, held_table.c.position)
            ).all()
        return [
            HeldEmail(
                email=OutgoingEmail.from_payload(json.loads(row.payload)),
                due_at=aware(row.due_at),
                position=int(row.position),
            )
            for row in rows
        ]

    def relay_once(self) -> int:
        """Publish the held emails now due and the emails of the next batch of events; returns
        how many were published (emails held for the opening are not)."""
        published, _ = self._relay_batch()
        return published

    def run(self, stop: threading.Event) -> None:
        """Relay until `stop` is set; a broker that is away is retried with growing pauses."""
        backoff = self.poll_interval
        while not stop.is_set():
            try:
                _, more = self._relay_batch()
            except BrokerUnavailable as error:
                log.warning(
                    "outbox relay: broker unavailable (%s); retrying in %.1f s", error, backoff
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            backoff = self.poll_interval
            if not more:
                stop.wait(self.poll_interval)  # caught up; look again shortly

    def _relay_batch(self) -> tuple[int, bool]:
        """Published emails, and whether more may be waiting at once."""
        if not self._recovered:
            self.ensure_started()
            self._republish_pending()
            self._recovered = True
        released = self._release_due()
        position = self.position()
        notifications = self.desk.recorder.select_notifications(
            start=position, limit=self.batch_size, inclusive_of_start=False
        )
        more = released == self.batch_size or len(notifications) == self.batch_size
        if not notifications:
            return released, more
        now = self.clock()
        to_send: list[tuple[int, OutgoingEmail]] = []
        to_hold: list[tuple[int, datetime, OutgoingEmail]] = []
        events = [self.desk.mapper.to_domain_event(n) for n in notifications]
        for at, (notification, event) in enumerate(zip(notifications, events, strict=True)):
            if not isinstance(event, Ticket.Event):
                continue
            ticket = self._tickets.after(event, needed=causes_email(event))
            if ticket is None:
                continue
            following = events[at + 1] if at + 1 < len(events) else None
            files = (
                self._files_with(event, ticket.reference, following)
                if _to_requester(event)
                else None
            )
            for email in emails_for(event, ticket, self.addresses, self.owners, files):
                opening = self._held_until(email, event.timestamp, now)
                if opening is None:
                    to_send.append((notification.id, email))
                else:
                    to_hold.append((notification.id, opening, email))
        if to_send:
            if not self.publisher.durable:
                self._keep_until_sent(to_send)
            self.publisher.publish([email for _, email in to_send])
        self._advance(notifications[-1].id, to_hold)
        return released + len(to_send), more

    def _files_with(
        self, event: Ticket.Event, reference: str, following: object | None
    ) -> FilesOfMessage | None:
        """The files that came with this message to the requester: recorded by the event just
        after it, in the same save, whose events take consecutive positions in the log. That
        event is `following`, the batch's next, unless the message ended the batch: then it is
        read from the log, where it already is."""
        if following is None:
            found = self.desk.events.get(
                event.originator_id,
                gt=event.originator_version,
                lte=event.originator_version + 1,
            )
            following = next(iter(found), None)
        attached = following
        if not isinstance(attached, Ticket.FilesAttached):
            return None
        if (attached.originator_id, attached.message_version) != (
            event.originator_id,
            event.originator_version,
        ):
            return None
        names = split_names(str(attached.names), len(attached.files) + len(attached.refused))
        if names is None:
            return None  # erased or redacted since: nothing to name
        kept = names[: len(attached.files)]
        links = [
            self.file_links(reference, str(f["sha256"])) if self.file_links else ""
            for f in attached.files
        ]
        until = self.clock() + self.link_lifetime if self.file_links else None
        return FilesOfMessage(
            names=kept,
            links=links,
            refused_names=names[len(attached.files) :],
            refused_reasons=list(attached.refused),
            links_until=until.isoformat() if until else None,
        )

    def _held_until(self, email: OutgoingEmail, caused: datetime, now: datetime) -> datetime | None:
        """The business opening an owner's email waits for, or None to send it now (P4).

        An email made while the desk is closed waits, also when its event was recorded during
        business hours and the relay reaches it late: the owner is written to at work only.
        """
        if self.owners is None or email.kind not in OWNER_KINDS:
            return None
        try:
            opening = self.owners.calendar.next_opening(max(caused, now))
        except ValueError:  # an instant beyond the calendar's years: no opening to wait for
            return None
        return opening if opening > now else None

    def _advance(self, position: int, held: list[tuple[int, datetime, OutgoingEmail]]) -> None:
        """Store the held emails and the new position, in one transaction."""
        for attempt in (1, 2):
            try:
                with self.engine.begin() as connection:
                    if self.fence is not None:
                        self.fence(connection)
                    self._hold(connection, held)
                    # Never backwards: another relay on the same log may have gone further.
                    connection.execute(
                        positions_table.update()
                        .where(
                            positions_table.c.name == self.name,
                            positions_table.c.position < position,
                        )
                        .values(position=position)
                    )
                return
            except sa.exc.IntegrityError:
                if attempt == 2:
                    raise
                # Another relay on the same log held the same emails first; theirs stand.

    @staticmethod
    def _hold(connection: Connection, held: list[tuple[int, datetime, OutgoingEmail]]) -> None:
        if not held:
            return
        present = set(
            connection.execute(
                sa.select(held_table.c.message_id).where(
                    held_table.c.message_id.in_([email.message_id for _, _, email in held])
                )
            ).scalars()
        )
        rows = [
            {
                "message_id": email.message_id,
                "due_at": due_at.astimezone(UTC),
                "position": at,
                "payload": json.dumps(email.to_payload(), ensure_ascii=False),
            }
            for at, due_at, email in held
            if email.message_id not in present
        ]
        if rows:
            connection.execute(held_table.insert(), rows)
            log.info("outbox relay: %d email(s) to owners held until business hours", len(rows))

    def _release_due(self) -> int:
        """Publish the held emails whose opening came; forget them once the broker confirmed."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(held_table.c.position, held_table.c.payload)
                .where(held_table.c.due_at <= self.clock().astimezone(UTC))
                .order_by(held_table.c.due_at, held_table.c.position)
                .limit(self.batch_size)
            ).all()
        if not rows:
            return 0
        due = [
            (int(row.position), OutgoingEmail.from_payload(json.loads(row.payload))) for row in rows
        ]
        if not self.publisher.durable:
            self._keep_until_sent(due)
        self.publisher.publish([email for _, email in due])
        with self.engine.begin() as connection:
            connection.execute(
                held_table.delete().where(
                    held_table.c.message_id.in_([email.message_id for _, email in due])
                )
            )
        return len(due)

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


def _to_requester(event: Ticket.Event) -> bool:
    """A message to the requester that files may come with: a request's receipt, a reply."""
    return isinstance(event, Ticket.Submitted | Ticket.Responded)


class _TicketsAsOf:
    """Tickets as each event of the log left them, for the relay that reads the log in order.

    Loading a ticket as of a version replays its history from the start. A ticket whose
    requester wrote thousands of times would cost the relay a replay of its whole history at
    each follow-up; instead the ticket last built is kept and moved on by each of its events
    as they come, and replayed only when the log is read out of that order.
    """

    def __init__(self, desk: SupportDesk, size: int = 256) -> None:
        self.desk = desk
        self.size = size
        self._tickets: OrderedDict[UUID, Ticket] = OrderedDict()

    def after(self, event: Ticket.Event, *, needed: bool) -> Ticket | None:
        """The ticket as `event` left it; None when not `needed` and not at hand."""
        key = event.originator_id
        ticket: Ticket | None = self._tickets.get(key)
        if ticket is not None and ticket.version == event.originator_version - 1:
            event.mutate(ticket)  # the event's version is checked against the ticket's
        elif needed:
            ticket = self.desk.repository.get(key, version=event.originator_version)
        else:
            return None
        assert ticket is not None
        self._tickets[key] = ticket
        self._tickets.move_to_end(key)
        if len(self._tickets) > self.size:
            self._tickets.popitem(last=False)
        return ticket


def settle_pending(engine: Engine, message_id: str) -> None:
    """The mailer is done with this email (sent, or dead-lettered): stop keeping it."""
    with engine.begin() as connection:
        connection.execute(pending_table.delete().where(pending_table.c.message_id == message_id))
