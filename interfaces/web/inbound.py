"""`POST /api/v1/inbound/email`: a mail server pipes inbound messages to the desk (P1.1, P6).

The body is the raw RFC 5322 message. The caller holds a token of role `intake`. The answer
says what the message did; a refused message is 422 (the mail server should bounce it) and a
message the desk cannot record right now is 503 (the mail server should retry).
"""

from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from sqlalchemy.exc import SQLAlchemyError

from application.mail.intake import Action
from application.mail.message import MAX_MESSAGE_BYTES
from interfaces.web.auth import requires
from interfaces.web.problems import Problem
from interfaces.web.schemas.inbound import IntakeOutcomeSchema
from interfaces.web.services import container

blp = Blueprint(
    "inbound",
    __name__,
    url_prefix="/api/v1/inbound",
    description="Inbound email from the mail server (support@ and info@).",
)


@blp.route("/email", methods=["POST"])
@blp.doc(
    security=[{"bearer": []}],
    requestBody={
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    },
)
@blp.response(200, IntakeOutcomeSchema, description="A follow-up, escalation or repeat.")
@blp.alt_response(201, schema=IntakeOutcomeSchema, description="A new ticket.")
@blp.alt_response(422, description="The message cannot be read as an email.")
@blp.alt_response(413, description="The message is too large.")
@requires("intake")
def receive_email() -> tuple[dict[str, str | None], int]:
    """Apply the email rules to one raw message (P1.1, P3.2, P6.1, P6.2)."""
    request.max_content_length = MAX_MESSAGE_BYTES  # mail may carry attachments
    try:
        outcome = container().intake.receive(request.get_data(cache=False))
    except SQLAlchemyError:
        raise Problem(
            503,
            "Service Unavailable",
            "The desk cannot record mail right now; deliver the message again later.",
            headers={"Retry-After": "60"},
        ) from None
    if outcome.action is Action.REFUSED:
        raise Problem(422, "Message refused", outcome.detail)
    answer = {
        "action": outcome.action.value,
        "reference": outcome.reference,
        "detail": outcome.detail,
    }
    return answer, 201 if outcome.action is Action.CREATED else 200
