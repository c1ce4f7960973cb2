"""`supportdesk mailer`, `smtpd` and `ingest`: mail out and mail in from the command line."""

from __future__ import annotations

import logging
import mailbox
import threading
from collections.abc import Iterator
from pathlib import Path

import click

from application.bootstrap import Container, bootstrap
from application.mail.intake import Action
from application.runtime.workers import WorkerPool
from interfaces.mail.listener import mail_listener
from interfaces.mail.wiring import mailer

log = logging.getLogger(__name__)


@click.group("mailer", invoke_without_command=True)
@click.pass_context
def mailer_group(context: click.Context) -> None:
    """Send the queued emails until stopped (SIGTERM, Ctrl-C); or manage dead letters."""
    if context.invoked_subcommand is not None:
        return
    container = bootstrap()
    if container.settings.broker_url.startswith("memory:"):
        click.echo(
            "warning: the in-process broker (memory://) reaches only a relay in this same "
            "process; `supportdesk serve` runs both in the embedded shape",
            err=True,
        )
    try:
        container.announce("mailer")
        WorkerPool({"mailer": mailer(container)}).run_until_signalled()
    finally:
        container.close()


@mailer_group.command("dead-letters")
def dead_letters() -> None:
    """List the emails that could not be sent, oldest first."""
    container = bootstrap()
    try:
        for letter in mailer(container).dead_letters():
            click.echo(
                f"{letter.failed_at:%Y-%m-%dT%H:%M:%S%z}  {letter.message_id}  {letter.kind}  "
                f"{letter.reference}  to {letter.recipient}  after {letter.attempts} tries: "
                f"{letter.error}"
            )
    finally:
        container.close()


@mailer_group.command("requeue")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every dead letter.")
def requeue(message_ids: tuple[str, ...], everything: bool) -> None:
    """Queue dead letters to be sent again (name them, or --all)."""
    if not message_ids and not everything:
        raise click.UsageError("name the dead letters to send again, or give --all")
    container = bootstrap()
    try:
        count = mailer(container).requeue(None if everything else list(message_ids))
    finally:
        container.close()
    click.echo(f"{count} email(s) queued again")


class _Listening:
    """The SMTP listener as a worker: listens until told to stop."""

    def __init__(self, container: Container, host: str, port: int) -> None:
        self.host = host
        try:
            self.listener = mail_listener(
                container.intake, host, port, container.settings.smtpd_allowed_clients
            )
        except ValueError as error:  # the allowed clients cannot be read: say so at start
            raise click.ClickException(str(error)) from None

    def run(self, stop: threading.Event) -> None:
        self.listener.start()
        click.echo(f"listening for mail on {self.host}:{self.listener.port}", err=True)
        try:
            stop.wait()
        finally:
            self.listener.stop()


@click.command("smtpd")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=2525, show_default=True)
def smtpd(host: str, port: int) -> None:
    """Receive mail for the support and management addresses over SMTP (P1.1, P6.2), from the
    clients SUPPORTDESK_SMTPD_ALLOWED_CLIENTS names."""
    container = bootstrap()
    try:
        container.announce("smtpd")
        WorkerPool({"smtpd": _Listening(container, host, port)}).run_until_signalled()
    finally:
        container.close()


@click.command("ingest")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def ingest(files: tuple[Path, ...]) -> None:
    """Receive messages from `.eml` files or mbox mailboxes; one line per message."""
    container = bootstrap()
    refused = failed = 0
    try:
        intake = container.intake
        for path in files:
            for number, raw in enumerate(_messages(path), start=1):
                try:
                    outcome = intake.receive(raw)
                except Exception as error:  # one message's failure must not lose the rest
                    log.exception("ingest: %s#%d not recorded", path, number)
                    failed += 1
                    click.echo(f"{path}#{number}\tfailed\t-\t{type(error).__name__}: {error}")
                    continue
                refused += outcome.action is Action.REFUSED
                click.echo(
                    f"{path}#{number}\t{outcome.action.value}\t{outcome.reference or '-'}"
                    f"\t{outcome.detail}".rstrip()
                )
    finally:
        container.close()
    if refused or failed:
        said = [f"{refused} message(s) refused"] if refused else []
        said += [f"{failed} not recorded (ingest them again)"] if failed else []
        raise click.ClickException(", ".join(said))


def _messages(path: Path) -> Iterator[bytes]:
    """The raw messages of an mbox file (it starts with `From `), else the file as one.

    A `.eml` file is one message even when a mail program saved it with an mbox `From `
    line first (that line is the envelope, not part of the message): read as an mbox, a line
    of its body starting with `From ` would cut it in two."""
    with path.open("rb") as file:
        is_mbox = file.read(5) == b"From "
    if path.suffix.lower() == ".eml" or not is_mbox:
        raw = path.read_bytes()
        yield raw.split(b"\n", 1)[1] if is_mbox and b"\n" in raw else raw
        return
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()
