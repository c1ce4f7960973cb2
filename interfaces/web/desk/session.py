"""Signing in to the console, its session cookie, CSRF, language, and how pages are rendered.

The cookie holds a random token only (HttpOnly, SameSite=Strict, Secure over HTTPS, path
/desk); the session behind it lives in the database (application/signin.py), so it ends on
sign-out, after idle time, or when the user is revoked, on every web process at once. Every
form posts the session's CSRF token; the sign-in form, before there is a session, posts a
token signed for a random value in its own cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from application.signin import DeskSession, SecondFactorNeeded, SignInRefused
from application.users import Role
from domain.errors import TicketNotFound
from domain.reference import InvalidReference
from interfaces.web.desk.wording import Wording, wording
from interfaces.web.forms import SECRET_KEY
from interfaces.web.services import container

desk = Blueprint("desk", __name__, url_prefix="/desk", static_folder="../static")

COOKIE = "supportdesk_desk"
_LOGIN_COOKIE = "supportdesk_desk_login"
_LOGIN_FORM_SECONDS = 30 * 60
HANDLERS = (Role.AGENT, Role.SUPERVISOR)
# The console's own policy: its one script (the queue's refresh) and styles from this host.
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

F = TypeVar("F", bound=Callable[..., Any])


class BadForm(Exception):
    """A form without a genuine CSRF token: nothing is done."""


# ---- who is signed in --------------------------------------------------------------------


def _client() -> str:
    return request.remote_addr or "unknown"


def current() -> DeskSession:
    """The signed-in user of this request (inside a `signed_in` view)."""
    session: DeskSession = g.desk_session
    return session


def language() -> str:
    """The viewer's language: theirs once signed in, else the page's `?lang=`."""
    session: DeskSession | None = g.get("desk_session")
    if session is not None and session.language:
        return session.language
    return "en" if request.args.get("lang") == "en" else "ar"


def signed_in(*roles: Role) -> Callable[[F], F]:
    """Pages for signed-in users of these roles; others go to the sign-in page, or get 403."""
    allowed = frozenset(roles or HANDLERS)

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            session = container().signin.session(request.cookies.get(COOKIE, ""))
            if session is None:
                target = request.full_path if request.method == "GET" else url_for("desk.queue")
                return redirect(url_for("desk.login", next=target.rstrip("?")))
            g.desk_session = session
            if session.role not in allowed:
                return page("desk/error.html", 403, message=wording(language()).forbidden)
            if request.method == "POST":
                check_csrf(session)
            return view(*args, **kwargs)

        return guarded  # type: ignore[return-value]  # wraps keeps the view's signature

    return decorate


def check_csrf(session: DeskSession) -> None:
    """Refuse a form whose token is not the session's."""
    sent = request.form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise BadForm()


# ---- rendering ---------------------------------------------------------------------------


def page(view: str, status: int = 200, /, **context: Any) -> Response:
    """The console page `view` (a template's name) in the viewer's language, with what every
    page needs."""
    lang = language()
    session: DeskSession | None = g.get("desk_session")
    body = render_template(
        view,
        lang=lang,
        t=wording(lang),
        user=session,
        csrf=session.csrf if session else "",
        is_supervisor=session is not None and session.role is Role.SUPERVISOR,
        **({"zone": container().calendar.timezone} | context),
    )
    response = make_response(body, status)
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Cache-Control"] = "no-store"  # a shared computer keeps no ticket
    return response


# ---- signing in and out ------------------------------------------------------------------


def _login_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config[SECRET_KEY], salt="desk-login")


def _login_page(status: int = 200, **context: Any) -> Response:
    nonce = request.cookies.get(_LOGIN_COOKIE) or secrets.token_urlsafe(24)
    response = page(
        "desk/login.html",
        status,
        token=_login_serializer().dumps(nonce),
        next=_safe_next(request.values.get("next")),
        **context,
    )
    response.set_cookie(
        _LOGIN_COOKIE,
        nonce,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/desk",
        max_age=_LOGIN_FORM_SECONDS,
    )
    return response


def _login_form_genuine() -> bool:
    try:
        nonce = _login_serializer().loads(
            request.form.get("token", ""), max_age=_LOGIN_FORM_SECONDS
        )
    except BadData:
        return False
    cookie = request.cookies.get(_LOGIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(str(nonce).encode(), cookie.encode())


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page of this site, nowhere else."""
    target = target or ""
    parts = urlsplit(target)
    foreign = parts.scheme or parts.netloc or "\\" in target or target.startswith("//")
    if foreign or not parts.path.startswith("/desk"):
        return url_for("desk.queue")
    return target


@desk.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in page; a session cookie on success."""
    t = wording(language())
    if request.method != "POST":
        return _login_page()
    if not _login_form_genuine():
        return _login_page(400, notice=t.form_expired)
    name = request.form.get("name", "")
    try:
        token = container().signin.sign_in(
            name, request.form.get("password", ""), _client(), request.form.get("code") or None
        )
    except SecondFactorNeeded as needed:
        wrong = "wrong" in needed.reason
        return _login_page(
            401 if wrong else 200,
            name=name,
            ask_code=True,
            notice=t.wrong_code if wrong else t.enter_code,
        )
    except SignInRefused as refused:
        if refused.retry_after is not None:
            response = _login_page(429, name=name, notice=t.too_many_attempts)
            response.headers["Retry-After"] = str(refused.retry_after)
            return response
        notice = t.second_factor_required if "second factor" in refused.reason else t.wrong_login
        return _login_page(401, name=name, notice=notice)
    signed = redirect(_safe_next(request.form.get("next")), 303)
    signed.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/desk"
    )
    signed.delete_cookie(_LOGIN_COOKIE, path="/desk")
    return signed


@desk.post("/logout")
@signed_in(*Role)
def logout() -> ResponseReturnValue:
    """Sign out: the session ends here and on the server."""
    container().signin.sign_out(current())
    response = redirect(url_for("desk.login"), 303)
    response.delete_cookie(COOKIE, path="/desk")
    return response


@desk.post("/language")
@signed_in(*Role)
def switch_language() -> ResponseReturnValue:
    """Keep the viewer's language for every later page."""
    chosen = "en" if request.form.get("lang") == "en" else "ar"
    container().signin.set_language(current().name, chosen)
    return redirect(_safe_next(request.form.get("next")), 303)


# ---- errors, as pages --------------------------------------------------------------------


@desk.errorhandler(BadForm)
def _bad_form(_: BadForm) -> Response:
    return page("desk/error.html", 400, message=wording(language()).form_expired)


@desk.errorhandler(TicketNotFound)
@desk.errorhandler(InvalidReference)
def _no_ticket(_: Exception) -> Response:
    return page("desk/error.html", 404, message=wording(language()).no_ticket)


@desk.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    t: Wording = wording(language())
    return page("desk/error.html", error.code or 500, message=t.http_error(error.code or 500))


def install(app: Flask) -> None:
    """Register the console's blueprint on the app."""
    app.register_blueprint(desk)
