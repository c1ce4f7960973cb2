"""`supportdesk users`: issue, list and revoke bearer tokens."""

from __future__ import annotations

import sys

import click

from application.bootstrap import bootstrap
from application.users import Role, UserError


@click.group("users")
def users_group() -> None:
    """People and systems allowed to use the API."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--email", default=None, help="Where the desk tells NAME of tickets they own.")
def users_add(name: str, role: str, email: str | None) -> None:
    """Issue a token for NAME; the token is printed once, alone on one line."""
    container = bootstrap()
    try:
        token = container.users.add(name, Role(role), email)
    except UserError as error:
        raise click.UsageError(str(error)) from None
    finally:
        container.close()
    click.echo(token)


@users_group.command("list")
def users_list() -> None:
    """List every token issued, without secrets."""
    container = bootstrap()
    try:
        for user in container.users.list():
            state = f"revoked {user.revoked_at:%Y-%m-%d}" if user.revoked_at else "active"
            click.echo(
                f"{user.name:<24} {user.role.value:<11} {user.created_at:%Y-%m-%d}  {state:<18}"
                f" {user.email or ''}".rstrip()
            )
    finally:
        container.close()


@users_group.command("revoke")
@click.argument("name")
def users_revoke(name: str) -> None:
    """Revoke every token of NAME."""
    container = bootstrap()
    try:
        revoked = container.users.revoke(name)
    finally:
        container.close()
    if not revoked:
        raise click.UsageError(f"{name} has no active token")
    click.echo(f"revoked {revoked} token(s) of {name}")


@users_group.command("email")
@click.argument("name")
@click.argument("address", required=False)
def users_email(name: str, address: str | None) -> None:
    """Set where NAME is told of the tickets they own (no ADDRESS: tell them nothing)."""
    container = bootstrap()
    try:
        changed = container.users.set_email(name, address)
    except UserError as error:
        raise click.UsageError(str(error)) from None
    finally:
        container.close()
    if not changed:
        raise click.UsageError(f"there is no user {name}")
    click.echo(f"{name}: {address or 'no email'}")


@users_group.command("passwd")
@click.argument("name")
def users_passwd(name: str) -> None:
    """Set NAME's password for the desk console: asked twice on a terminal, else read from the
    first line of standard input. Every browser NAME was signed in on is signed out."""
    stdin = sys.stdin
    if stdin.isatty():
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    else:
        password = stdin.readline().rstrip("\r\n")
    container = bootstrap()
    try:
        container.signin.set_password(name, password)
    except UserError as error:
        raise click.UsageError(str(error)) from None
    finally:
        container.close()
    click.echo(f"password set for {name}")


@users_group.command("totp")
@click.argument("name")
@click.option("--off", is_flag=True, help="Remove the second factor (a lost phone).")
def users_totp(name: str, off: bool) -> None:
    """Give NAME a second factor for the console: prints the otpauth:// URI to add to an
    authenticator app (as text or a QR code); from then on the console asks for its code."""
    container = bootstrap()
    try:
        if off:
            container.signin.disable_second_factor(name)
            click.echo(f"second factor removed for {name}")
        else:
            click.echo(container.signin.enable_second_factor(name))
    except UserError as error:
        raise click.UsageError(str(error)) from None
    finally:
        container.close()
