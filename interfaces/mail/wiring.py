"""Builds the mail adapters from a container: the relay and the mailer, with kombu and SMTP."""

from __future__ import annotations

from application.bootstrap import Container
from application.mail.mailer import Mailer
from application.mail.notifications import OwnerMail
from application.mail.outbox import OutboxRelay
from application.settings import Settings
from interfaces.mail.broker import DEFAULT_QUEUE, MailBroker
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import sender_from_url


def mail_broker(settings: Settings, queue: str = DEFAULT_QUEUE) -> MailBroker:
    """The mail queue on `SUPPORTDESK_BROKER_URL`."""
    return MailBroker(settings.broker_url, queue)


def outbox_relay(
    container: Container, broker: MailBroker | None = None, start: int | str | None = None
) -> OutboxRelay:
    """`supportdesk worker --only relay`: events to broker messages, with the emails to
    tickets' owners at the team directory's addresses, within business hours (P4). `start`
    is where a relay without a stored position begins (`now`, or a log position)."""
    return OutboxRelay(
        container.desk,
        container.engine,
        broker or mail_broker(container.settings),
        container.addresses,
        owners=OwnerMail(container.users, container.calendar),
        start=start,
        file_links=lambda reference, sha256: file_link(container, reference, sha256),
        link_lifetime=container.downloads.lifetime,
    )


def file_link(container: Container, reference: str, sha256: str) -> str:
    """The address of a file of the requester's ticket, signed for whoever holds their email."""
    token = container.downloads.link(reference, sha256)
    return f"{container.settings.public_url}/support/files/{token}"


def mailer(container: Container, broker: MailBroker | None = None) -> Mailer:
    """`supportdesk mailer`: broker messages to sent emails."""
    settings = container.settings
    own = container.addresses
    return Mailer(
        container.desk,
        container.engine,
        broker or mail_broker(settings),
        MailRenderer(own, settings.timezone),
        sender_from_url(settings.smtp_url),
        per_recipient_hourly=settings.mail_per_recipient_hourly,
        own_addresses=(own.support, own.management, own.suggestions),
    )
