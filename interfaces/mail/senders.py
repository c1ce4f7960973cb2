"""Where sent email goes: an SMTP server, or `.eml` files in the embedded shape.

`SUPPORTDESK_SMTP_URL` chooses: `smtp://[user:password@]host[:port][?starttls=1&timeout=30]`,
`smtps://…` for TLS from the first byte (port 465), or `file:DIRECTORY`.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from application.mail.mailer import PermanentFailure, Sender, TransientFailure

_TRUE = ("1", "true", "yes", "on")


class SmtpSender:
    """Sends through an SMTP server, one connection per email."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        implicit_tls: bool = False,
        starttls: bool = False,
        timeout: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.implicit_tls = implicit_tls
        self.starttls = starttls
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
        """Hand the email to the server; 5xx refusals are permanent, the rest is retried."""
        try:
            with self._connect() as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            # Keyed by address: only the answers are told, so logs never carry the address.
            answers = list(error.recipients.values())
            detail = "; ".join(f"{code} {text!r}" for code, text in answers)
            if all(code >= 500 for code, _ in answers):
                raise PermanentFailure(f"recipient refused: {detail}") from error
            raise TransientFailure(f"recipient refused for now: {detail}") from error
        except smtplib.SMTPResponseException as error:
            detail = f"{error.smtp_code} {error.smtp_error!r}"
            if error.smtp_code >= 500 and not isinstance(error, smtplib.SMTPAuthenticationError):
                raise PermanentFailure(detail) from error
            raise TransientFailure(detail) from error
        except (smtplib.SMTPException, OSError) as error:
            raise TransientFailure(f"{type(error).__name__}: {error}") from error

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


class FileSender:
    """Writes each email as an `.eml` file named by its Message-ID (the embedded shape)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def send(self, message: EmailMessage) -> None:
        """Write the email; a rewrite of the same email replaces its file atomically."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = _file_name(str(message["Message-ID"]))
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as file:
                file.write(message.as_bytes())
            os.replace(temporary, self.directory / name)
        except OSError as error:
            raise TransientFailure(f"cannot write to {self.directory}: {error}") from error


def _file_name(message_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-._@" else "_" for c in message_id.strip("<>"))
    return f"{safe[:200]}.eml"


def sender_from_url(url: str) -> Sender:
    """The sender `SUPPORTDESK_SMTP_URL` names."""
    if url.startswith("file:"):
        return FileSender(Path(url.removeprefix("file:").removeprefix("//")))
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"SMTP URL must be smtp://host:port, smtps://… or file:DIR, not {url!r}")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    implicit_tls = parts.scheme == "smtps" or options.get("ssl", "").lower() in _TRUE
    return SmtpSender(
        parts.hostname,
        parts.port or (465 if implicit_tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        implicit_tls=implicit_tls,
        starttls=options.get("starttls", "").lower() in _TRUE,
        timeout=float(options.get("timeout", 30)),
    )
