"""`supportdesk serve`: the web server (and, in the embedded shape, the workers)."""

from __future__ import annotations

from typing import Any

import click
from gunicorn.app.base import BaseApplication

from application.settings import Settings


class _Server(BaseApplication):
    """Gunicorn run in-process, so one command serves both shapes."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from interfaces.web import create_app

        return create_app()


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Web worker processes (PostgreSQL shape; the embedded shape runs one).",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the web form and the API."""
    settings = Settings.from_env()
    # SQLite allows one writer: the embedded shape is one process with threads.
    processes = (workers or 2) if settings.uses_postgres else 1
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": processes,
            "threads": 8,
            "worker_class": "gthread",
            "accesslog": "-",
            "timeout": 60,
            "graceful_timeout": 20,
        }
    ).run()
