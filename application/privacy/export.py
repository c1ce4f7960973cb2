"""A copy of a learner's data, which they can check against the record (the right of access
and portability; P7.1, P7.3).

The copy holds every event of each of the learner's tickets exactly as stored, with the hash
the event was recorded with, its predecessor's hash, and the very text that was hashed, so
that anyone can recompute each hash (SHA-256 of that text) and link each event to the one
before, up to the chain head that `audit verify` checks. The learner's own texts are recorded
sealed under their ticket's key and hashed so: `sealed` names those fields, opened in `data`
and sealed in `hashed`. Internal notes are withheld: their hashes are given, so the chain still
links, but not their text. A readable summary, Arabic first, says the same for people.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from application.audit.history import Audit
from application.audit.records import StoredRecord
from domain.chain import event_type_name, hashed_document
from domain.errors import TicketNotFound
from domain.personal import Personal
from domain.wording import when

WITHHELD = frozenset({"NoteAdded"})
"""Events kept from the copy but for their hashes: the team's internal notes."""

FORMAT = "supportdesk.requester-copy/1"


@dataclass(frozen=True)
class TicketCopy:
    reference: str
    records: list[StoredRecord]

    @property
    def head(self) -> str | None:
        """The hash of the ticket's newest event, which `audit verify` checks."""
        return self.records[-1].stored_hash if self.records else None


@dataclass(frozen=True)
class RequesterCopy:
    """Everything the desk recorded about one requester's tickets."""

    email: str
    made_at: datetime
    tickets: list[TicketCopy]

    def lines(self, audit: Audit) -> Iterator[dict[str, Any]]:
        """The copy as JSON values, one per line: what it is, then each event."""
        yield {
            "format": FORMAT,
            "requester": self.email,
            "made_at": self.made_at.isoformat(),
            "tickets": [{"reference": t.reference, "head": t.head} for t in self.tickets],
        }
        for ticket in self.tickets:
            for record in ticket.records:
                entry = audit.entry(record)
                entry["reference"] = ticket.reference
                if record.type in WITHHELD:
                    entry["data"] = None
                    entry["withheld"] = "an internal note of the support team"
                else:  # what was hashed, to the byte: sha256(hashed) is the hash
                    entry["hashed"] = hashed_document(event_type_name(record.topic), record.state)
                    sealed = sorted(k for k, v in record.state.items() if isinstance(v, Personal))
                    if sealed:  # hashed as kept: sealed under the learner's key, here opened
                        entry["sealed"] = sealed
                yield entry


def requester_copy(
    audit: Audit, references: Sequence[str], email: str, made_at: datetime
) -> RequesterCopy:
    """The copy for `email`, from the tickets named (a look-up may be a little behind or too
    broad: only tickets whose request was made from that address are kept)."""
    wanted = email.strip().casefold()
    tickets = []
    for reference in dict.fromkeys(references):
        try:
            records = sorted(audit.history(reference), key=lambda r: r.version)
        except TicketNotFound:
            continue
        if str(records[0].state.get("requester_email", "")).casefold() == wanted:
            tickets.append(TicketCopy(reference, records))
    tickets.sort(key=lambda t: (t.records[0].timestamp or made_at, t.reference))
    return RequesterCopy(email.strip(), made_at, tickets)


# ---- the readable summary -------------------------------------------------------------------

_STEPS: dict[str, tuple[str, str]] = {
    "Submitted": ("استلمنا طلبك", "Your request was received"),
    "Acknowledged": ("أرسلنا إليك إشعار الاستلام", "We sent you the receipt"),
    "DetailsSupplied": ("اكتملت بيانات الطلب", "The request's details were completed"),
    "Responded": ("ردّ فريق الدعم", "The support team replied"),
    "FollowUpReceived": ("وصلتنا رسالتك", "Your message arrived"),
    "Classified": ("صُنّفت المشكلة", "The problem was classified"),
    "DeadlineExtended": ("مُدّد الموعد المتوقع للحل", "The expected time was extended"),
    "Escalated": ("صُعّد الطلب إلى الإدارة الإشرافية", "Escalated to supervisory management"),
    "ForwardedToManagement": ("أُحيل إلى الإدارة المختصة", "Forwarded to the competent management"),
    "Resolved": ("حُلّت المشكلة", "The problem was resolved"),
    "Reopened": ("أُعيد فتح الطلب", "The request was reopened"),
}
_INTERNAL = ("إجراء داخلي لفريق الدعم", "An internal step of the support team")
_TEXT_FIELDS = ("subject", "description", "message", "summary", "reason")


def summary(copy: RequesterCopy, zone: ZoneInfo) -> str:
    """The copy for people: Arabic first, then English; the texts as the learner wrote them."""
    return "\n".join([*_summary(copy, zone, 0), "", "-" * 40, "", *_summary(copy, zone, 1)]) + "\n"


def _summary(copy: RequesterCopy, zone: ZoneInfo, language: int) -> Iterator[str]:
    lang = ("ar", "en")[language]
    title = ("نسخة من بيانات طلبات الدعم الفني", "A copy of your technical support data")
    yield title[language]
    yield f"{('البريد الإلكتروني', 'Email')[language]}: {copy.email}"
    yield f"{('أُعدّت في', 'Made')[language]}: {when(copy.made_at, lang, zone)}"
    yield f"{('عدد الطلبات', 'Requests')[language]}: {len(copy.tickets)}"
    if not copy.tickets:
        yield ("لا توجد طلبات مسجّلة لهذا البريد.", "No request is recorded for this address.")[
            language
        ]
    for ticket in copy.tickets:
        yield ""
        yield f"{('الطلب', 'Request')[language]} {ticket.reference}"
        for record in ticket.records:
            step = _STEPS.get(record.type, _INTERNAL)[language]
            instant = when(record.timestamp, lang, zone) if record.timestamp else ""
            yield f"- {instant}: {step}"
            if record.type in _STEPS:
                for field in _TEXT_FIELDS:
                    text = record.state.get(field)
                    if isinstance(text, str) and text.strip():
                        yield "    " + "\n    ".join(text.strip().splitlines())
        yield f"  {('بصمة آخر حدث', 'Hash of the newest event')[language]}: {ticket.head}"
