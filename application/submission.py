"""What requesters do without an account, whichever page or API they use: submit a request
once, however often it is sent, and find their own ticket by reference and email (P1.2, P3).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from application.attachments.inspection import inspect_all
from application.audit.records import EventLog
from application.desk import AlreadyRecorded, Outcome, SupportDesk
from application.storage.idempotency import (
    IdempotencyStore,
    StoredAnswer,
    caller_scope,
    fingerprint,
)
from domain.categories import Category
from domain.errors import TicketNotFound
from domain.reference import InvalidReference, Reference
from domain.request import Channel
from domain.ticket import Ticket


class NoMatchingTicket(Exception):
    """No ticket has this reference and this requester's email; which part was wrong is not
    said, so that the answer tells a guesser nothing about which references exist."""


def _receipt(outcome: Outcome) -> dict[str, Any]:
    """What a requester learns on submitting (P3.3, P5), as answered and kept for replays:
    with the files kept, and those refused and why (in the request's language)."""
    ticket = outcome.ticket
    return {
        "reference": ticket.reference,
        "status": ticket.status.value,
        "submitted_at": ticket.submitted_at.isoformat(),
        "first_response_due": ticket.first_response_due.isoformat(),
        "resolution_due": ticket.resolution_due.isoformat(),
        "position": outcome.position,
        **files_received(outcome),
    }


def files_received(outcome: Outcome) -> dict[str, list[dict[str, Any]]]:
    """The files the command just recorded: those kept, and those refused with why, in the
    requester's language."""
    language = outcome.ticket.language
    return {
        "files": [
            {"name": f.name, "media_type": f.media_type, "size": f.size, "sha256": f.sha256}
            for f in outcome.files
        ],
        "refused": [
            {"name": r.name, "reason": r.reason.value, "explained": r.reason.explained(language)}
            for r in outcome.refused
        ],
    }


def submit_once(
    desk: SupportDesk,
    keys: IdempotencyStore,
    fields: dict[str, Any],
    key: str | None,
    door: str,
    caller: str,
    files: Sequence[tuple[str, bytes]] = (),
) -> tuple[dict[str, Any], bool]:
    """Submit a web-form request once per idempotency key; (receipt, whether it is a replay).

    `fields` are the request's validated fields. A key is the `caller`'s own at that `door`
    (the API, the form): the same key from another caller is another request, so a key seen
    elsewhere (a documented example, a shared log) neither blocks nor reveals the first answer.
    Raises KeyReused or KeyInFlight when the key belongs to another request of this caller or
    to one still running. `files` are those sent with it, as (name, bytes): a retry sends the
    same files, and the same key with other files is another request.
    """
    scope = caller_scope(door, caller)
    reference: Reference | None = None
    if key is not None:
        sent = [[name, hashlib.sha256(data).hexdigest()] for name, data in files]
        claim = keys.claim(scope, key, fingerprint({**fields, "files": sent} if sent else fields))
        if isinstance(claim, StoredAnswer):
            return claim.body, True
        reference = Reference.parse(claim.reference)
    try:
        kept, refused = inspect_all(files)
        outcome = desk.submit(
            channel=Channel.WEB_FORM,
            requester_email=fields["email"],
            category=Category(fields["category"]),
            course=fields["course"],
            subject=fields["subject"],
            description=fields["description"],
            language=fields["language"],
            requester_name=fields.get("name") or None,
            reference=reference,
            files=kept,
            refused=refused,
        )
    except AlreadyRecorded as recorded:
        # An earlier attempt with this key recorded the ticket and then failed: answer with it.
        outcome = _as_submitted(desk, recorded.reference)
    except BaseException:
        if key is not None:
            keys.release(scope, key)
        raise
    answer = _receipt(outcome)
    if key is not None:
        keys.complete(scope, key, HTTPStatus.CREATED, answer)
    return answer, False


def _as_submitted(desk: SupportDesk, reference: str) -> Outcome:
    """The ticket as its submission recorded it, and that event's position in the log: the
    answer the attempt that recorded it would have given."""
    ticket = desk.ticket(reference, version=Ticket.INITIAL_VERSION)
    recorded = EventLog(desk).of_ticket(ticket.id)
    return Outcome(ticket, next(r.position for r in recorded if r.version == ticket.version))


def requesters_ticket(desk: SupportDesk, reference: str, email: str) -> Ticket:
    """The ticket with this reference if `email` is its requester's; else NoMatchingTicket."""
    try:
        ticket = desk.ticket(reference)
        owner = ticket.requester_email
    except (TicketNotFound, InvalidReference):
        ticket, owner = None, ""
    # compare_digest: the comparison itself takes no longer for a closer guess
    same = hmac.compare_digest(owner.casefold().encode(), email.casefold().encode())
    if ticket is None or not same:
        raise NoMatchingTicket(reference)
    return ticket
