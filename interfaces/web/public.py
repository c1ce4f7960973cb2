"""What requesters may do without an account: submit, ask for status, follow up (P1.2, P3, P6.1)."""

from __future__ import annotations

import hmac
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState
from flask_smorest import Blueprint

from application.desk import AlreadyRecorded, Outcome
from application.storage.idempotency import (
    IdempotencyStore,
    KeyInFlight,
    KeyReused,
    StoredAnswer,
    fingerprint,
)
from domain.categories import Category
from domain.errors import TicketNotFound
from domain.reference import InvalidReference, Reference
from domain.ticket import Channel, Ticket
from interfaces.web import container
from interfaces.web.problems import Problem
from interfaces.web.schemas import (
    FollowUpReceivedSchema,
    FollowUpSchema,
    IdempotencyKeySchema,
    PublicStatusSchema,
    StatusQuerySchema,
    SubmissionSchema,
    SubmittedSchema,
    refuse_unreadable_json,
)

blp = Blueprint(
    "public",
    __name__,
    url_prefix="/api/v1",
    description="Requesters, without an account: submit a request, ask for its status, follow up.",
)
blp.before_request(refuse_unreadable_json)

LOOKUP_SECONDS_KEY = "SUPPORTDESK_LOOKUP_SECONDS"
# Every answer to a reference + email lookup takes at least this long, whether the ticket
# exists or not, so its timing does not tell a guesser which references exist.
DEFAULT_LOOKUP_SECONDS = 0.1


def keep_idempotency_keys(state: BlueprintSetupState) -> None:
    """Create the app's idempotency key store (its table, once) when a blueprint needs it."""
    extensions = state.app.extensions
    if "supportdesk_idempotency" not in extensions:
        extensions["supportdesk_idempotency"] = IdempotencyStore(extensions["supportdesk"].engine)


blp.record_once(keep_idempotency_keys)

# Built once: a schema's construction copies all its fields, which cost more than the dump.
_SUBMITTED = SubmittedSchema()


# ---- shared with the support form pages --------------------------------------------------------


def record_submission(
    fields: dict[str, Any], key: str | None, scope: str
) -> tuple[dict[str, Any], bool]:
    """Submit a web-form request once per idempotency key; (answer, whether it is a replay).

    Raises KeyReused or KeyInFlight when the key belongs to another or a running request.
    """
    store: IdempotencyStore = current_app.extensions["supportdesk_idempotency"]
    reference: Reference | None = None
    if key is not None:
        claim = store.claim(scope, key, fingerprint(fields))
        if isinstance(claim, StoredAnswer):
            return claim.body, True
        reference = Reference.parse(claim.reference)
    desk = container().desk
    try:
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
        )
    except AlreadyRecorded as recorded:
        # An earlier attempt with this key recorded the ticket and then failed: answer with it.
        outcome = Outcome(desk.ticket(recorded.reference), desk.recorder.max_notification_id() or 0)
    except BaseException:
        if key is not None:
            store.release(scope, key)
        raise
    answer: dict[str, Any] = _SUBMITTED.dump(outcome.ticket) | {"position": outcome.position}
    if key is not None:
        store.complete(scope, key, 201, answer)
    return answer, False


@contextmanager
def steady_lookup() -> Iterator[None]:
    """Make a reference + email lookup take the same time whatever its outcome."""
    started = time.monotonic()
    try:
        yield
    finally:
        floor = float(current_app.config.get(LOOKUP_SECONDS_KEY, DEFAULT_LOOKUP_SECONDS))
        remaining = floor - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)


NOT_FOUND_EN = "No ticket matches this reference and email."
NOT_FOUND_AR = "لا توجد تذكرة بهذا الرقم المرجعي وهذا البريد."


def requesters_ticket(reference: str, email: str) -> Ticket:
    """The ticket with this reference if `email` is its requester's; else one 404 for all cases."""
    try:
        ticket = container().desk.ticket(reference)
        owner = ticket.requester_email
    except (TicketNotFound, InvalidReference):
        ticket, owner = None, ""
    # compare_digest: the comparison itself takes no longer for a closer guess
    same = hmac.compare_digest(owner.casefold().encode(), email.casefold().encode())
    if ticket is None or not same:
        raise Problem(404, "Not Found", detail=NOT_FOUND_EN, detail_ar=NOT_FOUND_AR)
    return ticket


# ---- the endpoints -----------------------------------------------------------------------------


@blp.post("/tickets")
@blp.arguments(SubmissionSchema)
@blp.arguments(IdempotencyKeySchema, location="headers")
@blp.response(201, SubmittedSchema)
@blp.alt_response(409, response="CONFLICT", description="The same key is still in flight")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def submit(fields: dict[str, Any], headers: dict[str, str]) -> Response:
    """Submit a support request (P1.2, P3.1–P3.3).

    Answers with the reference number and the due instants (P5). With an `Idempotency-Key`,
    a retry answers as the first request did and records nothing new.
    """
    try:
        answer, replayed = record_submission(fields, headers.get("idempotency_key"), scope="api")
    except KeyReused:
        raise Problem(
            422,
            "Unprocessable Content",
            detail="This Idempotency-Key was already used for a different request.",
            errors={"Idempotency-Key": ["Already used for a different request."]},
            detail_ar="مفتاح عدم التكرار هذا استُخدم لطلب مختلف.",
        ) from None
    except KeyInFlight:
        raise Problem(
            409,
            "Conflict",
            detail="A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": "1"},
            detail_ar="طلب بهذا المفتاح ما زال قيد المعالجة.",
        ) from None
    response = jsonify(answer)
    response.status_code = 201
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@blp.post("/status")
@blp.arguments(StatusQuerySchema)
@blp.response(200, PublicStatusSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def status(query: dict[str, Any]) -> Ticket:
    """Where a request stands: reference + the requester's email → status and due instants.

    An unknown reference and a wrong email get the same answer.
    """
    with steady_lookup():
        return requesters_ticket(query["reference"], query["email"])


@blp.post("/tickets/<ref>/follow-up")
@blp.arguments(FollowUpSchema)
@blp.response(201, FollowUpReceivedSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def follow_up(fields: dict[str, Any], ref: str) -> dict[str, Any]:
    """The requester writes again about their request (P6.1); only from its own email."""
    with steady_lookup():
        ticket = requesters_ticket(ref, fields["email"])
    outcome = container().desk.receive_follow_up(
        ticket.reference, message=fields["message"], channel=Channel.WEB_FORM
    )
    return {"reference": outcome.reference, "received_at": outcome.ticket.modified_on}
