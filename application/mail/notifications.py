"""Which emails the policy sends, and to whom, for each recorded ticket event (P3.3, P5.4, P6.2).

The event log is the outbox: every email below is derived from one event, so it is named by
that event (reference, version) and its kind, and the same event always yields the same emails
with the same ids, however often it is read.

Anyone can name any address in a request, by the form or by mail, and nothing confirms it
before the receipt goes. So no email to a requester repeats what the request says (subject,
course, description, name): it would let anyone send their own words from the desk's address
to whomever they like. The receipt names the reference, the type of problem in the desk's own
words and the times promised (P3.3, P5.1). Only the desk's own addresses (management,
suggestions) and the ticket's owner, who is on the support team, are shown what was written.

A ticket's owner is told when the requester writes again and when a deadline is at risk, at
the address the team's directory holds for them when the email is made; an owner without one,
or no longer active, gets none. Internal notes (`NoteAdded`) cause no email and are never put
in one.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from domain.calendar import BusinessCalendar
from domain.sla import Complexity
from domain.text import printable
from domain.ticket import Ticket

log = logging.getLogger(__name__)

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
    OWNER_FOLLOW_UP = "owner_follow_up"  # P6.1, to the ticket's owner
    OWNER_AT_RISK = "owner_at_risk"  # P5, to the ticket's owner


OWNER_KINDS = frozenset({EmailKind.OWNER_FOLLOW_UP, EmailKind.OWNER_AT_RISK})
"""The emails to a ticket's owner: sent within business hours only (P4)."""


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
    Ticket.FollowUpReceived,
    Ticket.DeadlineAtRisk,
)
"""The ticket events that cause an email; the others (e.g. Acknowledged, NoteAdded) cause
none. A follow-up causes one only on a ticket with an owner."""


def causes_email(event: Ticket.Event) -> bool:
    """Whether this event causes an email (and so needs the ticket to address it)."""
    return isinstance(event, MAIL_EVENTS)


class Member(Protocol):
    """A member of the support team as the directory knows them."""

    @property
    def email(self) -> str | None:
        """Where the member is told of their tickets, if they gave an address."""


class Team(Protocol):
    """The support team's directory (application/users.py `UserDirectory`)."""

    def active(self, name: str) -> Member | None:
        """The user of this name while they hold a token that is not revoked; else None."""


class OwnerMail:
    """What emails to a ticket's owner need beyond the event: the owner's address, looked up
    when the email is made, and the business calendar (P4) that says how much business time a
    deadline has left and when the owner may be written to."""

    _REMEMBERED = 10_000

    def __init__(self, team: Team, calendar: BusinessCalendar) -> None:
        self.team = team
        self.calendar = calendar
        self._unsent: OrderedDict[str, None] = OrderedDict()

    def address(self, owner: str, message_id: str) -> str | None:
        """The owner's address, or None: no email for an owner without one or not active.

        Said once per email at info level, and without the address, however often the event is
        read again (a relay retrying a batch reads it each time).
        """
        member = self.team.active(owner)
        address = member.email if member is not None else None
        if address is None and message_id not in self._unsent:
            self._unsent[message_id] = None
            if len(self._unsent) > self._REMEMBERED:
                self._unsent.popitem(last=False)
            why = "has no email address" if member is not None else "is no longer active"
            log.info("mail: %s not made: the ticket's owner %s", message_id, why)
        return address


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _business_minutes(calendar: BusinessCalendar, start: datetime, end: datetime) -> str | None:
    """Business time from `start` to `end` in whole minutes; None where the calendar cannot
    count it (a due instant beyond its years, recorded before extensions were bounded)."""
    try:
        return str(round(calendar.business_hours_between(start, end) * 60))
    except ValueError:
        return None


def _verified(value: bool | None) -> str | None:
    if value is None:
        return None  # recorded before senders were checked: not known
    return "yes" if value else "no"


@dataclass(frozen=True)
class FilesOfMessage:
    """The files that came with a message, as its email to the requester lists them: each kept
    one by name with a link, each refused one by name with the reason (P2.2)."""

    names: list[str]
    links: list[str]
    refused_names: list[str]
    refused_reasons: list[str]
    links_until: str | None

    def context(self) -> dict[str, ContextValue]:
        return {
            "file_names": self.names,
            "file_links": self.links,
            "refused_names": self.refused_names,
            "refused_reasons": self.refused_reasons,
            "links_until": self.links_until,
        }


def emails_for(
    event: Ticket.Event,
    ticket: Ticket,
    addresses: Addresses,
    owners: OwnerMail | None = None,
    files: FilesOfMessage | None = None,
) -> list[OutgoingEmail]:
    """The emails this event causes; `ticket` is the ticket as the event left it, `files`
    those that came with the event's message (recorded just after it).

    Without `owners`, emails to a ticket's owner are not made. The requester's own files are
    never sent back to them: an email names them, with links.
    """
    with_files = files.context() if files is not None else {}
    # Replies to a request that came by email thread under it in the requester's mail program.
    thread = event.message_id if isinstance(event, Ticket.Submitted) else None

    def email(kind: EmailKind, to: str, **context: ContextValue) -> OutgoingEmail:
        return OutgoingEmail(
            message_id=email_id(ticket.reference, event.originator_version, kind),
            kind=kind,
            to=to,
            reference=ticket.reference,
            context=context,
            in_reply_to=thread
            if to == ticket.requester_email and kind not in OWNER_KINDS
            else None,
        )

    def to_owner(
        kind: EmailKind, owner: str | None, **context: ContextValue
    ) -> list[OutgoingEmail]:
        if owners is None or owner is None:
            return []
        address = owners.address(owner, email_id(ticket.reference, event.originator_version, kind))
        return [email(kind, address, **context)] if address else []

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
                    **with_files,
                )
            ]
            if ticket.missing_details:
                missing = list(ticket.missing_details)
                emails.append(email(EmailKind.DETAILS_REQUEST, requester, missing=missing))
            return emails
        case Ticket.Responded():
            return [email(EmailKind.RESPONSE, requester, message=event.message, **with_files)]
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
        case Ticket.FollowUpReceived():
            # To the owner only: the requester's words, without what would reorder them.
            subject = printable(event.subject, multiline=False) if event.subject else None
            return to_owner(
                EmailKind.OWNER_FOLLOW_UP,
                ticket.owner,
                received_at=_instant(event.timestamp),
                channel=event.channel,
                verified=_verified(event.verified),
                subject=subject or None,
                message=printable(event.message, multiline=True),
            )
        case Ticket.DeadlineAtRisk() if owners is not None:
            # Business time does not pass outside working hours, so what is left when the
            # warning is recorded is what is left when a held email goes out (P4).
            return to_owner(
                EmailKind.OWNER_AT_RISK,
                event.owner,
                deadline=event.deadline,
                due=_instant(event.due),
                business_minutes_left=_business_minutes(
                    owners.calendar, event.timestamp, event.due
                ),
            )
    return []
