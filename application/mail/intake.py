"""Requests and follow-ups that arrive by email (P1.1, P3.1–P3.2, P6.1–P6.2).

One service behind every door (the SMTP listener, the MTA pipe over HTTP, files on the command
line). It reads a raw RFC 5322 message and applies the policy's rules:

- to the support address without a reference: a new ticket (channel `email`); the type of
  problem and the course are read from lines such as `Category: login` / `الفئة: تسجيل الدخول`;
  what is missing is recorded on the ticket, and the requester is asked for it (P3.2);
- to the support address quoting a reference, from that ticket's requester: a follow-up (P6.1),
  and an escalation as well when the ticket is already past a due instant;
- to the management address quoting a reference, from that ticket's requester: an escalation
  to supervisory management (P6.2);
- a message from anyone else never changes that ticket.

A message (by its Message-ID) has one effect however often it arrives. Automatic mail
(autoreplies, bounces, our own emails) is ignored, so that two robots cannot loop.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from enum import StrEnum
from html.parser import HTMLParser

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.desk import Outcome, SupportDesk
from application.mail.notifications import Addresses
from application.mail.outbox import mail_metadata
from domain.categories import Category
from domain.errors import InvalidRequest, TicketNotFound, TransitionRefused
from domain.reference import Reference
from domain.ticket import REQUESTER, Channel, EscalationReason, Ticket

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
"""Larger messages (big attachments) are refused at the door; attachments are never kept."""

MAX_TEXT_CHARS = 20_000
"""A longer text body is cut: the ticket records a request, not an archive."""

CLAIM_TIMEOUT = timedelta(minutes=10)
"""A message whose handling started this long ago and never finished may be handled again."""

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


class MessageRefused(ValueError):
    """The message cannot be read as an email, or is too large."""


@dataclass(frozen=True)
class InboundEmail:
    """What the rules need from a raw message."""

    message_id: str
    sender: str
    sender_name: str | None
    recipients: frozenset[str]
    subject: str
    text: str
    automatic: bool

    @property
    def quoted_reference(self) -> Reference | None:
        """The reference quoted in the subject, else in the body (P6.1)."""
        return Reference.find_in(self.subject) or Reference.find_in(self.text)

    @property
    def language(self) -> str:
        """Arabic unless the message is mostly in Latin letters."""
        sample = self.subject + self.text[:2000]
        arabic = sum(1 for c in sample if "\u0600" <= c <= "\u06ff")
        latin = sum(1 for c in sample if c.isascii() and c.isalpha())
        return "ar" if arabic >= latin else "en"

    @property
    def new_text(self) -> str:
        """The text without the lines it quotes from earlier messages."""
        return _unquoted(self.text).strip() or self.text


def parse_email(raw: bytes, envelope_recipients: Sequence[str] = ()) -> InboundEmail:
    """Read a raw RFC 5322 message; refuse what cannot be read as one."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageRefused(f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        sender_name, sender = _sender(message)
        header_recipients = [
            address
            for name in ("To", "Cc", "Delivered-To", "X-Original-To")
            for _, address in getaddresses([str(v) for v in message.get_all(name) or []])
        ]
        subject = " ".join(str(message.get("Subject", "")).split())
        raw_id = str(message.get("Message-ID", "")).strip()
    except Exception as error:  # any defect the parser trips on: refuse, never crash
        raise MessageRefused(f"the message cannot be read: {error}") from error
    if not sender:
        raise MessageRefused("the message names no sender (From)")
    recipients = envelope_recipients or header_recipients
    return InboundEmail(
        message_id=raw_id[:300] if raw_id else f"<sha256.{hashlib.sha256(raw).hexdigest()}>",
        sender=sender,
        sender_name=sender_name,
        recipients=frozenset(a.strip().lower() for a in recipients if a.strip()),
        subject=subject[:300],
        text=_text(message),
        automatic=_is_automatic(message, sender),
    )


def _sender(message: EmailMessage) -> tuple[str | None, str]:
    header = message.get("From")
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if addresses and addresses[0].addr_spec and "@" in addresses[0].addr_spec:
        return addresses[0].display_name or None, addresses[0].addr_spec.strip()
    name, address = parseaddr(str(header or ""))
    return (name or None), (address.strip() if "@" in address else "")


def _is_automatic(message: Message, sender: str) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    local = sender.partition("@")[0].lower()
    return (
        (auto != "" and auto != "no")
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
        or local in ("mailer-daemon", "postmaster")
        or message.get_content_type() == "multipart/report"
    )


def _text(message: EmailMessage) -> str:
    """The message's text: its plain part, else its HTML part as text; never raises."""
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # noqa: BLE001 - a broken MIME tree still may have a readable payload
        part = None
    if part is None:
        part = message if message.get_content_maintype() == "text" else None
    if part is None:
        return ""
    text = _decoded(part)
    if part.get_content_subtype() == "html":
        text = _html_to_text(text)
    text = text.replace("\r\n", "\n").replace("\x00", "").strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS] + "\n[…]"
    return text


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know: read as UTF-8, marking what fails
        return payload.decode("utf-8", errors="replace")


class _TextOfHtml(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BREAKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


# ---- what a request states (P3.2) ----------------------------------------------------------

_LABEL = r"^[ \t]*[-*•]?[ \t]*(?:{})[ \t]*[:：][ \t]*(?P<value>\S.*?)[ \t]*$"
_CATEGORY_LINE = re.compile(
    _LABEL.format("category|type of problem|problem type|type|الفئة|نوع المشكلة|التصنيف|نوع الطلب"),
    re.IGNORECASE | re.MULTILINE,
)
_COURSE_LINE = re.compile(
    _LABEL.format(
        "course or workshop|course/workshop|course|workshop|programme|program|"
        "اسم الدورة أو الورشة|الدورة أو الورشة|اسم الدورة|اسم الورشة|الدورة|الورشة|البرنامج"
    ),
    re.IGNORECASE | re.MULTILINE,
)

# Words that name each type of problem, in either language; the longest match wins.
_CATEGORY_WORDS: dict[Category, tuple[str, ...]] = {
    Category.ACCOUNT_ACTIVATION: (
        "account activation",
        "activate",
        "activation",
        "new account",
        "تفعيل",
        "حساب جديد",
    ),
    Category.PASSWORD_RECOVERY: (
        "password",
        "كلمة المرور",
        "كلمة السر",
        "استعادة",
    ),
    Category.LOGIN: (
        "login",
        "log in",
        "sign in",
        "signing in",
        "sign-in",
        "signin",
        "تسجيل الدخول",
        "الدخول",
    ),
    Category.CONTENT_LOADING: (
        "content loading",
        "loading",
        "load",
        "lesson",
        "workshops not",
        "تحميل",
        "الدروس",
    ),
    Category.ATTENDANCE_CERTIFICATE: ("certificate", "attendance", "شهادة", "الشهادة"),
    Category.COMPLAINT: ("complaint", "remark", "شكوى", "ملاحظة"),
    Category.SUGGESTION: ("suggestion", "suggest", "idea", "اقتراح", "مقترح"),
    Category.OTHER: ("other", "أخرى", "اخرى", "غير ذلك"),
}


def read_category(text: str) -> Category | None:
    """The type of problem a `Category:` / `الفئة:` line states, if one does (P2, P3.2)."""
    for match in _CATEGORY_LINE.finditer(_unquoted(text)):
        value = " ".join(match["value"].replace("_", " ").split()).casefold()
        for category in Category:
            if value in (category.value.replace("_", " "), *map(str.casefold, _labels(category))):
                return category
        best: tuple[int, Category] | None = None
        for category, words in _CATEGORY_WORDS.items():
            for word in words:
                if word in value and (best is None or len(word) > best[0]):
                    best = (len(word), category)
        if best is not None:
            return best[1]
    return None


def read_course(text: str) -> str | None:
    """The course or workshop a `Course:` / `الدورة:` line names, if one does (P3.2)."""
    match = _COURSE_LINE.search(_unquoted(text))
    return match["value"][:200] if match else None


def _labels(category: Category) -> tuple[str, str]:
    return category.label("ar"), category.label("en")


def _unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(">"))


# ---- the service ------------------------------------------------------------------------------


class MailIntake:
    """Applies the policy's email rules to inbound messages (P1.1, P6.1, P6.2)."""

    def __init__(self, desk: SupportDesk, engine: Engine, addresses: Addresses) -> None:
        self.desk = desk
        self.engine = engine
        self.addresses = addresses
        mail_metadata.create_all(engine, checkfirst=True)

    def accepts_recipient(self, address: str) -> bool:
        """Whether mail to this address is for the desk (the listener refuses the rest)."""
        return address.strip().lower() in self._own_addresses()

    def receive(self, raw: bytes, envelope_recipients: Sequence[str] = ()) -> IntakeOutcome:
        """Apply the rules to one raw message; the same Message-ID twice has one effect."""
        try:
            email = parse_email(raw, envelope_recipients)
        except MessageRefused as refusal:
            return IntakeOutcome(Action.REFUSED, detail=str(refusal))
        if email.automatic or email.sender.lower() in self._own_addresses():
            return IntakeOutcome(Action.IGNORED, detail="automatic mail is not a request")
        earlier = self._claim(email.message_id)
        if earlier is not None:
            return earlier
        try:
            outcome = self._apply(email)
        except BaseException:
            self._release(email.message_id)
            raise
        self._record(email.message_id, outcome)
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
            return self._from_requester(ticket, email, to_support, to_management)
        if to_support:
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
            escalations = len(self._follow_up(reference, email).ticket.escalations)
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
                self._follow_up(reference, email)
        return IntakeOutcome(Action.FOLLOW_UP, reference)

    def _follow_up(self, reference: str, email: InboundEmail) -> Outcome:
        """Every message of the requester about a ticket is on its record (P6.1, P7.1)."""
        outcome = self.desk.receive_follow_up(
            reference,
            message=email.new_text or email.subject or "(no text)",
            channel=Channel.EMAIL,
            message_id=email.message_id,
        )
        if outcome.ticket.missing_details:
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

    def _new_request(self, email: InboundEmail) -> IntakeOutcome:
        text = email.text
        subject = email.subject or _first_line(text) or "(بدون عنوان / no subject)"
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
        )
        return IntakeOutcome(Action.CREATED, outcome.reference)

    def _ticket_quoted(self, email: InboundEmail) -> Ticket | None:
        reference = email.quoted_reference
        if reference is None:
            return None
        try:
            return self.desk.ticket(reference)
        except TicketNotFound:
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

    def _claim(self, message_id: str) -> IntakeOutcome | None:
        """Take the message for handling; if it was handled (or is being), say how."""
        now = self.desk.clock()
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


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
