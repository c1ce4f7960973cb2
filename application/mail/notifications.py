"""Which emails the policy sends, and to whom, for each recorded ticket event (P3.3, P5.4, P6.2).

The event log is the outbox: every email below is derived from one event, so it is named by
that event (reference, version) and its kind, and the same event always yields the same emails
with the same ids, however often it is read.

Anyone can name any address in a request, by the form or by mail, and nothing confirms it
before the receipt goes. So no email to a requester repeats what the request says (subject,
course, description, name): it would let anyone send their own words from the desk's address
to whomever they like. The receipt names the reference, the type of problem in the desk's own
words and the times promised (P3.3, P5.1). Only the desk's own addresses (management,
suggestions) are shown what was written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from domain.sla import Complexity
from domain.ticket import Ticket

ContextValue = str | list[str] | None


class EmailKind(StrEnum):
    """The emails the desk sends."""

    RECEIPT = "receipt"  # P3.3
    DETAILS_REQUEST = "details_request"  # P3.2: what the request did not state
    RESPONSE = "response"  # P3.4
    CLASSIFIED_COMPLEX = "classified_complex"  # P5.3: the new expected time
    EXTENSION = "extension"  # P5.4
    RESOLUTION = "resolution"  # P3.4
    ESCALATION = "escalation"  # P6.2, to supervisory management
    SUGGESTION_REFERRAL = "suggestion_referral"  # P3.5, to the competent management


@dataclass(frozen=True)
class Addresses:
    """The desk's own addresses (P1.1, P6.2, P3.5)."""

    support: str
    management: str
    suggestions: str

    @property
    def domain(self) -> str:
        """The domain of the support address, which names the desk's Message-IDs."""
        return self.support.rpartition("@")[2] or "supportdesk.invalid"


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to send, in primitive values, as it travels through the broker."""

    message_id: str
    kind: EmailKind
    to: str
    reference: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    in_reply_to: str | None = None

    def header_message_id(self, domain: str) -> str:
        """The RFC 5322 Message-ID: stable, so a resent email is recognisably the same one."""
        return f"<{self.message_id}@{domain}>"

    def to_payload(self) -> dict[str, Any]:
        """The message body published to the broker (JSON)."""
        return {
            "message_id": self.message_id,
            "kind": self.kind.value,
            "to": self.to,
            "reference": self.reference,
            "context": dict(self.context),
            "in_reply_to": self.in_reply_to,
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> OutgoingEmail:
        """The email a broker message carries; a malformed one raises ValueError."""
        try:
            return cls(
                message_id=str(payload["message_id"]),
                kind=EmailKind(payload["kind"]),
                to=str(payload["to"]),
                reference=str(payload["reference"]),
                context=dict(payload.get("context") or {}),
                in_reply_to=payload.get("in_reply_to"),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an outgoing email: {error}") from None


def email_id(reference: str, version: int, kind: EmailKind) -> str:
    """The stable id of the email of `kind` caused by the ticket's event at `version`."""
    return f"{kind.value}.{version}.{reference}"


MAIL_EVENTS: tuple[type[Ticket.Event], ...] = (
    Ticket.Submitted,
    Ticket.Responded,
    Ticket.Classified,
    Ticket.DeadlineExtended,
    Ticket.Resolved,
    Ticket.Escalated,
    Ticket.ForwardedToManagement,
)
"""The ticket events that cause an email; the others (e.g. Acknowledged) cause none."""


def causes_email(event: Ticket.Event) -> bool:
    """Whether this event causes an email (and so needs the ticket to address it)."""
    return isinstance(event, MAIL_EVENTS)


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def emails_for(event: Ticket.Event, ticket: Ticket, addresses: Addresses) -> list[OutgoingEmail]:
    """The emails this event causes; `ticket` is the ticket as the event left it."""
    # Replies to a request that came by email thread under it in the requester's mail program.
    thread = event.message_id if isinstance(event, Ticket.Submitted) else None

    def email(kind: EmailKind, to: str, **context: ContextValue) -> OutgoingEmail:
        return OutgoingEmail(
            message_id=email_id(ticket.reference, event.originator_version, kind),
            kind=kind,
            to=to,
            reference=ticket.reference,
            context=context,
            in_reply_to=thread if to == ticket.requester_email else None,
        )

    requester = ticket.requester_email
    category = ticket.category.value if ticket.category else None
    match event:
        case Ticket.Submitted():
            emails = [
                email(
                    EmailKind.RECEIPT,
                    requester,
                    category=category,
                    submitted_at=_instant(ticket.submitted_at),
                    first_response_due=_instant(ticket.first_response_due),
                )
            ]
            if ticket.missing_details:
                missing = list(ticket.missing_details)
                emails.append(email(EmailKind.DETAILS_REQUEST, requester, missing=missing))
            return emails
        case Ticket.Responded():
            return [email(EmailKind.RESPONSE, requester, message=event.message)]
        case Ticket.Classified() if ticket.complexity is Complexity.COMPLEX:
            # Only the longer target: a shorter one is not news the requester must act on.
            due = _instant(ticket.resolution_due)
            return [email(EmailKind.CLASSIFIED_COMPLEX, requester, resolution_due=due)]
        case Ticket.DeadlineExtended():
            due = _instant(ticket.resolution_due)
            return [email(EmailKind.EXTENSION, requester, resolution_due=due, reason=event.reason)]
        case Ticket.Resolved():
            return [email(EmailKind.RESOLUTION, requester, summary=event.summary)]
        case Ticket.Escalated():
            return [
                email(
                    EmailKind.ESCALATION,
                    addresses.management,
                    reason=event.reason,
                    note=event.note or None,
                    deadline=_instant(event.deadline),
                    escalated_by=event.actor,
                    requester=requester,
                    subject=ticket.subject,
                    category=category,
                    course=ticket.course,
                    status=ticket.status.value,
                    submitted_at=_instant(ticket.submitted_at),
                    first_response_due=_instant(ticket.first_response_due),
                    first_responded_at=_instant(ticket.first_responded_at),
                    resolution_due=_instant(ticket.resolution_due),
                )
            ]
        case Ticket.ForwardedToManagement():
            return [
                email(
                    EmailKind.SUGGESTION_REFERRAL,
                    addresses.suggestions,
                    department=event.department,
                    note=event.note,
                    subject=ticket.subject,
                    description=ticket.description,
                    course=ticket.course,
                    submitted_at=_instant(ticket.submitted_at),
                )
            ]
    return []
