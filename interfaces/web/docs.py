"""The browsable API reference at /api/docs, drawn by Swagger UI from files served here (no CDN)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, render_template, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

_STATIC = Path(__file__).parent / "static"

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
