"""The Flask application factory: the web side of the desk."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from application.bootstrap import Container, bootstrap, site_secret
from application.settings import Settings

# Modules, not their blueprints: a name bound here would hide the submodule of that name.
from interfaces.web import (
    audit,
    canned,
    conversation,
    desk,
    docs,
    files,
    forms,
    health,
    inbound,
    observability,
    privacy,
    problems,
    public,
    queries,
    ratelimit,
    search,
    security_headers,
    tickets,
    uploads,
)
from interfaces.web.problems import ProblemApi
from interfaces.web.services import attach
from interfaces.workers import gauges
from projections.runner import prepare

MAX_REQUEST_BYTES = 256 * 1024  # a support request is text; anything larger is refused (413)


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    """Build the Flask app around one container (the composition root's output)."""
    built = container or bootstrap(settings)
    prepare(built)  # the read models' tables: the queries and `/metrics` read them
    app = Flask(__name__)
    _behind(app, built.settings.trusted_proxies)
    attach(app, built)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        API_TITLE="Support Desk",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        JSON_SORT_KEYS=False,
    )
    app.config[forms.SECRET_KEY] = site_secret(built.settings)
    api = ProblemApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        },
    )
    problems.install(app)  # after Api(), so problems replace its JSON error bodies
    app.before_request(uploads.allow_files)
    security_headers.install(app)

    app.register_blueprint(health.health)
    api.register_blueprint(public.blp)
    api.register_blueprint(tickets.blp)
    api.register_blueprint(conversation.blp)
    api.register_blueprint(files.blp)
    api.register_blueprint(search.blp)
    api.register_blueprint(canned.blp)
    api.register_blueprint(queries.queries)
    api.register_blueprint(audit.audit)
    api.register_blueprint(inbound.blp)
    api.register_blueprint(privacy.blp)
    app.register_blueprint(forms.pages)
    app.register_blueprint(docs.pages)
    desk.install(app)
    ratelimit.install(app, built.settings, public.blp, forms.pages)
    observability.install(
        app,
        lambda: gauges(built),
        access_log=built.settings.access_log,
        metrics_dir=built.settings.metrics_dir,
        metrics_token=built.settings.metrics_token,
    )
    app.extensions["supportdesk_api"] = api
    return app


def _behind(app: Flask, hops: int) -> None:
    """Believe the client address and scheme that the nearest `hops` reverse proxies report.

    The address keys the rate limits and idempotency keys and decides who is on this machine
    (`/metrics`); the scheme, whether the form's cookie is sent only over HTTPS. Without proxies
    the headers are ignored: a client could otherwise name any address it likes.
    """
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
