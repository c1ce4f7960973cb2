"""`supportdesk worker`: the background workers in the foreground, until SIGTERM."""

from __future__ import annotations

import click

from application.bootstrap import bootstrap
from application.mail.outbox import START_NOW, OutboxRelay, StartUnknown
from application.runtime.leadership import Led
from application.runtime.workers import WorkerPool
from application.settings import Settings
from interfaces.logs import configure
from interfaces.workers import RETENTION, worker_names, workers


@click.command("worker")
@click.option(
    "--only",
    "only",
    multiple=True,
    help="Run just this worker (repeatable); see `supportdesk worker --list`.",
)
@click.option("--list", "list_", is_flag=True, help="Print the workers' names and exit.")
@click.option(
    "--from",
    "start",
    metavar="now|POSITION",
    help="Where a relay with no stored position begins on a log that already has events.",
)
def worker(only: tuple[str, ...], list_: bool, start: str | None) -> None:
    """Run projections, the outbox relay and the SLA watcher (each or all) until SIGTERM."""
    settings = Settings.from_env()
    configure(settings.log_format)
    if list_:
        for name in worker_names():
            click.echo(name)
        return
    unknown = sorted(set(only) - set(worker_names()))
    if unknown:
        raise click.BadParameter(
            f"unknown worker {', '.join(unknown)}; choose from {', '.join(worker_names())}",
            param_hint="--only",
        )
    if RETENTION in only and settings.retention_days <= 0:
        raise click.BadParameter(
            "the retention worker needs SUPPORTDESK_RETENTION_DAYS", param_hint="--only"
        )
    container = bootstrap(settings)
    try:
        try:
            chosen = workers(container, relay_start=_start(start), only=only)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="--from") from None
        relay = chosen.get("relay")
        if isinstance(relay, Led):
            relay = relay.worker
        if isinstance(relay, OutboxRelay):
            try:
                relay.ensure_started()
            except StartUnknown as unknown_start:
                raise click.UsageError(str(unknown_start)) from None
        container.announce(f"worker: {', '.join(chosen)}")
        WorkerPool(chosen).run_until_signalled()
    finally:
        container.close()


def _start(value: str | None) -> int | str | None:
    if value is None or value == START_NOW:
        return value
    if not value.isdigit():
        raise click.BadParameter("say now, or a log position (a whole number)", param_hint="--from")
    return int(value)
