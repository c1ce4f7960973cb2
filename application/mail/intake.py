"""Requests and follow-ups that arrive by email (P1.1, P3.1–P3.2, P6.1–P6.2).

One service behind every door (the SMTP listener, the MTA pipe over HTTP, files on the command
line). It reads a raw RFC 5322 message and applies the policy's rules:

- to the support address without a reference: a new ticket (channel `email`); the type of
  problem and the course are read from lines such as `Category: login` / `الفئة: تسجيل الدخول`;
  what is missing is recorded on the ticket, and the requester is asked for it (P3.2);
- to the support address quoting a reference or answering one of the desk's emails, from that
  ticket's requester: a follow-up (P6.1), and an escalation as well when the ticket is already
  past a due instant; on a resolved ticket, a reopening soon after, a new ticket later;
- to the management address quoting a reference, from that ticket's requester: an escalation
  to supervisory management (P6.2);
- a message from anyone else never changes that ticket.

Anyone can write any address into From. A message is from the requester only when a trusted
mail server vouches for its sender's domain (`application.mail.authentication`); one that
merely names the requester's address is recorded on the ticket as an unverified follow-up,
which escalates nothing and fills in no detail, whichever address it was sent to. With no
trusted server configured (the embedded default) no sender can be vouched for: mail is then
recorded, and never escalates; the SLA watch still escalates every missed deadline (P6.2).
A new request needs no vouching (P1.1 accepts requests by email), but its address stays
unconfirmed, so no email of the desk echoes what the request says (see `notifications`).

The files a message carries go with it onto the record (P2.2): those the policy keeps, and
why each other was refused; the text is recorded all the same.

A message (by its Message-ID and sender) has one effect however often it arrives. Automatic
mail (autoreplies, bounces, our own emails) is ignored, and a sender's new requests beyond a
few an hour join their newest ticket, so that a robot cannot loop with the desk.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.attachments.inspection import inspect_all
from application.desk import Outcome, SupportDesk
from application.mail.address import address_tag
from application.mail.authentication import vouched_for
from application.mail.bursts import MAX_NEW_REQUESTS, SenderBursts
from application.mail.message import (
    AutomaticWithoutSender,
    InboundEmail,
    MessageRefused,
    parse_email,
)
from application.mail.notifications import Addresses
from application.mail.outbox import mail_metadata
from application.mail.statements import read_category, read_course
from domain.errors import InvalidRequest, TicketNotFound, TransitionRefused
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import REQUESTER, Channel
from domain.status import Status
from domain.ticket import Ticket

log = logging.getLogger(__name__)

CLAIM_TIMEOUT = timedelta(minutes=10)
"""A message whose handling started this long ago and never finished may be handled again."""

UNVERIFIED = "no trusted mail server vouches for the sender: recorded, not acted on"

BURST = (
    f"more than {MAX_NEW_REQUESTS} new requests from this sender within the hour: "
    "added to their newest ticket"
)

REOPEN_WITHIN_BUSINESS_HOURS = 40.0
"""A requester's reply this soon after the resolution (five business days: the longest
resolution target, P5.3) reopens the ticket; a later one opens a new ticket naming it."""

inbound_table = sa.Table(
    "mail_inbound",
    mail_metadata,
    sa.Column("message_id", sa.String(300), primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.String(20), nullable=True),
    sa.Column("reference", sa.String(20), nullable=True),
)


class Action(StrEnum):
    """What an inbound message did."""

    CREATED = "created"
    FOLLOW_UP = "follow_up"
    REOPENED = "reopened"
    ESCALATED = "escalated"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REFUSED = "refused"


@dataclass(frozen=True)
class IntakeOutcome:
    """The effect of one inbound message, for the door to report."""

    action: Action
    reference: str | None = None
    detail: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the sender's server may consider the message delivered."""
        return self.action is not Action.REFUSED


# ---- the service ------------------------------------------------------------------------------


class MailIntake:
    """Applies the policy's email rules to inbound messages (P1.1, P6.1, P6.2)."""

    def __init__(
        self,
        desk: SupportDesk,
        engine: Engine,
        addresses: Addresses,
        trusted_authserv: Collection[str] = (),
    ) -> None:
        self.desk = desk
        self.engine = engine
        self.addresses = addresses
        self.trusted_authserv = tuple(trusted_authserv)
        self.bursts = SenderBursts(engine)

    def accepts_recipient(self, address: str) -> bool:
        """Whether mail to this address is for the desk (the listener refuses the rest)."""
        return address.strip().lower() in self._own_addresses()

    def receive(
        self,
        raw: bytes,
        envelope_recipients: Sequence[str] = (),
        envelope_sender: str | None = None,
    ) -> IntakeOutcome:
        """Apply the rules to one raw message; the same message twice has one effect.

        `envelope_sender` is the SMTP reverse-path when the door knows it: empty (`<>`) for
        bounces and automatic replies (RFC 5321 4.5.5, RFC 3834), which are never requests.
        """
        if envelope_sender is not None and envelope_sender.strip(" <>") == "":
            return _ignored("a bounce or automatic reply (null sender)", None)
        try:
            email = parse_email(raw, envelope_recipients)
        except AutomaticWithoutSender:
            return _ignored("automatic mail is not a request", None)
        except MessageRefused as refusal:
            return IntakeOutcome(Action.REFUSED, detail=str(refusal))
        if email.automatic or email.sender.lower() in self._own_addresses():
            return _ignored("automatic mail is not a request", email)
        key = _delivery_key(email)
        earlier = self._claim(key, legacy=email.message_id)
        if earlier is not None:
            return earlier
        try:
            outcome = self._apply(email)
        except BaseException:
            self._release(key)
            raise
        self._record(key, outcome)
        return outcome

    # ---- rules --------------------------------------------------------------------------------

    def _apply(self, email: InboundEmail) -> IntakeOutcome:
        ticket = self._ticket_quoted(email)
        from_requester = (
            ticket is not None and email.sender.casefold() == ticket.requester_email.casefold()
        )
        to_management = self.addresses.management.lower() in email.recipients
        to_support = self.addresses.support.lower() in email.recipients or not to_management
        if ticket is not None and from_requester:
            if to_support and ticket.status is Status.RESOLVED:
                return self._after_resolution(ticket, email)
            if not self._vouched_for(email):
                self._follow_up(ticket.reference, email, verified=False)
                return IntakeOutcome(Action.FOLLOW_UP, ticket.reference, UNVERIFIED)
            return self._from_requester(ticket, email, to_support, to_management)
        if to_support:
            newest = self.bursts.newest_if_full(email.sender, self.desk.clock())
            if newest is not None:  # a loop with a robot, or a flood: kept, and no receipt
                self._follow_up(newest, email, verified=self._vouched_for(email))
                return IntakeOutcome(Action.FOLLOW_UP, newest, BURST)
            return self._new_request(email)
        return IntakeOutcome(
            Action.IGNORED, detail="mail to management that quotes no ticket of the sender"
        )

    def _from_requester(
        self, ticket: Ticket, email: InboundEmail, to_support: bool, to_management: bool
    ) -> IntakeOutcome:
        reference = ticket.reference
        if to_support:
            # The desk escalates a follow-up that comes after a missed deadline (P6.1).
            escalations = len(self._follow_up(reference, email, verified=True).ticket.escalations)
            if escalations > len(ticket.escalations) and not to_management:
                reason = EscalationReason.REQUESTER_FOLLOW_UP_AFTER_DEADLINE
                return IntakeOutcome(Action.ESCALATED, reference, reason.value)
        if to_management:
            reason = EscalationReason.REQUESTER_TO_MANAGEMENT  # P6.2
            try:
                self.desk.escalate(
                    reference, reason=reason, actor=REQUESTER, note=email.subject[:200]
                )
                return IntakeOutcome(Action.ESCALATED, reference, reason.value)
            except TransitionRefused as refusal:  # e.g. resolved: it goes on the record below
                log.info("intake: %s not escalated: %s", reference, refusal)
            if not to_support:
                self._follow_up(reference, email, verified=True)
        return IntakeOutcome(Action.FOLLOW_UP, reference)

    def _after_resolution(self, ticket: Ticket, email: InboundEmail) -> IntakeOutcome:
        """The requester wrote again after the resolution, which the resolution email invites
        when the problem is not solved: soon after, the ticket is reopened and their message
        follows; later, it is a new request that names the old one. The message is on the
        old ticket's record either way (P7.1)."""
        reference = ticket.reference
        verified = self._vouched_for(email)
        now = self.desk.clock()
        since = self.desk.sla.calendar.business_hours_between(ticket.resolved_at or now, now)
        if since > REOPEN_WITHIN_BUSINESS_HOURS:
            self._follow_up(reference, email, verified=verified)
            created = self._new_request(email, follows=reference)
            detail = f"{reference} was resolved more than five business days ago"
            return IntakeOutcome(Action.CREATED, created.reference, detail)
        first = _first_line(email.new_text) or email.subject or "(no text)"
        said = "" if verified else " (sender not verified)"
        try:
            self.desk.reopen(
                reference,
                reason=f"The requester wrote again after the resolution{said}: {first[:200]}",
                actor=REQUESTER,
            )
        except TransitionRefused:  # someone reopened it meanwhile: the message still follows
            self._follow_up(reference, email, verified=verified)
            return IntakeOutcome(Action.FOLLOW_UP, reference)
        self._follow_up(reference, email, verified=verified)
        return IntakeOutcome(Action.REOPENED, reference, UNVERIFIED if not verified else "")

    def _vouched_for(self, email: InboundEmail) -> bool:
        return vouched_for(email.authentication_results, self.trusted_authserv, email.sender_domain)

    def _follow_up(self, reference: str, email: InboundEmail, *, verified: bool) -> Outcome:
        """Every message about a ticket from its requester's address is on its record (P6.1,
        P7.1); only a verified one fills in missing details (P3.2)."""
        kept, refused = inspect_all(email.files)  # only for a message that is recorded
        outcome = self.desk.receive_follow_up(
            reference,
            message=email.new_text or email.subject or "(no text)",
            channel=Channel.EMAIL,
            message_id=email.message_id,
            sender=email.sender,
            subject=email.subject or None,
            verified=verified,
            files=kept,
            refused=refused,
        )
        if verified and outcome.ticket.missing_details:
            self._supply_details(reference, email)
        return outcome

    def _supply_details(self, reference: str, email: InboundEmail) -> None:
        """A reply to the request for missing details fills them in (P3.2)."""
        text = f"{email.subject}\n{email.new_text or email.text}"
        category, course = read_category(text), read_course(email.new_text or email.text)
        if category is None and course is None:
            return
        try:
            self.desk.supply_details(reference, category=category, course=course)
        except (InvalidRequest, TransitionRefused) as refusal:
            log.info("intake: details for %s not taken: %s", reference, refusal)

    def _new_request(self, email: InboundEmail, follows: str | None = None) -> IntakeOutcome:
        text = email.text
        subject = email.subject or _first_line(text) or "(بدون عنوان / no subject)"
        if follows is not None and follows not in subject:
            subject = f"{subject[:180]} [{follows}]"  # the earlier ticket, for agents to open
        kept, refused = inspect_all(email.files)  # only for a message that is recorded
        outcome = self.desk.submit(
            channel=Channel.EMAIL,
            requester_email=email.sender,
            requester_name=email.sender_name,
            category=read_category(f"{email.subject}\n{text}"),
            course=read_course(text),
            subject=subject[:200],
            description=text or subject,
            language=email.language,
            message_id=email.message_id,
            files=kept,
            refused=refused,
        )
        self.bursts.opened(email.sender, outcome.reference, self.desk.clock())
        return IntakeOutcome(Action.CREATED, outcome.reference)

    def _ticket_quoted(self, email: InboundEmail) -> Ticket | None:
        """The ticket the message is about: the one whose email it answers (our Message-IDs
        name their ticket), else the reference it quotes (P6.1)."""
        reference = self._answered(email) or email.quoted_reference
        if reference is None:
            return None
        try:
            return self.desk.ticket(reference)
        except TicketNotFound:
            return None

    def _answered(self, email: InboundEmail) -> Reference | None:
        """The ticket of the desk's own email that the message replies to, if any: mail
        programs keep In-Reply-To and References when people change the subject and quote
        nothing."""
        ours = f"@{self.addresses.domain}>".lower()
        for message_id in email.replies_to:
            if message_id.lower().endswith(ours):
                reference = Reference.find_in(message_id[1 : -len(ours)])
                if reference is not None:
                    return reference
        return None

    def _own_addresses(self) -> frozenset[str]:
        return frozenset(
            a.lower()
            for a in (
                self.addresses.support,
                self.addresses.management,
                self.addresses.suggestions,
            )
        )

    # ---- one effect per message ----------------------------------------------------------------

    def _claim(self, message_id: str, legacy: str) -> IntakeOutcome | None:
        """Take the message for handling; if it was handled (or is being), say how.

        `message_id` is the message's key (`_delivery_key`); `legacy`, the key earlier
        releases used (the Message-ID alone), so that a redelivery of a message they
        recorded still has one effect."""
        now = self.desk.clock()
        with self.engine.connect() as connection:
            before = connection.execute(
                sa.select(inbound_table.c.action, inbound_table.c.reference).where(
                    inbound_table.c.message_id == legacy, inbound_table.c.action.is_not(None)
                )
            ).first()
        if before is not None:
            detail = f"already received ({before.action})"
            return IntakeOutcome(Action.DUPLICATE, before.reference, detail)
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    inbound_table.insert().values(message_id=message_id, received_at=now)
                )
            return None
        except sa.exc.IntegrityError:
            pass
        with self.engine.begin() as connection:
            # A claim whose handler died long ago is taken over, so the message is not lost.
            taken_over = connection.execute(
                inbound_table.update()
                .where(
                    inbound_table.c.message_id == message_id,
                    inbound_table.c.action.is_(None),
                    inbound_table.c.received_at < now - CLAIM_TIMEOUT,
                )
                .values(received_at=now)
            ).rowcount
            if taken_over:
                return None
            row = connection.execute(
                sa.select(inbound_table.c.action, inbound_table.c.reference).where(
                    inbound_table.c.message_id == message_id
                )
            ).first()
        detail = f"already received ({row.action or 'in progress'})" if row else "already received"
        return IntakeOutcome(Action.DUPLICATE, row.reference if row else None, detail)

    def _record(self, message_id: str, outcome: IntakeOutcome) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                inbound_table.update()
                .where(inbound_table.c.message_id == message_id)
                .values(action=outcome.action.value, reference=outcome.reference)
            )

    def _release(self, message_id: str) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    inbound_table.delete().where(
                        inbound_table.c.message_id == message_id,
                        inbound_table.c.action.is_(None),
                    )
                )
        except sa.exc.SQLAlchemyError:
            log.exception("intake: claim on %s not released", message_id)


def _ignored(detail: str, email: InboundEmail | None) -> IntakeOutcome:
    """Automatic mail, heard and dropped. The log says so, naming the sender by its tag and
    the message by its id (never what it says), so that a person's message taken for a robot's
    can be found in the mail server's log again."""
    if email is None:
        log.info("intake: ignored: %s (no usable sender)", detail)
    else:
        log.info(
            "intake: ignored: %s (%s, %s)", detail, address_tag(email.sender), email.message_id
        )
    return IntakeOutcome(Action.IGNORED, detail=detail)


def _delivery_key(email: InboundEmail) -> str:
    """What makes a delivery the same message: its Message-ID from the same sender. Ids are
    chosen by senders, so another sender's message with a reused id is another message
    (bounded: a msg-id is at most 250 characters, the key 267)."""
    sender = hashlib.sha256(email.sender.casefold().encode()).hexdigest()[:16]
    return f"{email.message_id} {sender}"


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
