"""`supportdesk`: the command line of the desk. Every command reads the same settings."""

from __future__ import annotations

import sys

import click

from interfaces.cli.audit import audit_group
from interfaces.cli.bench import bench
from interfaces.cli.calendar import calendar_group, sla_group
from interfaces.cli.demo import demo
from interfaces.cli.front import front_group
from interfaces.cli.mail import ingest, mailer_group, smtpd
from interfaces.cli.privacy import privacy_group
from interfaces.cli.projections import projections_group
from interfaces.cli.serve import serve
from interfaces.cli.topology import topology_group
from interfaces.cli.users import users_group
from interfaces.cli.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Support Desk: the Captain Mama technical-support policy, on the record."""


cli.add_command(serve)
cli.add_command(sla_group)
cli.add_command(calendar_group)
cli.add_command(users_group)
cli.add_command(worker)
cli.add_command(mailer_group)
cli.add_command(smtpd)
cli.add_command(ingest)
cli.add_command(audit_group)
cli.add_command(privacy_group)
cli.add_command(demo)
cli.add_command(bench)
cli.add_command(projections_group)
cli.add_command(front_group)
cli.add_command(topology_group)


def main(argv: list[str] | None = None) -> None:
    """Entry point: bad arguments give a one-line error and exit status 2."""
    try:
        # Outside standalone mode click returns, rather than raises, a command's exit code.
        code = cli.main(args=argv, prog_name="supportdesk", standalone_mode=False)
    except click.UsageError as error:
        message = error.format_message().replace("\n", " ")
        click.echo(f"supportdesk: error: {message}", err=True)
        sys.exit(2)
    except click.ClickException as error:
        click.echo(f"supportdesk: error: {error.format_message()}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.Abort:
        click.echo("supportdesk: aborted", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
