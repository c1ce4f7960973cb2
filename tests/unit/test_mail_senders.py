"""Choosing where mail goes from SUPPORTDESK_SMTP_URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from interfaces.mail.senders import FileSender, SmtpSender, sender_from_url


def test_smtp_url_with_starttls_and_credentials() -> None:
    sender = sender_from_url("smtp://desk%40mail:p%40ss@mail.example.org:587?starttls=1&timeout=5")
    assert isinstance(sender, SmtpSender)
    assert (sender.host, sender.port, sender.starttls, sender.implicit_tls) == (
        "mail.example.org",
        587,
        True,
        False,
    )
    assert (sender.username, sender.password, sender.timeout) == ("desk@mail", "p@ss", 5.0)


def test_smtps_url_means_tls_from_the_first_byte() -> None:
    sender = sender_from_url("smtps://mail.example.org")
    assert isinstance(sender, SmtpSender)
    assert (sender.port, sender.implicit_tls) == (465, True)


def test_file_url_writes_eml_files() -> None:
    sender = sender_from_url("file:var/outbox")
    assert isinstance(sender, FileSender) and sender.directory == Path("var/outbox")


def test_anything_else_is_refused() -> None:
    with pytest.raises(ValueError):
        sender_from_url("http://mail.example.org")
