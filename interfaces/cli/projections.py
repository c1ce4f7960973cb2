"""`supportdesk projections`: the query side's read models: rebuild them, see how far they are,
and which events they set aside."""

from __future__ import annotations

import click

from application.bootstrap import Container, bootstrap
from projections.quarantine import failed_events, quarantined
from projections.rebuild import RebuildRunning
from projections.runner import READ_MODELS, Runner, build_runners, positions


@click.group("projections")
def projections_group() -> None:
    """Read models: the queue, the SLA register, the reports, the suggestions register."""


@projections_group.command("rebuild")
@click.argument("name", required=False, type=click.Choice(READ_MODELS))
def rebuild(name: str | None) -> None:
    """Replay the whole log into NAME (default: every read model).

    The new tables are built beside the live ones, which queries go on reading, and replace
    them in one transaction at the end. A runner left running carries on where the rebuild got
    to, without applying any event twice. Events set aside are tried again.
    """
    container = bootstrap()
    try:
        _rebuild(container, build_runners(container), [name] if name else list(READ_MODELS))
    except RebuildRunning as running:
        raise click.ClickException(str(running)) from None
    finally:
        container.close()


def _rebuild(container: Container, runners: dict[str, Runner], names: list[str]) -> None:
    """Rebuild the named read models one after the other, each with a progress bar."""
    head = container.desk.recorder.max_notification_id() or 0
    for chosen in names:
        runner = runners[chosen]
        with click.progressbar(length=head, label=f"{chosen:<12}", show_pos=True) as bar:
            shown = 0

            def progress(position: int) -> None:
                nonlocal shown
                bar.update(min(position, head) - shown)
                shown = min(position, head)

            read = runner.rebuild(progress)
        click.echo(f"{chosen}: {read} events replayed, now at position {runner.position()}")


@projections_group.command("status")
def status() -> None:
    """Print each read model's position in the log, how far behind it is, and how many events
    it set aside."""
    container = bootstrap()
    try:
        build_runners(container)  # the tables and tracking rows, if this is the first look
        head = container.desk.recorder.max_notification_id() or 0
        reached = positions(container)
        set_aside = quarantined(container)
        for name in READ_MODELS:
            position = reached.get(name, 0)
            line = f"{name:<12} at {position:>10}  behind by {head - position}"
            if set_aside.get(name):
                line += f"  set aside {set_aside[name]} (supportdesk projections quarantine)"
            click.echo(line)
    finally:
        container.close()


@projections_group.command("quarantine")
@click.option("--retry", is_flag=True, help="Rebuild the read models that set events aside.")
def quarantine(retry: bool) -> None:
    """List the events the read models failed on: set aside, or still being retried.

    An event set aside is missing from its read model. Fix the cause (a release, or the data),
    then `--retry`: the read models concerned are rebuilt, and an event that now applies
    leaves the list.
    """
    container = bootstrap()
    try:
        runners = build_runners(container)
        if retry:
            _rebuild(
                container, runners, [name for name in READ_MODELS if name in quarantined(container)]
            )
        failed = failed_events(container)
        if not failed:
            click.echo("no event failed")
        for event in failed:
            state = "set aside" if event.quarantined else "retrying"
            click.echo(
                f"{event.read_model:<12} position {event.position:>10}  {state} after"
                f" {event.attempts} attempts, {event.first_failed_at:%Y-%m-%d %H:%M:%S}"
                f" to {event.last_failed_at:%Y-%m-%d %H:%M:%S} UTC\n    {event.error}"
            )
    finally:
        container.close()
