"""`supportdesk projections`: the query side's read models: rebuild them, see how far they are."""

from __future__ import annotations

import click

from application.bootstrap import bootstrap
from projections.runner import READ_MODELS, build_runners, positions


@click.group("projections")
def projections_group() -> None:
    """Read models: the queue, the SLA register, the reports, the suggestions register."""


@projections_group.command("rebuild")
@click.argument("name", required=False, type=click.Choice(READ_MODELS))
def rebuild(name: str | None) -> None:
    """Drop NAME (default: every read model) and replay the whole log into it.

    Queries see the tables fill up meanwhile; a runner left running carries on where the
    rebuild got to, without applying any event twice.
    """
    container = bootstrap()
    try:
        runners = build_runners(container)
        head = container.desk.recorder.max_notification_id() or 0
        for chosen in [name] if name else list(READ_MODELS):
            runner = runners[chosen]
            with click.progressbar(length=head, label=f"{chosen:<12}", show_pos=True) as bar:
                shown = 0

                def progress(position: int) -> None:
                    nonlocal shown
                    bar.update(min(position, head) - shown)
                    shown = min(position, head)

                read = runner.rebuild(progress)
            click.echo(f"{chosen}: {read} events replayed, now at position {runner.position()}")
    finally:
        container.close()


@projections_group.command("status")
def status() -> None:
    """Print each read model's position in the log and how far behind it is."""
    container = bootstrap()
    try:
        build_runners(container)  # the tables and tracking rows, if this is the first look
        head = container.desk.recorder.max_notification_id() or 0
        reached = positions(container)
        for name in READ_MODELS:
            position = reached.get(name, 0)
            click.echo(f"{name:<12} at {position:>10}  behind by {head - position}")
    finally:
        container.close()
