"""`supportdesk serve`: the web server (and, in the embedded shape, the workers)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import click
from gunicorn.app.base import BaseApplication

from application.runtime.workers import WorkerPool
from application.settings import Settings
from interfaces.logs import configure
from interfaces.workers import workers


class _Server(BaseApplication):
    """Gunicorn run in-process, so one command serves both shapes."""

    def __init__(self, options: dict[str, Any], embedded: bool) -> None:
        self.options = options
        self.embedded = embedded
        self.application: Any = None
        self.pool: WorkerPool | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", self._start_workers)
        self.cfg.set("worker_exit", self._stop_workers)
        self.cfg.set("child_exit", _forget_metrics_of)

    def load(self) -> Any:
        from interfaces.web import create_app

        self.application = create_app()
        self.application.extensions["supportdesk"].announce("web")
        return self.application

    def _start_workers(self, worker: Any) -> None:
        # The embedded broker (memory://) lives inside one process, so the relay, the mailer
        # and the projections run as threads of the single web worker.
        if self.embedded and self.application is not None:
            container = self.application.extensions["supportdesk"]
            self.pool = WorkerPool(workers(container, include_mailer=True))
            self.pool.start()

    def _stop_workers(self, server: Any, worker: Any) -> None:
        if self.pool is not None:
            self.pool.stop()


def _forget_metrics_of(server: Any, worker: Any) -> None:
    # `serve` always shares metrics through a folder: drop the dead worker's files from it.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Web worker processes (PostgreSQL shape, default 2; the embedded shape runs one).",
)
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the web form and the API."""
    settings = Settings.from_env()
    configure(settings.log_format)
    embedded = not settings.uses_postgres
    # SQLite allows one writer: the embedded shape is one process with threads.
    processes = 1 if embedded else (workers or 2)
    # Before anything imports prometheus-client: it chooses per-process or shared metric
    # values once, at import, from this variable.
    metrics = Path(settings.data_dir) / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics.resolve())
    # Create every table and the form secret once, before the workers start: workers booting
    # together would race to create them, and PostgreSQL refuses the loser.
    from interfaces.web import create_app

    create_app(settings).extensions["supportdesk"].close()
    _Server(
        {
            "bind": f"{host}:{port}",
            "workers": processes,
            "threads": 8,
            "worker_class": "gthread",
            "accesslog": None,  # the app logs each request itself, with its request id
            "timeout": 60,
            "graceful_timeout": 20,
            "control_socket_disable": True,
        },
        embedded=embedded,
    ).run()
