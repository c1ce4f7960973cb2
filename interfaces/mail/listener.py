"""`supportdesk smtpd`: an SMTP listener that hands inbound mail to the intake (P1.1, P6).

It accepts mail only from the mail servers in SUPPORTDESK_SMTPD_ALLOWED_CLIENTS (addresses or
networks; the desk believes their Authentication-Results, so nobody else may deliver) and only
for the desk's own addresses (it is no relay), refuses messages that are too large or
unreadable, and answers 451 (try again later) when the desk cannot record a message right
now, so the sending server keeps it and retries.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Sequence
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from application.mail.address import address_tag
from application.mail.intake import Action, MailIntake
from application.mail.message import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.1", "::1")


def client_networks(clients: Sequence[str]) -> tuple[Network, ...]:
    """The networks `SUPPORTDESK_SMTPD_ALLOWED_CLIENTS` names (an address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(client.strip(), strict=False) for client in clients)
    except ValueError as error:
        raise ValueError(f"SUPPORTDESK_SMTPD_ALLOWED_CLIENTS: {error}") from None


def _peer_address(peer: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The client's address from aiosmtpd's peer (host, port, …); None if it has none."""
    try:
        address = ipaddress.ip_address(str(peer[0]).partition("%")[0])
    except (TypeError, IndexError, ValueError):
        return None
    # A listener on "::" sees IPv4 clients as ::ffff:a.b.c.d.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


class IntakeHandler:
    """aiosmtpd handler: MAIL checks the client, RCPT the address, DATA runs the intake in a
    worker thread."""

    def __init__(self, intake: MailIntake, allowed: Sequence[Network]) -> None:
        self.intake = intake
        self.allowed = tuple(allowed)

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        # Refused here rather than at connect: the controller's own readiness probe connects.
        client = _peer_address(session.peer)
        if client is None or not any(client in network for network in self.allowed):
            log.warning("smtpd: refused mail from %s, not an allowed client", client)
            return "550 5.7.1 This client may not deliver mail here"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

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
                None, self.intake.receive, raw, list(envelope.rcpt_tos), envelope.mail_from
            )
        except Exception:
            log.exception(
                "smtpd: message from %s not recorded", address_tag(envelope.mail_from or "")
            )
            return "451 4.3.0 Temporary failure, please try again later"
        if outcome.action is Action.REFUSED:
            return f"554 5.6.0 {_one_line(outcome.detail)}"
        log.info("smtpd: %s %s", outcome.action.value, outcome.reference or "")
        return f"250 2.0.0 {outcome.action.value} {outcome.reference or ''}".rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.encode("ascii", "replace").decode("ascii").split())[:200]


MAX_LINE_BYTES = 64 * 1024
"""RFC 5321 allows 1000 bytes a line, but real senders write longer ones (HTML and JSON on one
line): refusing those would bounce a person's request; the message's size is bounded anyway."""


class _LenientSMTP(SMTP):
    line_length_limit = MAX_LINE_BYTES


class ListeningController(Controller):
    """An aiosmtpd controller on which port 0 picks a free port (read `port` after `start`)."""

    def factory(self) -> SMTP:
        return _LenientSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> Any:
        # With port 0 the system chose the port: learn it before the readiness probe uses it.
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        return super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd is untyped


def mail_listener(
    intake: MailIntake,
    host: str = "127.0.0.1",
    port: int = 2525,
    allowed_clients: Sequence[str] = LOOPBACK,
) -> Controller:
    """The desk's SMTP listener, taking mail from `allowed_clients` (addresses or networks);
    `start()` it, and `stop()` it when done."""
    return ListeningController(
        IntakeHandler(intake, client_networks(allowed_clients)),
        hostname=host,
        port=port,
        data_size_limit=MAX_MESSAGE_BYTES,
        enable_SMTPUTF8=True,
        decode_data=False,
    )
