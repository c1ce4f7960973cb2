"""`supportdesk privacy`: the data-protection officer's commands (P7.3)."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable
from pathlib import Path

import click
import email_validator

from application.bootstrap import Container, bootstrap
from application.mail.address import address_tag
from application.privacy.erasure import BASES
from application.privacy.export import summary
from domain.errors import DomainError
from domain.reference import InvalidReference
from interfaces.privacy import copy_for, eraser, rekeyer
from interfaces.workers import retention


@click.group("privacy")
def privacy_group() -> None:
    """A learner's rights over their data."""


@click.command("export")
@click.argument("email")
@click.option(
    "--summary",
    "summary_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the copy for people (Arabic first, then English) to this file.",
)
def export(email: str, summary_file: Path | None) -> None:
    """Print the learner's copy of their data as JSON lines: their tickets, then every event
    as stored, with its hash and its predecessor's (check them with `audit verify`)."""
    try:
        email = email_validator.validate_email(email, check_deliverability=False).normalized
    except email_validator.EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="EMAIL") from None
    container = bootstrap()
    try:
        container.access_log.record(
            actor=f"cli:{getpass.getuser()}",
            role="operator",
            action="privacy-export",
            reference=None,
            query=address_tag(email),
        )
        made = copy_for(container, email)
        for line in made.lines(container.audit):
            click.echo(json.dumps(line, ensure_ascii=False))
        if summary_file is not None:
            summary_file.write_text(summary(made, container.calendar.timezone), encoding="utf-8")
    finally:
        container.close()
    click.echo(f"{len(made.tickets)} ticket(s) of {email}", err=True)


@click.command("erase")
@click.argument("who", metavar="EMAIL|REFERENCE")
@click.option("--reason", required=True, help="Why: recorded with the erasure.")
@click.option(
    "--basis",
    type=click.Choice(BASES),
    default="request",
    show_default=True,
    help="The legal ground.",
)
def erase(who: str, reason: str, basis: str) -> None:
    """Erase a learner's personal data from every ticket of theirs, named by their address or
    by a reference: the erasure is recorded on each ticket, their key destroyed, every copy
    outside the record purged. Run again, it finishes an erasure cut short."""
    actor = f"cli:{getpass.getuser()}"
    container = bootstrap()
    try:
        container.access_log.record(
            actor=actor,
            role="operator",
            action="privacy-erase",
            reference=None if "@" in who else who,
            query=address_tag(who) if "@" in who else "",
        )
        try:
            report = eraser(container).erase(who, reason=reason, basis=basis, actor=actor)
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    finally:
        container.close()
    click.echo(json.dumps(report.as_json()))


@click.command("replay-erasures")
def replay_erasures() -> None:
    """After restoring a backup of the event store: record again every erasure of the erasure
    log (kept with the keys, outside that backup) that the restored record lacks, and purge
    the copies again."""
    container = bootstrap()
    try:
        marked = eraser(container).replay(actor=f"cli:{getpass.getuser()}")
    finally:
        container.close()
    click.echo(f"{len(marked)} ticket(s) erased again: {' '.join(marked) or '-'}")


@click.command("hold")
@click.argument("reference")
@click.option("--reason", required=True, help="Why the data must be kept (a dispute, a case).")
def hold(reference: str, reason: str) -> None:
    """Keep a ticket's data whatever its age: neither the retention period nor an erasure
    removes it until the hold is lifted."""
    _on_ticket(reference, lambda c, actor: c.desk.place_hold(reference, reason=reason, actor=actor))
    click.echo(f"{reference} held: {reason}")


@click.command("lift-hold")
@click.argument("reference")
@click.option("--reason", required=True, help="Why the hold ends.")
def lift_hold(reference: str, reason: str) -> None:
    """End a ticket's hold."""
    _on_ticket(reference, lambda c, actor: c.desk.lift_hold(reference, reason=reason, actor=actor))
    click.echo(f"{reference} no longer held")


def _on_ticket(reference: str, command: Callable[[Container, str], object]) -> None:
    container = bootstrap()
    try:
        command(container, f"cli:{getpass.getuser()}")
    except (DomainError, InvalidReference) as error:
        raise click.ClickException(str(error)) from None
    finally:
        container.close()


@click.command("retention")
def retention_pass() -> None:
    """Erase now the requesters past the retention period (SUPPORTDESK_RETENTION_DAYS), but
    those held; print what was done. The `retention` worker does the same every hour."""
    container = bootstrap()
    try:
        if container.settings.retention_days <= 0:
            raise click.ClickException("no retention period is set (SUPPORTDESK_RETENTION_DAYS)")
        report = retention(container).run_once()
    finally:
        container.close()
    click.echo(json.dumps(report.as_json()))


@click.command("rekey")
@click.option(
    "--check",
    is_flag=True,
    help="Rewrite nothing: open the texts of the events rewritten so far and compute their "
    "former hashes again.",
)
def rekey(check: bool) -> None:
    """Seal the personal texts of events recorded before texts were sealed, so that their
    requesters can be erased: each ticket's chain is rehashed and a statement signed with the
    audit key ties every rewritten event to its former hash. Run it once after upgrading; it
    can be run again, and finds nothing left."""
    actor = f"cli:{getpass.getuser()}"
    container = bootstrap()
    try:
        container.access_log.record(
            actor=actor, role="operator", action="privacy-rekey", reference=None, query=""
        )
        if check:
            found = rekeyer(container).check()
            click.echo(json.dumps(vars(found)))
            if not found.sound:
                raise click.exceptions.Exit(1)
            return
        report = rekeyer(container).rekey(actor=actor)
    finally:
        container.close()
    click.echo(json.dumps(report.as_json()))


privacy_group.add_command(export)
privacy_group.add_command(erase)
privacy_group.add_command(replay_erasures)
privacy_group.add_command(hold)
privacy_group.add_command(lift_hold)
privacy_group.add_command(retention_pass)
privacy_group.add_command(rekey)
