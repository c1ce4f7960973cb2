"""`supportdesk privacy`: the data-protection officer's commands (P7.3)."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import click
import email_validator

from application.bootstrap import bootstrap
from application.mail.address import address_tag
from application.privacy.export import summary
from interfaces.privacy import copy_for


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


privacy_group.add_command(export)
