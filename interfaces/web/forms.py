"""The support form pages (P1.2): server-rendered, Arabic right-to-left by default, no JavaScript.

Forms are protected against cross-site submission by a signed double-submit token: a random
value in a cookie, and the same value signed with the server's secret in the form. The cookie's
value is signed too, so only a value this server drew is believed: a client (or a site that can
set cookies for ours) cannot choose one and fetch forms for it. The token also carries a key for
the one request the form was shown for, so sending the same form twice (a double click, a
reload) records one ticket; keys are this browser's own, so another's key is a new request.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import Blueprint, Response, current_app, make_response, render_template, request
from itsdangerous import BadData, Signer, URLSafeTimedSerializer
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from application.downloads import FileNotKept, LinkRefused
from application.storage.idempotency import KeyInFlight, KeyReused
from application.submission import NoMatchingTicket, requesters_ticket, submit_once
from domain.attachment import Refusal
from domain.categories import Category
from domain.errors import TicketNotFound
from interfaces.web.lookup import steady_lookup
from interfaces.web.messages import PAGE_TEXT, STATUS_LABELS, WEEKDAYS, field_errors
from interfaces.web.schemas.public import StatusQuerySchema, SubmissionSchema
from interfaces.web.services import container
from interfaces.web.uploads import FIELD, OverLimit, accepts_files, received, served, takes_files

pages = Blueprint(
    "support_pages",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/support/static",
)

# The app's config key for the secret: create_app sets it, and it may be changed on a running app.
SECRET_KEY = "SUPPORTDESK_SECRET_KEY"
_COOKIE = "supportdesk_form"
_FORM_LIFETIME_SECONDS = 2 * 60 * 60
_FORM_FIELDS = ("name", "email", "category", "course", "subject", "description")


# ---- the secret and the token ------------------------------------------------------------------


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config[SECRET_KEY], salt="support-form")


def _cookie_signer() -> Signer:
    return Signer(current_app.config[SECRET_KEY], salt="support-form-browser")


def _browser_nonce() -> str | None:
    """The random value this server gave the browser in its cookie; None without a genuine one."""
    try:
        return _cookie_signer().unsign(request.cookies.get(_COOKIE, "")).decode()
    except BadData:
        return None


def _form_token(nonce: str) -> str:
    return str(_signer().dumps({"c": nonce, "k": secrets.token_urlsafe(16)}))


def _checked_form() -> tuple[str, str] | None:
    """This browser's nonce and the form's own key when the form's token is genuine, fresh and
    this browser's; else None."""
    nonce = _browser_nonce()
    try:
        data = _signer().loads(request.form.get("csrf_token", ""), max_age=_FORM_LIFETIME_SECONDS)
    except BadData:
        return None
    if nonce is None or not isinstance(data, dict):
        return None
    if not hmac.compare_digest(str(data.get("c")), nonce):
        return None
    return nonce, str(data.get("k"))


# ---- rendering ---------------------------------------------------------------------------------


def _language() -> str:
    return "en" if request.args.get("lang") == "en" else "ar"


def _local(instant: datetime, lang: str) -> Markup:
    """An instant as a requester reads it, in the desk's time zone (Riyadh by default)."""
    local = instant.astimezone(ZoneInfo(container().settings.timezone))
    # The digits run left to right inside Arabic text, or the date's parts swap places.
    return Markup('{} <time datetime="{}" dir="ltr">{:%Y-%m-%d %H:%M}</time> ({})').format(
        WEEKDAYS[lang][local.weekday()], local.isoformat(), local, PAGE_TEXT[lang]["zone"]
    )


def _page(template: str, status: int = 200, **context: Any) -> Response:
    lang = _language()
    known = _browser_nonce()
    nonce = known or secrets.token_urlsafe(24)
    body = render_template(
        template,
        lang=lang,
        t=PAGE_TEXT[lang],
        categories=[(c.value, c.label(lang)) for c in Category],
        csrf_token=_form_token(nonce),
        query={"lang": "en"} if lang == "en" else {},
        **context,
    )
    response = make_response(body, status)
    if known is None:
        response.set_cookie(
            _COOKIE,
            _cookie_signer().sign(nonce).decode(),
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
            path="/support",
        )
    return response


@pages.errorhandler(HTTPException)
def _error_page(error: HTTPException) -> Response:
    # A refused form (too large, too many tries) still answers as a page, in its language.
    message = error.description
    if error.code == 413 and takes_files():  # too large to read: the files together were
        message = Refusal.TOO_MUCH_IN_ALL.explained(_language())
    page = _page("error.html", status=error.code or 500, message=message)
    retry_after = error.get_response().headers.get("Retry-After")
    if retry_after:
        page.headers["Retry-After"] = retry_after
    return page


# ---- the pages ---------------------------------------------------------------------------------


@pages.route("/support", methods=["GET", "POST"])
@accepts_files
def support_form() -> Response:
    """The support form (P1.2); on success, the reference and the first-response time (P3.3)."""
    if request.method != "POST":  # GET, and HEAD, which answers as GET without the body
        return _page("support.html", values={}, errors={})
    lang = _language()
    values = {name: request.form.get(name, "") for name in _FORM_FIELDS}
    chosen = any(f.filename for f in request.files.getlist(FIELD))
    checked = _checked_form()
    if checked is None:
        return _page(
            "support.html", 400, values=values, errors={}, notice=PAGE_TEXT[lang]["expired"]
        )
    try:
        files = received()
    except OverLimit as over:
        # The whole request is refused, so the learner can send it again with a smaller file.
        said = PAGE_TEXT[lang]["file_over_limit"].format(
            name=over.name, reason=over.reason.explained(lang)
        )
        return _page("support.html", 413, values=values, errors={"files": [said]})
    try:
        fields = SubmissionSchema().load({**values, "language": lang})
    except ma.ValidationError as error:
        # A browser does not send files back: they must be chosen again.
        errors = field_errors(error, lang)
        return _page("support.html", 422, values=values, errors=errors, files_again=chosen)
    built = container()
    nonce, key = checked
    try:
        answer, _ = submit_once(
            built.desk, built.idempotency, fields, key, door="form", caller=nonce, files=files
        )
    except (KeyReused, KeyInFlight) as sent:
        # This very form was sent before (edited since, or still being recorded): the page
        # comes back with a fresh token, so sending it again makes a new request.
        notice = PAGE_TEXT[_language()]["resent" if isinstance(sent, KeyReused) else "in_flight"]
        status = 422 if isinstance(sent, KeyReused) else 409
        return _page("support.html", status, values=values, errors={}, notice=notice)
    due = datetime.fromisoformat(answer["first_response_due"])
    return _page(
        "submitted.html",
        reference=answer["reference"],
        first_response_due=_local(due, lang),
        files=answer.get("files", []),
        refused=answer.get("refused", []),
    )


@pages.get("/support/files/<token>")
def requester_file(token: str) -> Response:
    """A file of the requester's ticket, by the signed link in their email: a download."""
    built = container()
    text = PAGE_TEXT[_language()]
    try:
        reference, found = built.downloads.by_link(token)
    except LinkRefused as refused:
        status, said = (
            (410, text["link_expired"]) if refused.expired else (404, text["link_invalid"])
        )
        return _page("error.html", status, message=said)
    except (FileNotKept, TicketNotFound):
        return _page("error.html", 404, message=text["link_invalid"])
    built.access_log.record(
        actor="requester", role="requester", action="file", reference=reference, query="link"
    )
    return served(found)


@pages.route("/support/status", methods=["GET", "POST"])
def status_form() -> Response:
    """A requester's own view of their request: reference + email → status."""
    if request.method != "POST":
        return _page("status.html", values={}, errors={})
    values = {name: request.form.get(name, "") for name in ("reference", "email")}
    if _checked_form() is None:
        return _page(
            "status.html", 400, values=values, errors={}, notice=PAGE_TEXT[_language()]["expired"]
        )
    try:
        query = StatusQuerySchema().load(values)
    except ma.ValidationError as error:
        return _page("status.html", 422, values=values, errors=field_errors(error, _language()))
    lang = _language()
    try:
        with steady_lookup():
            ticket = requesters_ticket(container().desk, query["reference"], query["email"])
    except NoMatchingTicket:
        return _page(
            "status.html", 404, values=values, errors={}, notice=PAGE_TEXT[lang]["not_found"]
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
