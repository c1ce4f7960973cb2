"""The support form pages (P1.2): server-rendered, Arabic right-to-left by default, no JavaScript.

Forms are protected against cross-site submission by a signed double-submit token: a random
value in a cookie, and the same value signed with the server's secret in the form. The token
also carries a key for the one request the form was shown for, so sending the same form twice
(a double click, a reload) records one ticket.
"""

from __future__ import annotations

import hmac
import os
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Blueprint, Response, current_app, make_response, render_template, request
from flask.blueprints import BlueprintSetupState
from itsdangerous import BadData, URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from application.storage.idempotency import KeyInFlight, KeyReused
from application.storage.secrets import persisted_secret
from domain.categories import Category
from domain.ticket import Status
from interfaces.web import container
from interfaces.web.problems import Problem
from interfaces.web.public import (
    NOT_FOUND_AR,
    NOT_FOUND_EN,
    keep_idempotency_keys,
    record_submission,
    requesters_ticket,
    steady_lookup,
)
from interfaces.web.schemas import StatusQuerySchema, SubmissionSchema, in_arabic

pages = Blueprint(
    "support_pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/support/static",
)

SECRET_KEY = "SUPPORTDESK_SECRET_KEY"
_COOKIE = "supportdesk_form"
_FORM_LIFETIME_SECONDS = 2 * 60 * 60
_FORM_FIELDS = ("name", "email", "category", "course", "subject", "description")

TEXT: dict[str, dict[str, str]] = {
    "ar": {
        "title": "نموذج الدعم الفني",
        "intro": "اكتب طلبك وسيرد عليك فريق الدعم خلال 24 ساعة عمل "
        "(من الأحد إلى الخميس، 9:00–17:00 بتوقيت الرياض).",
        "name": "الاسم (اختياري)",
        "email": "البريد الإلكتروني المسجل في الحساب",
        "category": "نوع الطلب",
        "choose": "اختر…",
        "course": "اسم الدورة أو الورشة",
        "subject": "الموضوع",
        "description": "وصف المشكلة أو الاقتراح",
        "send": "إرسال الطلب",
        "fix": "يرجى تصحيح الحقول المشار إليها.",
        "expired": "انتهت صلاحية النموذج أو لم يُرسل من هذا الموقع؛ يرجى إرساله مرة أخرى.",
        "sent": "تم استلام طلبك",
        "reference": "الرقم المرجعي",
        "first_response_due": "موعد الرد الأول المتوقع",
        "keep": "احتفظ بالرقم المرجعي لمتابعة طلبك؛ ستصلك رسالة تأكيد على بريدك الإلكتروني.",
        "status_title": "متابعة حالة طلب",
        "status_intro": "أدخل الرقم المرجعي والبريد الإلكتروني الذي أرسلت منه الطلب.",
        "show": "عرض الحالة",
        "status": "الحالة",
        "submitted_at": "تاريخ الاستلام",
        "resolution_due": "موعد الحل المتوقع",
        "not_found": NOT_FOUND_AR,
        "to_status": "متابعة طلب سابق",
        "to_form": "إرسال طلب جديد",
        "other_language": "English",
        "zone": "بتوقيت الرياض",
        "error": "تعذّر إتمام الطلب",
        "resent": "أُرسل هذا النموذج من قبل؛ لإرسال طلب جديد بهذه البيانات أرسله مرة أخرى.",
        "in_flight": "ما زال طلبك السابق قيد التسجيل؛ انتظر لحظة ثم أعد المحاولة.",
    },
    "en": {
        "title": "Technical support form",
        "intro": "Tell us about your request; the support team replies within 24 working hours "
        "(Sunday to Thursday, 09:00–17:00 Riyadh time).",
        "name": "Name (optional)",
        "email": "Email registered on your account",
        "category": "Type of request",
        "choose": "Choose…",
        "course": "Course or workshop",
        "subject": "Subject",
        "description": "Describe the problem or suggestion",
        "send": "Send request",
        "fix": "Please correct the fields marked below.",
        "expired": "The form expired or was not sent from this site; please send it again.",
        "sent": "Your request was received",
        "reference": "Reference number",
        "first_response_due": "Expected first response by",
        "keep": "Keep this reference to follow up your request; "
        "a confirmation email is on its way.",
        "status_title": "Check a request's status",
        "status_intro": "Enter the reference number and the email you sent the request from.",
        "show": "Show status",
        "status": "Status",
        "submitted_at": "Received",
        "resolution_due": "Expected solution by",
        "not_found": NOT_FOUND_EN,
        "to_status": "Follow up an earlier request",
        "to_form": "Send a new request",
        "other_language": "العربية",
        "zone": "Riyadh time",
        "error": "The request could not be completed",
        "resent": "This form was sent before; to send a new request with these details, "
        "send it again.",
        "in_flight": "Your earlier request is still being recorded; wait a moment and try again.",
    },
}

STATUS_LABELS = {
    Status.NEW: ("جديد", "New"),
    Status.ACKNOWLEDGED: ("تم الاستلام", "Received"),
    Status.IN_PROGRESS: ("قيد المعالجة", "In progress"),
    Status.FORWARDED: ("أُحيل إلى الإدارة المختصة", "Referred to the competent management"),
    Status.RESOLVED: ("تم الحل", "Solved"),
}

_WEEKDAYS = {
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


# ---- the secret and the token ------------------------------------------------------------------

pages.record_once(keep_idempotency_keys)


@pages.record_once
def _set_up(state: BlueprintSetupState) -> None:
    app = state.app
    settings = app.extensions["supportdesk"].settings
    secret = app.config.get(SECRET_KEY) or os.environ.get(SECRET_KEY)
    app.config[SECRET_KEY] = secret or persisted_secret(Path(settings.data_dir) / "secret_key")


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config[SECRET_KEY], salt="support-form")


def _browser_nonce() -> tuple[str, bool]:
    """The cookie's random value, and whether it is new (and must be set)."""
    nonce = request.cookies.get(_COOKIE, "")
    return (nonce, False) if 16 <= len(nonce) <= 64 else (secrets.token_urlsafe(24), True)


def _form_token(nonce: str) -> str:
    return str(_signer().dumps({"c": nonce, "k": secrets.token_urlsafe(16)}))


def _checked_form_key() -> str | None:
    """The form's own key when its token is genuine, fresh and this browser's; else None."""
    try:
        data = _signer().loads(request.form.get("csrf_token", ""), max_age=_FORM_LIFETIME_SECONDS)
    except BadData:
        return None
    cookie = request.cookies.get(_COOKIE, "")
    if not isinstance(data, dict) or not hmac.compare_digest(str(data.get("c")), cookie):
        return None
    return str(data.get("k"))


# ---- rendering ---------------------------------------------------------------------------------


def _language() -> str:
    return "en" if request.args.get("lang") == "en" else "ar"


def _local(instant: datetime, lang: str) -> Markup:
    """An instant as a requester reads it, in the desk's time zone (Riyadh by default)."""
    local = instant.astimezone(ZoneInfo(container().settings.timezone))
    # The digits run left to right inside Arabic text, or the date's parts swap places.
    return Markup('{} <time datetime="{}" dir="ltr">{:%Y-%m-%d %H:%M}</time> ({})').format(
        _WEEKDAYS[lang][local.weekday()], local.isoformat(), local, TEXT[lang]["zone"]
    )


def _page(template: str, status: int = 200, **context: Any) -> Response:
    lang = _language()
    nonce, new = _browser_nonce()
    body = render_template(
        template,
        lang=lang,
        t=TEXT[lang],
        categories=[(c.value, c.label(lang)) for c in Category],
        csrf_token=_form_token(nonce),
        query={"lang": "en"} if lang == "en" else {},
        **context,
    )
    response = make_response(body, status)
    if new:
        response.set_cookie(
            _COOKIE,
            nonce,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
            path="/support",
        )
    return response


def _field_errors(error: ma.ValidationError) -> dict[str, list[str]]:
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    errors = in_arabic(messages) if _language() == "ar" else messages
    return {
        name: list(value) if isinstance(value, list) else [value] for name, value in errors.items()
    }


def _problem_text(problem: Problem) -> str:
    if _language() == "ar" and problem.detail_ar:
        return problem.detail_ar
    return problem.detail or problem.title


@pages.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Response:
    # A refused form (too large, too many tries) still answers as a page, in its language.
    page = _page("error.html", status=error.code or 500, message=error.description)
    retry_after = error.get_response().headers.get("Retry-After")
    if retry_after:
        page.headers["Retry-After"] = retry_after
    return page


# ---- the pages ---------------------------------------------------------------------------------


@pages.route("/support", methods=["GET", "POST"])
def support_form() -> Response:
    """The support form (P1.2); on success, the reference and the first-response time (P3.3)."""
    if request.method == "GET":
        return _page("support.html", values={}, errors={})
    values = {name: request.form.get(name, "") for name in _FORM_FIELDS}
    key = _checked_form_key()
    if key is None:
        return _page(
            "support.html", 400, values=values, errors={}, notice=TEXT[_language()]["expired"]
        )
    try:
        fields = SubmissionSchema().load({**values, "language": _language()})
    except ma.ValidationError as error:
        return _page("support.html", 422, values=values, errors=_field_errors(error))
    try:
        answer, _ = record_submission(fields, key, scope="form")
    except (KeyReused, KeyInFlight) as sent:
        # This very form was sent before (edited since, or still being recorded): the page
        # comes back with a fresh token, so sending it again makes a new request.
        notice = TEXT[_language()]["resent" if isinstance(sent, KeyReused) else "in_flight"]
        status = 422 if isinstance(sent, KeyReused) else 409
        return _page("support.html", status, values=values, errors={}, notice=notice)
    due = datetime.fromisoformat(answer["first_response_due"])
    return _page(
        "submitted.html", reference=answer["reference"], first_response_due=_local(due, _language())
    )


@pages.route("/support/status", methods=["GET", "POST"])
def status_form() -> Response:
    """A requester's own view of their request: reference + email → status."""
    if request.method == "GET":
        return _page("status.html", values={}, errors={})
    values = {name: request.form.get(name, "") for name in ("reference", "email")}
    if _checked_form_key() is None:
        return _page(
            "status.html", 400, values=values, errors={}, notice=TEXT[_language()]["expired"]
        )
    try:
        query = StatusQuerySchema().load(values)
    except ma.ValidationError as error:
        return _page("status.html", 422, values=values, errors=_field_errors(error))
    lang = _language()
    try:
        with steady_lookup():
            ticket = requesters_ticket(query["reference"], query["email"])
    except Problem as problem:
        return _page(
            "status.html", problem.status, values=values, errors={}, notice=_problem_text(problem)
        )
    arabic, english = STATUS_LABELS[ticket.status]
    found = {
        "reference": ticket.reference,
        "status": arabic if lang == "ar" else english,
        "submitted_at": _local(ticket.submitted_at, lang),
        "first_response_due": _local(ticket.first_response_due, lang),
        "resolution_due": _local(ticket.resolution_due, lang),
    }
    return _page("status.html", values=values, errors={}, found=found)
