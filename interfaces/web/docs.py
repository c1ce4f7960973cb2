"""The browsable API reference at /api/docs, drawn by Swagger UI from files served here (no CDN).

Its content security policy is the narrowest Swagger UI runs under: scripts and styles from
this host, the icons its stylesheet holds as `data:` images, and requests to this host only
(the OpenAPI document, and "Try it out").
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

from interfaces.web.security_headers import CONTENT_SECURITY_POLICY

_STATIC = Path(__file__).parent / "static"

DOCS_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)

pages = Blueprint(
    "api_docs",
    __name__,
    template_folder="templates",
    static_folder=str(swagger_ui_path),  # the swagger-ui-bundle package's assets
    static_url_path="/api/docs/assets",
)


@pages.get("/api/docs")
def reference() -> str:
    """The OpenAPI document, browsable."""
    return render_template("docs.html", spec_url=url_for("api-docs.openapi_json"))


@pages.get("/api/docs/start.js")
def start() -> Response:
    """The script that points Swagger UI at our OpenAPI document."""
    return send_from_directory(_STATIC, "docs.js", mimetype="text/javascript")


@pages.after_request
def _policy(response: Response) -> Response:
    response.headers[CONTENT_SECURITY_POLICY] = DOCS_POLICY
    return response
