"""The HTTP contract's request and response bodies (DESIGN §6), with messages in Arabic and English.

Every request schema refuses unknown fields. Text is checked at the edge: length limits, no
NUL bytes or other control characters, no lone surrogates, so nothing unreadable is recorded.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import email_validator
import marshmallow as ma
from flask import request

from domain.categories import Category
from domain.sla import Complexity
from domain.ticket import EscalationReason, Status
from interfaces.web.problems import Problem, body_is_readable_json

LANGUAGES = ("ar", "en")

# English message → Arabic message. Every message our schemas give is listed, so a requester
# writing in Arabic reads every field error in Arabic.
_ARABIC_MESSAGES: dict[str, str] = {
    "Missing data for required field.": "هذا الحقل مطلوب.",
    "Field may not be null.": "هذا الحقل مطلوب.",
    "Unknown field.": "حقل غير معروف.",
    "Not a valid string.": "يجب أن تكون القيمة نصاً.",
    "Invalid input type.": "نوع البيانات غير صالح.",
    "Not a valid datetime.": "تاريخ ووقت غير صالحين.",
    "Not a valid aware datetime.": "يجب أن يتضمن الوقت المنطقة الزمنية.",
    "This field must not be empty.": "هذا الحقل مطلوب.",
    "Control characters are not allowed.": "لا يُسمح برموز التحكم في هذا الحقل.",
    "Enter a valid email address.": "أدخل بريداً إلكترونياً صحيحاً.",
    "Choose one of the listed categories.": "اختر نوعاً من الأنواع المدرجة.",
    "Choose ar or en.": "اختر ar أو en.",
    "Choose simple or complex.": "اختر simple أو complex.",
    "Choose a listed escalation reason.": "اختر سبب تصعيد من الأسباب المدرجة.",
    "Already used for a different request.": "استُخدم من قبل لطلب مختلف.",
    "Use 1 to 255 visible ASCII characters.": "استخدم من 1 إلى 255 حرفاً مرئياً من ASCII.",
}


def _limit_message(limit: int) -> str:
    english = f"Must be at most {limit} characters."
    _ARABIC_MESSAGES[english] = f"يجب ألا يزيد عن {limit} حرفاً."
    return english


def in_arabic(errors: Any) -> Any:
    """Field errors with every known message in Arabic; unknown ones stay as they are."""
    if isinstance(errors, dict):
        return {name: in_arabic(value) for name, value in errors.items()}
    if isinstance(errors, list):
        return [in_arabic(value) for value in errors]
    if isinstance(errors, str):
        return _ARABIC_MESSAGES.get(errors, errors)
    return errors


def refuse_unreadable_json() -> None:
    """Before a command: 415 for a body that is not JSON, 400 for JSON that cannot be read."""
    if request.method not in ("POST", "PUT", "PATCH") or not request.get_data(cache=True):
        return  # no body: the schema says what is missing
    if not _is_json_media_type(request.mimetype):
        raise Problem(
            415,
            "Unsupported Media Type",
            detail="Send the request body as application/json.",
        )
    if not body_is_readable_json():
        raise Problem(
            400,
            "Bad Request",
            detail="The body is not readable JSON.",
            errors={"json": ["Invalid JSON body."]},
            detail_ar="نص الطلب ليس JSON صالحاً.",
        )


def _is_json_media_type(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class Text(ma.fields.String):
    """Text a person typed: trimmed, bounded, free of control characters.

    `multiline` text may hold line breaks and tabs; other text is one line.
    """

    def __init__(self, *, max_length: int, multiline: bool = False, **kwargs: Any) -> None:
        self.max_length = max_length
        self.multiline = multiline
        metadata = {"maxLength": max_length, **kwargs.pop("metadata", {})}
        if kwargs.get("required"):
            metadata.setdefault("minLength", 1)
        super().__init__(metadata=metadata, **kwargs)
        self._too_long = _limit_message(max_length)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(super()._deserialize(value, attr, data, **kwargs))
        allowed = "\n\r\t" if self.multiline else ""
        if any(_is_control(ch) and ch not in allowed for ch in text):
            raise ma.ValidationError("Control characters are not allowed.")
        text = text.strip()
        if not text and self.required:
            raise ma.ValidationError("This field must not be empty.")
        if len(text) > self.max_length:
            raise ma.ValidationError(self._too_long)
        return text


def _is_control(ch: str) -> bool:
    # Cc: NUL and the other C0/C1 controls; Cs: lone surrogates, which no database can store.
    return unicodedata.category(ch) in ("Cc", "Cs")


class EmailAddress(Text):
    """A requester's email address, checked for syntax (deliverability is not checked here)."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "email", **kwargs.pop("metadata", {})}
        super().__init__(max_length=254, metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            checked = email_validator.validate_email(text, check_deliverability=False)
        except email_validator.EmailNotValidError:
            raise ma.ValidationError("Enter a valid email address.") from None
        return str(checked.normalized)


def _choice(values: list[str], message: str) -> ma.validate.OneOf:
    return ma.validate.OneOf(values, error=message)


class RequestSchema(ma.Schema):
    """A request body: unknown fields are refused."""

    class Meta:
        unknown = ma.RAISE


# ---- requesters (public) ----------------------------------------------------------------------


class SubmissionSchema(RequestSchema):
    """A support request from the web form's channel (P1.2, P3.2)."""

    email = EmailAddress(required=True, metadata={"description": "Email registered on the account"})
    category = ma.fields.String(
        required=True,
        validate=_choice([c.value for c in Category], "Choose one of the listed categories."),
        metadata={"description": "Type of problem (P2)"},
    )
    course = Text(required=True, max_length=200, metadata={"description": "Course or workshop"})
    subject = Text(required=True, max_length=200)
    description = Text(required=True, max_length=10_000, multiline=True)
    name = Text(max_length=200, allow_none=True)
    language = ma.fields.String(
        load_default="ar",
        validate=_choice(list(LANGUAGES), "Choose ar or en."),
        metadata={"description": "Language of the request and of replies"},
    )


class SubmittedSchema(ma.Schema):
    """What a requester learns on submitting (P3.3, P5)."""

    reference = ma.fields.String(required=True, metadata={"example": "CM-7K3F-Q2XP"})
    status = ma.fields.String(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)
    position = ma.fields.Integer(required=True, metadata={"description": "Event log position"})


class IdempotencyKeySchema(ma.Schema):
    """The optional `Idempotency-Key` header: a retried submit returns the first answer."""

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        validate=ma.validate.Regexp(
            r"^[\x21-\x7e]{1,255}$", error="Use 1 to 255 visible ASCII characters."
        ),
    )


class StatusQuerySchema(RequestSchema):
    """A requester asks where their request stands."""

    reference = Text(required=True, max_length=40, metadata={"example": "CM-7K3F-Q2XP"})
    email = EmailAddress(required=True)
    language = ma.fields.String(validate=_choice(list(LANGUAGES), "Choose ar or en."))


class PublicStatusSchema(ma.Schema):
    """A ticket's status as its requester may see it: nothing internal."""

    reference = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=ma.validate.OneOf([s.value for s in Status]))
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)


class FollowUpSchema(RequestSchema):
    """The requester writes again about their request (P6.1)."""

    email = EmailAddress(required=True)
    message = Text(required=True, max_length=10_000, multiline=True)
    language = ma.fields.String(validate=_choice(list(LANGUAGES), "Choose ar or en."))


class FollowUpReceivedSchema(ma.Schema):
    """Receipt of a follow-up."""

    reference = ma.fields.String(required=True)
    received_at = ma.fields.AwareDateTime(required=True)


# ---- agents -----------------------------------------------------------------------------------


class EscalationSchema(ma.Schema):
    """One escalation as recorded (P6)."""

    reason = ma.fields.String(required=True)
    level = ma.fields.String(required=True)
    deadline = ma.fields.AwareDateTime(allow_none=True)
    at = ma.fields.AwareDateTime(required=True)
    actor = ma.fields.String(required=True)


class TicketSchema(ma.Schema):
    """A ticket's current state, for agents and supervisors."""

    reference = ma.fields.String(required=True)
    version = ma.fields.Integer(required=True, metadata={"description": "Also the ETag"})
    status = ma.fields.String(required=True)
    channel = ma.fields.String(required=True)
    requester_email = ma.fields.String(required=True)
    requester_name = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    course = ma.fields.String(allow_none=True)
    subject = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    language = ma.fields.String(required=True)
    missing_details = ma.fields.List(ma.fields.String(), required=True)
    complexity = ma.fields.String(required=True)
    submitted_at = ma.fields.AwareDateTime(required=True)
    first_response_due = ma.fields.AwareDateTime(required=True)
    resolution_due = ma.fields.AwareDateTime(required=True)
    acknowledged = ma.fields.Method("_acknowledged", required=True)
    first_responded_at = ma.fields.AwareDateTime(allow_none=True)
    responses = ma.fields.Integer(required=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    resolution_summary = ma.fields.String(allow_none=True)
    escalations = ma.fields.List(ma.fields.Nested(EscalationSchema), required=True)
    extensions = ma.fields.Integer(required=True)
    follow_ups = ma.fields.Integer(required=True)
    forwarded_to = ma.fields.String(allow_none=True)
    reopened = ma.fields.Integer(required=True)

    def _acknowledged(self, ticket: Any) -> bool:
        return ticket.acknowledgement_message_id is not None


class OutcomeSchema(TicketSchema):
    """A command's result: the ticket as saved and its event's log position."""

    position = ma.fields.Integer(
        required=True, metadata={"description": "Wait for read models to reach this position"}
    )


class RespondSchema(RequestSchema):
    """A reply to the requester (P3.4, P5.1)."""

    message = Text(required=True, max_length=10_000, multiline=True)


class ClassifySchema(RequestSchema):
    """The problem's complexity (P5.2–P5.3)."""

    complexity = ma.fields.String(
        required=True,
        validate=_choice([c.value for c in Complexity], "Choose simple or complex."),
    )


class ExtendSchema(RequestSchema):
    """A new expected resolution instant, and why (P5.4)."""

    resolution_due = ma.fields.AwareDateTime(required=True)
    reason = Text(required=True, max_length=2_000, multiline=True)


AGENT_ESCALATION_REASONS = [
    EscalationReason.AGENT.value,
    EscalationReason.REQUESTER_TO_MANAGEMENT.value,
    EscalationReason.REQUESTER_FOLLOW_UP_AFTER_DEADLINE.value,
]


class EscalateSchema(RequestSchema):
    """Raise to supervisory management (P6.2); deadline escalations are the SLA watcher's."""

    reason = ma.fields.String(
        load_default=EscalationReason.AGENT.value,
        validate=_choice(AGENT_ESCALATION_REASONS, "Choose a listed escalation reason."),
    )
    note = Text(load_default="", max_length=2_000, multiline=True)


class ForwardSchema(RequestSchema):
    """Refer a suggestion to the competent management (P3.5)."""

    department = Text(required=True, max_length=200)
    note = Text(required=True, max_length=2_000, multiline=True)


class ResolveSchema(RequestSchema):
    """The solution given (P3.4)."""

    summary = Text(required=True, max_length=10_000, multiline=True)


class ReopenSchema(RequestSchema):
    """Why the problem is not solved after all."""

    reason = Text(required=True, max_length=2_000, multiline=True)
