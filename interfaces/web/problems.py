"""Errors as RFC 9457 problem details (`application/problem+json`), in the request's language."""

from __future__ import annotations

import http
import json as stdlib_json
import logging
import re
import sqlite3
from typing import Any

import marshmallow as ma
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import RecordConflictError
from flask import Flask, Response, g, json, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from sqlalchemy import exc as sql
from werkzeug.exceptions import HTTPException

from application.downloads import FileNotKept
from application.submission import NoMatchingTicket
from domain.attachment import Refusal
from domain.errors import (
    DomainError,
    InvalidRequest,
    NotAllowed,
    StaleVersion,
    TemplateNotFound,
    TicketNotFound,
    TransitionRefused,
)
from domain.reference import InvalidReference
from interfaces.web.messages import HTTP_STATUS_ARABIC, NOT_FOUND_AR, NOT_FOUND_EN, in_arabic
from interfaces.web.schemas.problem import ProblemSchema
from interfaces.web.uploads import OverLimit, takes_files

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)

_FIELD_ERRORS_EN = "Some fields are not valid; see errors."


class Problem(Exception):
    """Raise to answer with a problem document; `errors` maps field names to messages."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        type_: str = "about:blank",
        detail_ar: str | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.type = type_
        self.detail_ar = detail_ar


class ProblemApi(Api):
    """flask-smorest's Api documenting its error responses as problem documents."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        # The same lazy responses flask-smorest registers, in our media type: clients (and
        # schema checkers) then see the content type they will really receive.
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)


_UNREADABLE = object()


def _parsed_body() -> Any:
    # Parsed once per request; too large, not UTF-8, not JSON, or nested beyond reason all
    # count as unreadable, and the caller decides what that means.
    if "_supportdesk_json" not in g:
        try:
            g._supportdesk_json = stdlib_json.loads(request.get_data(cache=True))
        except (HTTPException, ValueError, RecursionError):
            g._supportdesk_json = _UNREADABLE
    return g._supportdesk_json


def json_body() -> Any:
    """The request body parsed as JSON, or None when it cannot be read."""
    body = _parsed_body()
    return None if body is _UNREADABLE else body


def body_is_readable_json() -> bool:
    """Whether the request body parses as JSON."""
    return _parsed_body() is not _UNREADABLE


def refuse_unreadable_json() -> None:
    """Before a command: 415 for a body that is not JSON, 400 for JSON that cannot be read."""
    if request.method not in ("POST", "PUT", "PATCH") or takes_files():
        return  # a view taking files reads its multipart body itself
    if not request.get_data(cache=True):
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


def wants_arabic() -> bool:
    """Whether the caller asked for Arabic (`?lang=ar`, a body `language`, or Accept-Language)."""
    lang = request.args.get("lang")
    if lang is None and request.is_json:
        body = json_body()
        lang = body.get("language") if isinstance(body, dict) else None
    if lang is None:
        lang = request.accept_languages.best_match(["ar", "en"])
    return lang == "ar"


def problem_response(problem: Problem) -> Response:
    """Render a problem document."""
    document: dict[str, Any] = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        document["detail"] = problem.detail
    if problem.errors:
        document["errors"] = problem.errors
    if request:
        document["instance"] = request.path
        arabic = HTTP_STATUS_ARABIC.get(problem.status)
        if arabic and wants_arabic():
            document["title_en"], document["title"] = problem.title, arabic[0]
            if problem.detail:
                document["detail_en"] = problem.detail
            document["detail"] = problem.detail_ar or arabic[1]
            if problem.errors:
                document["errors"] = in_arabic(problem.errors)
    response = Response(
        json.dumps(document, ensure_ascii=False), status=problem.status, mimetype=PROBLEM_JSON
    )
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def _from_http(error: HTTPException) -> Problem:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and set(errors) <= {"json", "query", "headers", "form", "files"}:
        # webargs nests field errors by location; one location is the common case
        merged: dict[str, Any] = {}
        for location_errors in errors.values():
            merged.update(location_errors if isinstance(location_errors, dict) else {})
        errors = merged or errors
    detail = data.get("message") or (error.description if status != 500 else None)
    if status == 413 and takes_files():  # too large to read: the files together were
        detail = f"{Refusal.TOO_MUCH_IN_ALL.explained('en')} Nothing was recorded."
    if errors and status == 422:
        detail = _FIELD_ERRORS_EN
    response = error.get_response()
    headers = dict(data.get("headers") or {})
    for name in ("Allow", "Retry-After"):  # what the client needs to try again correctly
        if name in response.headers:
            headers.setdefault(name, response.headers[name])
    return Problem(
        status,
        error.name,
        detail=detail,
        errors=errors if errors else None,
        headers=headers,
    )


def _from_domain(error: DomainError | InvalidReference) -> Problem:
    if isinstance(error, TicketNotFound | InvalidReference):
        return Problem(
            404,
            "Not Found",
            detail="No ticket has this reference.",
            detail_ar="لا توجد تذكرة بهذا الرقم المرجعي.",
        )
    if isinstance(error, NotAllowed):
        return Problem(403, "Forbidden", detail=str(error))
    if isinstance(error, TemplateNotFound):
        return Problem(404, "Not Found", detail=str(error))
    if isinstance(error, StaleVersion):
        return Problem(412, "Precondition Failed", detail=str(error))
    if isinstance(error, TransitionRefused):
        return Problem(409, "Conflict", detail=str(error))
    if isinstance(error, InvalidRequest):
        return Problem(422, "Unprocessable Content", detail=str(error))
    return Problem(400, "Bad Request", detail=str(error))


def body_fields(schema: ma.Schema) -> dict[str, Any]:
    """A command's fields, from its JSON body or, with files, from its multipart form; 422
    naming each field that is wrong, as for any other body."""
    if takes_files():
        # A part's name is whatever the client wrote, none included: as text, the schema
        # names it an unknown field like any other.
        given: Any = {str(name): value for name, value in request.form.items()}
    else:
        given = request.get_json(silent=True)
        given = {} if given is None else given
    try:
        fields: dict[str, Any] = schema.load(given)
    except ma.ValidationError as error:
        messages = (
            error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        )
        raise Problem(
            422, "Unprocessable Entity", detail=_FIELD_ERRORS_EN, errors=messages
        ) from None
    return fields


def with_files(schema: type[ma.Schema]) -> dict[str, Any]:
    """A request body documented as JSON, or as a multipart form with files besides."""
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "multipart/form-data": {
                "schema": {
                    "allOf": [
                        {"$ref": f"#/components/schemas/{schema.__name__.removesuffix('Schema')}"},
                        {
                            "type": "object",
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "maxItems": 5,
                                    "items": {"type": "string", "format": "binary"},
                                    "description": "Up to 5 files, 10 MB each, 25 MB in all: "
                                    "PNG, JPEG, WebP, GIF, PDF or plain text",
                                }
                            },
                        },
                    ]
                }
            },
        },
    }


def over_limit(error: OverLimit) -> Problem:
    """413 naming the file that was over a limit; nothing was recorded."""
    return Problem(
        413,
        "Content Too Large",
        detail=f"“{error.name}”: {error.reason.explained('en')} Nothing was recorded.",
        errors={"files": [f"{error.name}: {error.reason.explained('en')}"]},
        detail_ar=f"«{error.name}»: {error.reason.explained('ar')} لم يُسجَّل شيء.",
    )


def _file_not_kept(_: FileNotKept) -> Response:
    return problem_response(
        Problem(
            404,
            "Not Found",
            detail="This ticket keeps no such file, or it can no longer be read.",
            detail_ar="لا يوجد في هذه التذكرة ملف كهذا، أو لم يعد ممكناً قراءته.",
        )
    )


def _no_matching_ticket(_: NoMatchingTicket) -> Response:
    # One answer whether the reference or the email was wrong (DESIGN §6, `POST /status`).
    return problem_response(Problem(404, "Not Found", detail=NOT_FOUND_EN, detail_ar=NOT_FOUND_AR))


# The database is away, restarting, or cut our connection (an operator's pg_terminate_backend,
# a failover), or every connection is busy: nothing was decided, so the client may try again.
# The pool drops the dead connections, and the next request opens fresh ones.
_DATABASE_AWAY: tuple[type[BaseException], ...] = (
    sql.OperationalError,
    sql.InterfaceError,
    sql.DisconnectionError,
    sql.TimeoutError,
    StoreOperationalError,
    StoreInterfaceError,
)
DATABASE_RETRY_SECONDS = 2
# SQLite tells its passing conditions apart by code (busy, locked, I/O, full, cannot open); any
# other OperationalError of SQLite, such as a missing table, is a fault and stays a 500.
_SQLITE_PASSING = frozenset({5, 6, 10, 13, 14, 15})


def _causes(error: BaseException) -> list[BaseException]:
    """The error and the errors it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _database_away(error: BaseException) -> bool:
    causes = _causes(error)
    driver = next((c.orig for c in causes if isinstance(c, sql.DBAPIError)), None)
    if isinstance(driver, sqlite3.Error):
        return getattr(driver, "sqlite_errorcode", 0) & 0xFF in _SQLITE_PASSING
    return any(
        isinstance(cause, _DATABASE_AWAY)
        or (isinstance(cause, sql.DBAPIError) and cause.connection_invalidated)
        for cause in causes
    )


def _driver_message(error: BaseException) -> str:
    # The driver's own first line only: SQLAlchemy's message also quotes the statement and
    # its parameters, which hold requesters' personal data and must not reach the logs.
    driver = next((c.orig for c in _causes(error) if isinstance(c, sql.DBAPIError)), error)
    lines = str(driver).strip().splitlines()
    return f"{type(driver).__name__}: {lines[0] if lines else ''}"


def unavailable(error: BaseException) -> Problem | None:
    """503 with Retry-After for a failure that a later try may not meet; None otherwise."""
    if isinstance(error, RecordConflictError):
        # Optimistic concurrency ran out of retries on a ticket everyone is acting on.
        return Problem(
            503,
            "Service Unavailable",
            detail="The ticket is changing too quickly; nothing was recorded. Try again.",
            headers={"Retry-After": "1"},
        )
    if not _database_away(error):
        return None
    log.warning("database unavailable: %s", _driver_message(error))
    return Problem(
        503,
        "Service Unavailable",
        detail="The desk cannot reach its database right now; try again shortly.",
        headers={"Retry-After": str(DATABASE_RETRY_SECONDS)},
    )


def handle_http_exception(error: HTTPException) -> Response:
    """Every HTTP error, including flask-smorest's validation errors, as a problem."""
    return problem_response(_from_http(error))


# C0 and C1 controls (NUL above all, which PostgreSQL cannot store) and lone surrogates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def refuse_control_characters() -> None:
    """400 for a path or query holding control characters: no reference, filter or name has
    them, and a NUL would otherwise reach the database (the audit log records what was asked).
    """
    given = [request.path, *(part for pair in request.args.items(multi=True) for part in pair)]
    if any(_CONTROL.search(text) for text in given):
        raise Problem(
            400,
            "Bad Request",
            detail="The address holds control characters.",
            detail_ar="العنوان يحتوي على رموز تحكم.",
        )


def install(app: Flask) -> None:
    """Register the problem handlers on the app."""
    app.before_request(refuse_control_characters)
    app.register_error_handler(Problem, problem_response)
    app.register_error_handler(DomainError, lambda e: problem_response(_from_domain(e)))
    app.register_error_handler(InvalidReference, lambda e: problem_response(_from_domain(e)))
    app.register_error_handler(NoMatchingTicket, _no_matching_ticket)
    app.register_error_handler(OverLimit, lambda e: problem_response(over_limit(e)))
    app.register_error_handler(FileNotKept, _file_not_kept)
    app.register_error_handler(HTTPException, handle_http_exception)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:  # the last line of defence: no HTML 500s
        problem = unavailable(error)
        if problem is None:
            log.exception("unhandled error")
            problem = Problem(500, "Internal Server Error")
        return problem_response(problem)
