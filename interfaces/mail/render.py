"""Renders an outgoing email: Arabic first, English below, as plain text and as HTML.

Each kind of email has one Arabic and one English plain-text template. Emails to a ticket's
owner carry the requester's words to the support team, never internal notes. The HTML part is the
same text laid out in a right-to-left and a left-to-right block by `layout.html`, whose
autoescaping escapes everything, so nothing a requester wrote can become markup.
"""

from __future__ import annotations

from datetime import datetime
from email import policy
from email.headerregistry import Address, HeaderRegistry, MessageIDHeader
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from application.mail.message import strict_message_id
from application.mail.notifications import Addresses, EmailKind, OutgoingEmail
from domain.attachment import Refusal
from domain.categories import Category
from domain.wording import when

TEMPLATES = Path(__file__).parent / "templates"

SUBJECTS = {
    EmailKind.RECEIPT: ("تم استلام طلبك", "We received your request"),
    EmailKind.DETAILS_REQUEST: ("نحتاج بعض التفاصيل لطلبك", "We need a few details"),
    EmailKind.RESPONSE: ("رد على طلبك", "A reply to your request"),
    EmailKind.CLASSIFIED_COMPLEX: ("موعد جديد متوقع لحل طلبك", "New expected time for a solution"),
    EmailKind.EXTENSION: ("موعد جديد متوقع لحل طلبك", "New expected time for a solution"),
    EmailKind.RESOLUTION: ("تم حل طلبك", "Your request is resolved"),
    EmailKind.ESCALATION: ("تصعيد إلى الإدارة الإشرافية", "Escalated to supervisory management"),
    EmailKind.SUGGESTION_REFERRAL: ("اقتراح محال إلى الإدارة المختصة", "Suggestion referred"),
    EmailKind.OWNER_FOLLOW_UP: ("كتب مقدم الطلب مجدداً", "The requester wrote again"),
    EmailKind.OWNER_AT_RISK: ("موعد يقترب من الانقضاء", "A deadline is at risk"),
}

ESCALATION_REASONS = {
    "first_response_overdue": ("انقضى موعد الرد الأول دون رد", "First response overdue (P5.1)"),
    "resolution_overdue": ("انقضى موعد الحل دون حل", "Resolution overdue (P5.2–P5.3)"),
    "requester_follow_up_after_deadline": (
        "كتب مقدم الطلب مجدداً بعد انقضاء الموعد",
        "The requester wrote again after the deadline (P6.1)",
    ),
    "requester_to_management": (
        "رفع مقدم الطلب طلبه إلى الإدارة الإشرافية",
        "The requester wrote to supervisory management (P6.2)",
    ),
    "agent": ("صعّده فريق الدعم", "Escalated by the support team"),
}

DEADLINES = {
    "first_response": ("الرد الأول", "first response"),  # P5.1
    "resolution": ("الحل", "solution"),  # P5.2–P5.4
}

CHANNELS = {
    "web_form": ("نموذج الطلب على الموقع", "the web form"),
    "email": ("البريد الإلكتروني", "email"),
}

VERIFIED = {
    "yes": ("نعم، من مقدم الطلب", "yes, it comes from the requester"),
    "no": (
        "لا، لم يُتحقق من أنها من مقدم الطلب",
        "no, it is not known to come from the requester",
    ),
}
UNKNOWN_SENDER = ("غير معروف", "not known")  # recorded before senders were checked

DETAILS = {
    "category": ("نوع المشكلة", "the type of problem"),
    "course": ("اسم الدورة أو الورشة", "the name of the course or workshop"),
    "email": ("البريد الإلكتروني المسجل في الحساب", "the email address registered on the account"),
}


class MailRenderer:
    """Turns an `OutgoingEmail` into a MIME message ready to send."""

    def __init__(self, addresses: Addresses, timezone: str = "Asia/Riyadh") -> None:
        self.addresses = addresses
        self.zone = ZoneInfo(timezone)
        self.text = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=False,  # plain text: nothing to escape
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )
        self.html = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
        )
        for environment in (self.text, self.html):
            environment.filters.update(
                when_ar=self.when_ar,
                when_en=self.when_en,
                category_ar=lambda code: _category(code, "ar"),
                category_en=lambda code: _category(code, "en"),
                reason_ar=lambda code: ESCALATION_REASONS.get(code, (code, code))[0],
                reason_en=lambda code: ESCALATION_REASONS.get(code, (code, code))[1],
                detail_ar=lambda code: DETAILS.get(code, (code, code))[0],
                detail_en=lambda code: DETAILS.get(code, (code, code))[1],
                deadline_ar=lambda code: DEADLINES.get(code, (code, code))[0],
                deadline_en=lambda code: DEADLINES.get(code, (code, code))[1],
                channel_ar=lambda code: CHANNELS.get(code, (code, code))[0],
                channel_en=lambda code: CHANNELS.get(code, (code, code))[1],
                verified_ar=lambda code: VERIFIED.get(code, UNKNOWN_SENDER)[0],
                verified_en=lambda code: VERIFIED.get(code, UNKNOWN_SENDER)[1],
                refusal_ar=lambda code: _refusal(code, "ar"),
                refusal_en=lambda code: _refusal(code, "en"),
                duration_ar=lambda minutes: _duration(minutes, "س", "د"),
                duration_en=lambda minutes: _duration(minutes, "h", "min"),
            )

    def __call__(self, email: OutgoingEmail) -> EmailMessage:
        """The message: headers, a plain-text part and an HTML alternative."""
        context = {**email.context, "reference": email.reference}
        arabic = self.text.get_template(f"{email.kind.value}.ar.txt").render(context).strip()
        english = self.text.get_template(f"{email.kind.value}.en.txt").render(context).strip()
        subject_ar, subject_en = SUBJECTS[email.kind]
        subject = f"{subject_ar} | {subject_en} [{email.reference}]"

        message = EmailMessage(policy=THREADING)
        message["Subject"] = subject
        message["From"] = Address(
            "الدعم الفني - Captain Mama Support", addr_spec=self.addresses.support
        )
        message["To"] = email.to
        message["Reply-To"] = self.addresses.support
        message["Message-ID"] = email.header_message_id(self.addresses.domain)
        # Taken from the requester's email: echoed only if it is a strict msg-id (events
        # recorded before that check may hold anything).
        thread = strict_message_id(email.in_reply_to or "")
        if thread:
            message["In-Reply-To"] = thread
            message["References"] = thread
        # Automatic mail: autoresponders must not answer it, and the desk ignores replies
        # that carry this header, so two robots cannot loop.
        message["Auto-Submitted"] = "auto-generated"
        message["X-Supportdesk-Reference"] = email.reference
        message.set_content(f"{arabic}\n\n{'-' * 40}\n\n{english}\n")
        message.add_alternative(
            self.html.get_template("layout.html").render(
                subject=subject,
                arabic=_paragraphs(arabic),
                english=_paragraphs(english),
            ),
            subtype="html",
        )
        # After the parts are made: making them moves every Content- field into the first.
        message["Content-Language"] = "ar, en"
        check_headers(message)
        return message

    def when_ar(self, instant: str | None) -> str:
        """An instant as Arabic readers in the desk's time zone read it."""
        return when(datetime.fromisoformat(instant), "ar", self.zone) if instant else "—"

    def when_en(self, instant: str | None) -> str:
        """An instant as English readers in the desk's time zone read it."""
        return when(datetime.fromisoformat(instant), "en", self.zone) if instant else "—"


def _threading_policy() -> policy.EmailPolicy[EmailMessage]:
    """The default policy, reading In-Reply-To and References as msg-ids, as Message-ID is.

    Read as unstructured text, a msg-id longer than a line (usual from Microsoft 365) is
    folded into encoded words, and mail programs no longer find the message it answers."""
    registry = HeaderRegistry()
    for name in ("in-reply-to", "references"):  # each carries one msg-id here
        # typeshed declares MessageIDHeader apart from BaseHeader; it is one at run time
        registry.map_to_type(name, MessageIDHeader)  # type: ignore[arg-type]
    return policy.default.clone(header_factory=registry)


THREADING = _threading_policy()


def check_headers(message: EmailMessage) -> None:
    """Refuse a message whose serialised headers are not the ones set.

    Some Python versions (before 3.11.10, 3.12.5 and 3.13; CVE-2024-6923) fold a header value
    that holds a line break into a real line break, which adds headers or replaces the body.
    Read back, such a message shows headers nobody set: it is never sent.
    """
    sent = BytesParser(policy=policy.compat32).parsebytes(message.as_bytes(), headersonly=True)
    if [name.lower() for name in sent.keys()] != [name.lower() for name in message.keys()]:
        raise UnsafeHeaders(f"headers changed when written: {sorted(set(sent.keys()))}")


class UnsafeHeaders(ValueError):
    """A message would carry headers that were not set: a header value held a line break."""


def _refusal(code: str, language: str) -> str:
    try:
        return Refusal(code).explained(language)
    except ValueError:
        return code


def _category(code: str | None, language: str) -> str:
    if not code:
        return "—"
    try:
        return Category(code).label(language)
    except ValueError:
        return code


def _duration(minutes: str | None, hours_unit: str, minutes_unit: str) -> str:
    """Business time as hours and minutes: `6 h 05 min`."""
    if minutes is None:
        return "—"
    hours, rest = divmod(max(int(minutes), 0), 60)
    return f"{hours} {hours_unit} {rest:02d} {minutes_unit}"


def _paragraphs(text: str) -> list[list[str]]:
    """Blank-line separated paragraphs, each a list of lines."""
    return [block.splitlines() for block in text.split("\n\n") if block.strip()]
