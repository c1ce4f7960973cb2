"""The mailer: sends each email from the queue once, and records the receipt when it went (P3.3).

A message is acknowledged to the broker only after its email was sent (or set aside as a dead
letter), so a crash means a redelivery, never a loss. Redeliveries and repeated publications
carry the same message id and are dropped here. A mail server that is away is retried with
growing pauses; an email that keeps failing, or that the server refuses for good, becomes a
dead letter that operators can list and send again. So does an email to a mailbox that had its
hour's emails already (`quota`): it is held, never sent, until operators send it again.

Logs name an email by its message id, and never carry the recipient's address (P7.3): where a
mail server's answer repeats it, it is replaced by a hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.desk import SupportDesk
from application.mail.address import address_tag
from application.mail.notifications import EmailKind, OutgoingEmail
from application.mail.outbox import mail_metadata, settle_pending
from application.mail.quota import RecipientLimitReached, RecipientQuota
from domain.errors import DomainError

log = logging.getLogger(__name__)

MAILER = "system:mailer"
"""The actor of what the mailer records (the receipt's acknowledgement)."""

sent_table = sa.Table(
    "mail_sent",
    mail_metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("reference", sa.String(20), nullable=False),
    sa.Column("header_message_id", sa.String(300), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
)

dead_letter_table = sa.Table(
    "mail_dead_letter",
    mail_metadata,
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("reference", sa.String(20), nullable=False),
    sa.Column("recipient", sa.String(320), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
)


class TransientFailure(Exception):
    """The mail server is away or asked to try later (4xx): worth another try."""


class PermanentFailure(Exception):
    """The mail server refused the email for good (5xx): another try would fail the same way."""


class Sender(Protocol):
    """Delivers a rendered email: an SMTP server, or `.eml` files in the embedded shape."""

    def send(self, message: EmailMessage) -> None:
        """Send, or raise TransientFailure / PermanentFailure."""


class MailQueue(Protocol):
    """The broker's mail queue, as the mailer sees it."""

    def consume(self, handle: Callable[[Mapping[str, Any]], object], stop: threading.Event) -> None:
        """Handle messages until `stop` is set; a handler that raises leaves its message queued."""

    def drain(self, handle: Callable[[Mapping[str, Any]], object]) -> int:
        """Handle every message waiting now."""

    def publish(self, emails: Sequence[OutgoingEmail]) -> None:
        """Publish emails (to send dead letters again)."""


Render = Callable[[OutgoingEmail], EmailMessage]


class Disposition(StrEnum):
    """What became of one message from the queue."""

    SENT = "sent"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    HELD = "held"  # a dead letter too: its mailbox had its hour's emails
    FORGOTTEN = "forgotten"  # queued before its requester was erased: not sent, not kept


class Interrupted(Exception):
    """The mailer is stopping while waiting to try again: the message stays queued."""


@dataclass(frozen=True)
class DeadLetter:
    """An email that could not be sent, as operators see it."""

    message_id: str
    kind: str
    reference: str
    recipient: str
    error: str
    attempts: int
    failed_at: datetime


class Mailer:
    """Consumes the mail queue and sends each email once."""

    def __init__(
        self,
        desk: SupportDesk,
        engine: Engine,
        queue: MailQueue,
        render: Render,
        sender: Sender,
        *,
        max_attempts: int = 6,
        first_backoff: float = 1.0,
        max_backoff: float = 60.0,
        per_recipient_hourly: int = 10,
        own_addresses: Collection[str] = (),
    ) -> None:
        self.desk = desk
        self.engine = engine
        self.queue = queue
        self.render = render
        self.sender = sender
        self.max_attempts = max_attempts
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.quota = RecipientQuota(engine, per_recipient_hourly, unbounded=own_addresses)

    # ---- running ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Send emails as they arrive until `stop` is set."""
        self.queue.consume(lambda payload: self.handle(payload, stop), stop)

    def drain(self) -> int:
        """Send every email waiting now; returns how many messages were handled."""
        return self.queue.drain(self.handle)

    def handle(
        self, payload: Mapping[str, Any], stop: threading.Event | None = None
    ) -> Disposition:
        """Send one queued email unless it was sent before; raise to leave it queued."""
        try:
            email = OutgoingEmail.from_payload(payload)
        except ValueError as error:
            self._dead_letter(payload, error, 1)
            return Disposition.DEAD_LETTERED
        if self._finished(email):
            self._after_sending(email, None)
            return Disposition.DUPLICATE
        if self._forgotten(email):
            log.info("mailer: %s not sent: its requester was erased", email.message_id)
            settle_pending(self.engine, email.message_id)
            return Disposition.FORGOTTEN
        try:
            message = self.render(email)
        except Exception as error:  # a template or data fault: no retry can mend it
            log.exception("mailer: %s cannot be rendered", email.message_id)
            self._dead_letter(email, error, 1)
            return Disposition.DEAD_LETTERED
        frees = self.quota.take(email, self.desk.clock())
        if frees is not None:
            self._dead_letter(email, self._limit_reached(frees), 0)
            return Disposition.HELD
        wait = stop or threading.Event()
        for attempt in range(1, self.max_attempts + 1):
            del message["Date"]
            message["Date"] = format_datetime(self.desk.clock())
            try:
                self.sender.send(message)
                break
            except PermanentFailure as error:
                self._dead_letter(email, error, attempt)
                return Disposition.DEAD_LETTERED
            except TransientFailure as error:
                if attempt == self.max_attempts:
                    self._dead_letter(email, error, attempt)
                    return Disposition.DEAD_LETTERED
                pause = min(self.first_backoff * 2 ** (attempt - 1), self.max_backoff)
                log.warning(
                    "mailer: %s not sent (%s); try %d in %.1f s",
                    email.message_id,
                    _without_address(str(error), email.to),
                    attempt + 1,
                    pause,
                )
                if wait.wait(pause):
                    raise Interrupted(email.message_id) from error
        self._after_sending(email, message)
        return Disposition.SENT

    def _limit_reached(self, frees: datetime) -> RecipientLimitReached:
        return RecipientLimitReached(
            f"held: {self.quota.per_hour} emails went to this mailbox within the hour "
            f"(SUPPORTDESK_MAIL_PER_RECIPIENT_HOURLY); requeue it from {frees.isoformat()}"
        )

    # ---- records ------------------------------------------------------------------------------

    def _forgotten(self, email: OutgoingEmail) -> bool:
        """Whether the email's ticket had its requester erased since the email was queued."""
        try:
            return self.desk.ticket(email.reference).erased_at is not None
        except (DomainError, ValueError):
            return False  # not a ticket of ours: sent or refused as before

    def _finished(self, email: OutgoingEmail) -> bool:
        with self.engine.connect() as connection:
            for table in (sent_table, dead_letter_table):
                found = connection.execute(
                    sa.select(table.c.message_id).where(table.c.message_id == email.message_id)
                ).first()
                if found is not None:
                    return True
        return False

    def _after_sending(self, email: OutgoingEmail, message: EmailMessage | None) -> None:
        if message is not None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(
                        sent_table.insert().values(
                            message_id=email.message_id,
                            kind=email.kind.value,
                            reference=email.reference,
                            header_message_id=str(message["Message-ID"]),
                            sent_at=self.desk.clock(),
                        )
                    )
            except sa.exc.IntegrityError:
                pass  # a twin delivery finished first
        if email.kind is EmailKind.RECEIPT:
            self._acknowledge(email)
        settle_pending(self.engine, email.message_id)

    def _acknowledge(self, email: OutgoingEmail) -> None:
        """Record that the receipt went, with its Message-ID (P3.3); also after a redelivery."""
        with self.engine.connect() as connection:
            header = connection.execute(
                sa.select(sent_table.c.header_message_id).where(
                    sent_table.c.message_id == email.message_id
                )
            ).scalar()
        if header is None:
            return  # dead-lettered: no receipt went, so nothing to acknowledge
        try:
            if self.desk.ticket(email.reference).acknowledgement_message_id is None:
                self.desk.acknowledge(email.reference, message_id=header, actor=MAILER)
        except DomainError as error:
            # Already acknowledged by a twin delivery, or a ticket that is not ours: the
            # email went either way, and the record must not be blocked by it.
            log.info("mailer: receipt of %s not acknowledged: %s", email.reference, error)

    def _dead_letter(
        self, email: OutgoingEmail | Mapping[str, Any], error: Exception, attempts: int
    ) -> None:
        if isinstance(email, OutgoingEmail):
            fields = email.to_payload()
        else:  # unreadable: keep what can be read, so operators can find it
            fields = dict(email)
            fields["message_id"] = str(fields.get("message_id") or _fingerprint(fields))
        message_id = str(fields["message_id"])[:200]
        reason = _without_address(f"{type(error).__name__}: {error}", str(fields.get("to") or ""))
        log.error("mailer: %s set aside as a dead letter: %s", message_id, reason)
        with self.engine.begin() as connection:
            connection.execute(
                dead_letter_table.delete().where(dead_letter_table.c.message_id == message_id)
            )
            connection.execute(
                dead_letter_table.insert().values(
                    message_id=message_id,
                    kind=str(fields.get("kind") or "unreadable")[:40],
                    reference=str(fields.get("reference") or "")[:20],
                    recipient=str(fields.get("to") or "")[:320],
                    payload=json.dumps(fields, ensure_ascii=False, default=str),
                    error=reason[:2000],
                    attempts=attempts,
                    failed_at=self.desk.clock(),
                )
            )
        settle_pending(self.engine, message_id)

    # ---- operators ------------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """The emails that could not be sent, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(dead_letter_table).order_by(dead_letter_table.c.failed_at)
            ).all()
        return [
            DeadLetter(
                message_id=r.message_id,
                kind=r.kind,
                reference=r.reference,
                recipient=r.recipient,
                error=r.error,
                attempts=r.attempts,
                failed_at=r.failed_at,
            )
            for r in rows
        ]

    def requeue(self, message_ids: Sequence[str] | None = None) -> int:
        """Send dead letters again (all, or those named); returns how many were queued."""
        query = sa.select(dead_letter_table)
        if message_ids is not None:
            query = query.where(dead_letter_table.c.message_id.in_(list(message_ids)))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        emails, kept = [], []
        for row in rows:
            try:
                emails.append(OutgoingEmail.from_payload(json.loads(row.payload)))
                kept.append(row._asdict())
            except ValueError:
                log.warning("mailer: dead letter %s is unreadable; kept", row.message_id)
        if not emails:
            return 0
        ids = [e.message_id for e in emails]
        # Out of the dead letters first: else the mailer would drop the requeued message as
        # one it has finished with.
        with self.engine.begin() as connection:
            connection.execute(
                dead_letter_table.delete().where(dead_letter_table.c.message_id.in_(ids))
            )
        try:
            self.queue.publish(emails)
        except Exception:
            with self.engine.begin() as connection:
                connection.execute(dead_letter_table.insert(), kept)
            raise
        return len(emails)


def _without_address(text: str, address: str) -> str:
    """The text with the address replaced by its hash (a server's answer may repeat it)."""
    if not address.strip():
        return text
    return re.sub(re.escape(address.strip()), address_tag(address), text, flags=re.IGNORECASE)


def _fingerprint(fields: Mapping[str, Any]) -> str:
    raw = json.dumps(fields, sort_keys=True, default=str).encode("utf-8")
    return "unreadable." + hashlib.sha256(raw).hexdigest()[:32]
