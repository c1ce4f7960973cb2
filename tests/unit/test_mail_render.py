"""Rendering outgoing emails: Arabic first, English below, escaped HTML, Riyadh time."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from application.mail.notifications import Addresses, EmailKind, OutgoingEmail
from interfaces.mail.render import MailRenderer

ADDRESSES = Addresses("support@captainmama.org", "info@captainmama.org", "info@captainmama.org")
REFERENCE = "CM-7K3F-Q2XD"

CONTEXTS: dict[EmailKind, dict[str, str | list[str] | None]] = {
    EmailKind.OWNER_FOLLOW_UP: {
        "received_at": "2026-11-01T07:00:00+00:00",
        "channel": "email",
        "verified": "no",
        "subject": "Re: still locked out",
        "message": "I still cannot sign in.",
    },
    EmailKind.OWNER_AT_RISK: {
        "deadline": "first_response",
        "due": "2026-11-04T07:00:00+00:00",
        "business_minutes_left": "360",
    },
    EmailKind.RECEIPT: {
        "subject": "Cannot sign in",
        "category": "login",
        "course": "Parenting 101",
        "submitted_at": "2026-11-01T07:00:00+00:00",
        "first_response_due": "2026-11-04T07:00:00+00:00",
    },
    EmailKind.DETAILS_REQUEST: {"missing": ["category", "course"]},
    EmailKind.RESPONSE: {"message": "Please try again."},
    EmailKind.CLASSIFIED_COMPLEX: {"resolution_due": "2026-11-08T14:00:00+00:00"},
    EmailKind.EXTENSION: {"resolution_due": "2026-11-10T08:30:00+00:00", "reason": "Vendor"},
    EmailKind.RESOLUTION: {"summary": "Your password was reset."},
    EmailKind.ESCALATION: {
        "reason": "first_response_overdue",
        "note": None,
        "deadline": "2026-11-04T07:00:00+00:00",
        "escalated_by": "system:sla-watch",
        "requester": "learner@example.org",
        "subject": "Cannot sign in",
        "category": "login",
        "course": None,
        "status": "acknowledged",
        "submitted_at": "2026-11-01T07:00:00+00:00",
        "first_response_due": "2026-11-04T07:00:00+00:00",
        "first_responded_at": None,
        "resolution_due": "2026-11-04T07:00:00+00:00",
    },
    EmailKind.SUGGESTION_REFERRAL: {
        "department": "Product",
        "note": "Worth a look",
        "subject": "Dark mode",
        "description": "Please add a dark mode.",
        "course": None,
        "submitted_at": "2026-11-01T07:00:00+00:00",
    },
}


def part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body((subtype,))
    assert body is not None
    return str(body.get_content())


def render(kind: EmailKind, **context: str | list[str] | None) -> OutgoingEmail:
    return OutgoingEmail(
        message_id=f"{kind.value}.1.{REFERENCE}",
        kind=kind,
        to="learner@example.org",
        reference=REFERENCE,
        context={**CONTEXTS[kind], **context},
    )


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_arabic_first_then_english(kind: EmailKind) -> None:
    message = MailRenderer(ADDRESSES)(render(kind))

    text = part(message, "plain")
    html = part(message, "html")
    arabic = min(i for i, c in enumerate(text) if "\u0600" <= c <= "\u06ff")
    assert arabic < text.index("\n---")
    assert text.index("\n---") < min(text.find(w) for w in ("Hello", "To ") if w in text)
    assert html.index('lang="ar" dir="rtl"') < html.index('lang="en" dir="ltr"')
    assert REFERENCE in str(message["Subject"]) and REFERENCE in text
    assert message["Message-ID"] == f"<{kind.value}.1.{REFERENCE}@captainmama.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "ar, en"  # for screen readers and translators
    assert message["Reply-To"] == "support@captainmama.org"


def test_instants_are_shown_in_riyadh_time_in_both_languages() -> None:
    text = part(MailRenderer(ADDRESSES)(render(EmailKind.EXTENSION)), "plain")
    assert "Tuesday 10 November 2026, 11:30 Riyadh time" in text
    assert "الثلاثاء 10 نوفمبر 2026، الساعة 11:30 بتوقيت الرياض" in text


def test_what_the_requester_wrote_is_escaped_in_html_and_kept_in_text() -> None:
    hostile = '<a href="https://evil.example">click</a> & <script>x()</script>'
    referral = render(EmailKind.SUGGESTION_REFERRAL, subject=hostile, description=hostile)
    message = MailRenderer(ADDRESSES)(referral)
    html = part(message, "html")
    text = part(message, "plain")
    assert "<script>" not in html and "<a href" not in html
    assert "&lt;script&gt;x()&lt;/script&gt;" in html and "&amp;" in html
    assert hostile in text


def test_category_and_missing_details_are_named_in_each_language() -> None:
    receipt = part(MailRenderer(ADDRESSES)(render(EmailKind.RECEIPT)), "plain")
    details = part(MailRenderer(ADDRESSES)(render(EmailKind.DETAILS_REQUEST)), "plain")
    assert "مشكلة في تسجيل الدخول" in receipt and "Problem signing in" in receipt
    assert "نوع المشكلة" in details and "the name of the course or workshop" in details


def receipt_answering(message_id: str) -> OutgoingEmail:
    """The receipt of a request that came by email with this Message-ID."""
    return OutgoingEmail(
        message_id=f"receipt.1.{REFERENCE}",
        kind=EmailKind.RECEIPT,
        to="learner@example.org",
        reference=REFERENCE,
        context=CONTEXTS[EmailKind.RECEIPT],
        in_reply_to=message_id,
    )


def test_a_reply_to_an_emailed_request_threads_under_it() -> None:
    message = MailRenderer(ADDRESSES)(receipt_answering("<abc@example.org>"))
    assert message["In-Reply-To"] == message["References"] == "<abc@example.org>"


def test_a_long_message_id_is_echoed_whole_for_mail_programs_to_thread() -> None:
    """Microsoft 365's ids are longer than a line: folded into encoded words, they thread
    nothing."""
    long_id = (
        "<PH0PR11MB5000D1E2F3A4B5C6D7E8F9A0B1C2D3E4F5A6B7C8D9E0"
        "@PH0PR11MB5000.namprd11.prod.outlook.com>"
    )
    written = MailRenderer(ADDRESSES)(receipt_answering(long_id)).as_bytes()
    read = BytesParser(policy=policy.compat32).parsebytes(written, headersonly=True)
    assert len(long_id) > 78
    assert read["In-Reply-To"] == read["References"] == long_id  # one line each, not encoded
