"""`supportdesk worker`: the background workers in the foreground, until SIGTERM."""

from __future__ import annotations

import click

from application.bootstrap import bootstrap
from application.runtime.workers import WorkerPool
from application.settings import Settings
from interfaces.logs import configure
from interfaces.workers import workers


@click.command("worker")
@click.option(
    "--only",
    "only",
    multiple=True,
    help="Run just this worker (repeatable); see `supportdesk worker --list`.",
)
@click.option("--list", "list_", is_flag=True, help="Print the workers' names and exit.")
def worker(only: tuple[str, ...], list_: bool) -> None:
    """Run projections, the outbox relay and the SLA watcher (each or all) until SIGTERM."""
    settings = Settings.from_env()
    configure(settings.log_format)
    container = bootstrap(settings)
    try:
        available = workers(container)
        if list_:
            for name in available:
                click.echo(name)
            return
        unknown = sorted(set(only) - set(available))
        if unknown:
            raise click.BadParameter(
                f"unknown worker {', '.join(unknown)}; choose from {', '.join(available)}",
                param_hint="--only",
            )
        chosen = {name: w for name, w in available.items() if not only or name in only}
        WorkerPool(chosen).run_until_signalled()
    finally:
        container.close()
