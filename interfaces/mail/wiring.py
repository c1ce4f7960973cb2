"""Builds the mail pieces from a container: for the CLI, the workers and the web app."""

from __future__ import annotations

from application.bootstrap import Container
from application.mail.intake import MailIntake
from application.mail.mailer import Mailer
from application.mail.notifications import Addresses
from application.mail.outbox import OutboxRelay
from application.settings import Settings
from application.sla_watch import Candidates, SlaWatcher
from interfaces.mail.broker import DEFAULT_QUEUE, MailBroker
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import sender_from_url


def addresses(settings: Settings) -> Addresses:
    """The desk's own addresses, from the settings."""
    return Addresses(
        support=settings.support_address,
        management=settings.management_address,
        suggestions=settings.suggestions_address,
    )


def mail_broker(settings: Settings, queue: str = DEFAULT_QUEUE) -> MailBroker:
    """The mail queue on `SUPPORTDESK_BROKER_URL`."""
    return MailBroker(settings.broker_url, queue)


def outbox_relay(container: Container, broker: MailBroker | None = None) -> OutboxRelay:
    """`supportdesk worker --only relay`: events to broker messages."""
    return OutboxRelay(
        container.desk,
        container.engine,
        broker or mail_broker(container.settings),
        addresses(container.settings),
    )


def mailer(container: Container, broker: MailBroker | None = None) -> Mailer:
    """`supportdesk mailer`: broker messages to sent emails."""
    settings = container.settings
    return Mailer(
        container.desk,
        container.engine,
        broker or mail_broker(settings),
        MailRenderer(addresses(settings), settings.timezone),
        sender_from_url(settings.smtp_url),
    )


def mail_intake(container: Container) -> MailIntake:
    """The inbound mail service behind the listener, the HTTP door and `ingest`."""
    return MailIntake(container.desk, container.engine, addresses(container.settings))


def sla_watcher(container: Container, candidates: Candidates) -> SlaWatcher:
    """`supportdesk worker --only sla-watch`."""
    return SlaWatcher(container.desk, candidates)
