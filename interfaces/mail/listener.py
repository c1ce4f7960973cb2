"""`supportdesk smtpd`: an SMTP listener that hands inbound mail to the intake (P1.1, P6).

It accepts mail only for the desk's own addresses (it is no relay), refuses messages that are
too large or unreadable, and answers 451 (try again later) when the desk cannot record a
message right now, so the sending server keeps it and retries.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from application.mail.intake import Action, MailIntake
from application.mail.message import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


class IntakeHandler:
    """aiosmtpd handler: RCPT checks the address, DATA runs the intake in a worker thread."""

    def __init__(self, intake: MailIntake) -> None:
        self.intake = intake

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.intake.accepts_recipient(address):
            return "550 5.1.1 Not an address of the support desk"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            # The desk's calls block (database); keep them off the event loop.
            outcome = await loop.run_in_executor(
                None, self.intake.receive, raw, list(envelope.rcpt_tos)
            )
        except Exception:
            log.exception("smtpd: message from %s not recorded", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please try again later"
        if outcome.action is Action.REFUSED:
            return f"554 5.6.0 {_one_line(outcome.detail)}"
        log.info("smtpd: %s %s", outcome.action.value, outcome.reference or "")
        return f"250 2.0.0 {outcome.action.value} {outcome.reference or ''}".rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())[:200]


class ListeningController(Controller):
    """An aiosmtpd controller on which port 0 picks a free port (read `port` after `start`)."""

    def _trigger_server(self) -> Any:
        # With port 0 the system chose the port: learn it before the readiness probe uses it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        return super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd is untyped


def mail_listener(intake: MailIntake, host: str = "127.0.0.1", port: int = 2525) -> Controller:
    """The desk's SMTP listener; `start()` it, and `stop()` it when done."""
    return ListeningController(
        IntakeHandler(intake),
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
        decode_data=False,
    )
