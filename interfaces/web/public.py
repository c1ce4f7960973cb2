"""What requesters may do without an account: submit, ask for status, follow up (P1.2, P3, P6.1)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from application.attachments.inspection import inspect_all
from application.storage.idempotency import KeyInFlight, KeyReused
from application.submission import files_received, requesters_ticket, submit_once
from domain.request import Channel
from domain.ticket import Ticket
from interfaces.web.lookup import steady_lookup
from interfaces.web.problems import Problem, body_fields, refuse_unreadable_json, with_files
from interfaces.web.schemas.public import (
    FollowUpReceivedSchema,
    FollowUpSchema,
    IdempotencyKeySchema,
    PublicStatusSchema,
    StatusQuerySchema,
    SubmissionSchema,
    SubmittedSchema,
)
from interfaces.web.services import container
from interfaces.web.uploads import accepts_files, received, takes_files

blp = Blueprint(
    "public",
    __name__,
    url_prefix="/api/v1",
    description="Requesters, without an account: submit a request, ask for its status, follow up.",
)
blp.before_request(refuse_unreadable_json)

_OVER_LIMIT = "A file over a limit (named): nothing was recorded"


@blp.post("/tickets")
@accepts_files
@blp.doc(requestBody=with_files(SubmissionSchema))
@blp.arguments(IdempotencyKeySchema, location="headers")
@blp.response(201, SubmittedSchema)
@blp.alt_response(409, response="CONFLICT", description="The same key is still in flight")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE", description=_OVER_LIMIT)
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def submit(headers: dict[str, str]) -> Response:
    """Submit a support request (P1.2, P3.1–P3.3), with files if it has some (P2.2).

    Answers with the reference number and the due instants (P5), the files kept and those
    refused with why. Send files as a `multipart/form-data` body: the fields as form fields,
    each file as a part named `files`. With an `Idempotency-Key`, a retry from the same client
    address (with the same files) answers as the first request did and records nothing new;
    the same key from another address is another request.
    """
    fields = body_fields(SubmissionSchema())
    files = received() if takes_files() else []
    built = container()
    try:
        answer, replayed = submit_once(
            built.desk,
            built.idempotency,
            fields,
            headers.get("idempotency_key"),
            door="api",
            caller=request.remote_addr or "",  # the client, as the trusted proxies name it
            files=files,
        )
    except KeyReused:
        raise Problem(
            422,
            "Unprocessable Content",
            detail="This Idempotency-Key was already used for a different request.",
            errors={"Idempotency-Key": ["Already used for a different request."]},
            detail_ar="مفتاح عدم التكرار هذا استُخدم لطلب مختلف.",
        ) from None
    except KeyInFlight as running:
        raise Problem(
            409,
            "Conflict",
            detail="A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": str(running.retry_after)},
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
        return requesters_ticket(container().desk, query["reference"], query["email"])


@blp.post("/tickets/<ref>/follow-up")
@accepts_files
@blp.doc(requestBody=with_files(FollowUpSchema))
@blp.response(201, FollowUpReceivedSchema)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE", description=_OVER_LIMIT)
@blp.alt_response(429, response="TOO_MANY_REQUESTS")
def follow_up(ref: str) -> dict[str, Any]:
    """The requester writes again about their request (P6.1); only from its own email. Files
    come as with a submission."""
    fields = body_fields(FollowUpSchema())
    files = received() if takes_files() else []
    desk = container().desk
    with steady_lookup():
        ticket = requesters_ticket(desk, ref, fields["email"])
    kept, refused = inspect_all(files)
    outcome = desk.receive_follow_up(
        ticket.reference,
        message=fields["message"],
        channel=Channel.WEB_FORM,
        files=kept,
        refused=refused,
    )
    return {
        "reference": outcome.reference,
        "received_at": outcome.ticket.modified_on,
        **files_received(outcome),
    }
