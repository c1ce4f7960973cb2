"""The Flask application factory: the web side of the desk."""

from __future__ import annotations

from flask import Flask, current_app

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from interfaces.web import observability, problems
from interfaces.web.problems import ProblemApi
from interfaces.workers import gauges

MAX_REQUEST_BYTES = 256 * 1024  # a support request is text; anything larger is refused (413)


def container() -> Container:
    """The container the running app was built around."""
    built: Container = current_app.extensions["supportdesk"]
    return built


def create_app(settings: Settings | None = None, container: Container | None = None) -> Flask:
    """Build the Flask app around one container (the composition root's output)."""
    built = container or bootstrap(settings)
    app = Flask(__name__)
    app.extensions["supportdesk"] = built
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        API_TITLE="Support Desk",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="v1/openapi.json",
        JSON_SORT_KEYS=False,
    )
    api = ProblemApi(
        app,
        spec_kwargs={
            "components": {
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
        },
    )
    problems.install(app)  # after Api(), so problems replace its JSON error bodies

    from interfaces.web import docs, forms, public, ratelimit, tickets
    from interfaces.web.audit import audit
    from interfaces.web.health import health
    from interfaces.web.inbound import blp as inbound
    from interfaces.web.queries import queries

    app.register_blueprint(health)
    api.register_blueprint(public.blp)
    api.register_blueprint(tickets.blp)
    api.register_blueprint(queries)
    api.register_blueprint(audit)
    api.register_blueprint(inbound)
    app.register_blueprint(forms.pages)
    app.register_blueprint(docs.pages)
    ratelimit.install(app, public.blp, forms.pages)
    observability.install(app, lambda: gauges(built), access_log=built.settings.access_log)
    app.extensions["supportdesk_api"] = api
    return app
