"""Errors as RFC 9457 problem details (`application/problem+json`), in the request's language."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from werkzeug.exceptions import HTTPException

from domain.errors import (
    DomainError,
    InvalidRequest,
    StaleVersion,
    TicketNotFound,
    TransitionRefused,
)
from domain.reference import InvalidReference

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger(__name__)

# Arabic titles for the statuses a requester may meet; agents' tools read `type` and `status`.
_ARABIC_TITLES = {
    400: "طلب غير صالح",
    401: "يلزم تسجيل الدخول",
    403: "غير مسموح",
    404: "غير موجود",
    405: "الطريقة غير مسموحة",
    409: "تعارض مع حالة الطلب",
    412: "تغيّرت التذكرة منذ قراءتها",
    413: "الطلب أكبر من المسموح",
    415: "نوع المحتوى غير مدعوم",
    422: "بيانات الطلب غير صالحة",
    429: "طلبات كثيرة، حاول لاحقاً",
    500: "خطأ داخلي",
    503: "الخدمة غير متاحة مؤقتاً",
}


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
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.type = type_


def wants_arabic() -> bool:
    """Whether the caller asked for Arabic (`?lang=ar`, a body `language`, or Accept-Language)."""
    lang = request.args.get("lang")
    if lang is None and request.is_json:
        body = request.get_json(silent=True)
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
        arabic = _ARABIC_TITLES.get(problem.status)
        if arabic and wants_arabic():
            document["title_en"] = problem.title
            document["title"] = arabic
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
    return Problem(
        status,
        error.name,
        detail=data.get("message") or (error.description if status != 500 else None),
        errors=errors if errors else None,
        headers=data.get("headers"),
    )


def _from_domain(error: DomainError | InvalidReference) -> Problem:
    if isinstance(error, TicketNotFound | InvalidReference):
        return Problem(404, "Not Found", detail="No ticket has this reference.")
    if isinstance(error, StaleVersion):
        return Problem(412, "Precondition Failed", detail=str(error))
    if isinstance(error, TransitionRefused):
        return Problem(409, "Conflict", detail=str(error))
    if isinstance(error, InvalidRequest):
        return Problem(422, "Unprocessable Content", detail=str(error))
    return Problem(400, "Bad Request", detail=str(error))


def handle_http_exception(error: HTTPException) -> Response:
    """Every HTTP error, including flask-smorest's validation errors, as a problem."""
    return problem_response(_from_http(error))


def install(app: Flask) -> None:
    """Register the problem handlers on the app."""
    app.register_error_handler(Problem, problem_response)
    app.register_error_handler(DomainError, lambda e: problem_response(_from_domain(e)))
    app.register_error_handler(InvalidReference, lambda e: problem_response(_from_domain(e)))
    app.register_error_handler(HTTPException, handle_http_exception)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:  # the last line of defence: no HTML 500s
        log.exception("unhandled error")
        return problem_response(Problem(500, "Internal Server Error"))
