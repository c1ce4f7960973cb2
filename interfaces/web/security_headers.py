"""What browsers are told about every answer: where a page may load from, who may frame it,
what it may tell other sites.

The support pages are server-rendered without scripts, so their policy allows no script at
all, and styles and images from this host only; a form posts back here only. `/api/docs` sets
its own, wider policy (`interfaces.web.docs`); every other answer keeps this strict one.
"""

from __future__ import annotations

from flask import Flask, Response

PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
CONTENT_SECURITY_POLICY = "Content-Security-Policy"


def _protect(response: Response) -> Response:
    response.headers.setdefault(CONTENT_SECURITY_POLICY, PAGE_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")  # for browsers before CSP's
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def install(app: Flask) -> None:
    """Send the headers on every answer; a blueprint may set its own policy first."""
    app.after_request(_protect)
