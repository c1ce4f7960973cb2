"""The background workers and the operational gauges, assembled from a built container.

They live here, not in the composition root, because the relay and the mailer need the broker
(kombu) and SMTP adapters of `interfaces/mail/`.
"""

from __future__ import annotations

from application.bootstrap import Container
from application.mail.outbox import OutboxRelay
from application.runtime.health import Gauges, follower_gauges
from application.runtime.workers import Worker
from application.sla_watch import SlaWatcher
from interfaces.mail.broker import MailBroker
from interfaces.mail.wiring import mailer, outbox_relay
from projections.audit import SealKeeper
from projections.quarantine import quarantined
from projections.queue import owned_at_risk
from projections.runner import build_runners, positions
from projections.sla import overdue_candidates


def workers(
    container: Container, include_mailer: bool = False, relay_start: int | str | None = None
) -> dict[str, Worker]:
    """Every background worker by name; the mailer only where it runs in this process."""
    built: dict[str, Worker] = dict(build_runners(container))
    built["relay"] = relay(container, start=relay_start)
    built["sla-watch"] = sla_watcher(container)
    built["audit-seals"] = SealKeeper(
        container.desk,
        container.audit_key,
        container.checkpoints,
        accesses=container.access_log.count,
    )
    if include_mailer:
        built["mailer"] = mailer(container)
    return built


def relay(
    container: Container, broker: MailBroker | None = None, start: int | str | None = None
) -> OutboxRelay:
    """The outbox relay, with the emails to tickets' owners: at the address the team's
    directory holds, sent within the business hours of the desk's calendar (P4)."""
    return outbox_relay(container, broker, start)


def sla_watcher(container: Container) -> SlaWatcher:
    """The SLA watcher: escalations of missed deadlines (P6.2), warnings to owners of deadlines
    at risk (P5), each looked for in its read model."""
    return SlaWatcher(
        container.desk,
        lambda now: overdue_candidates(container.engine, now),
        at_risk=lambda now: owned_at_risk(container.engine, now),
    )


def gauges(container: Container) -> Gauges:
    """Projection lag and events set aside, relay backlog and mail failures, for `/metrics`."""
    head = container.desk.recorder.max_notification_id() or 0
    return follower_gauges(container.engine, head, positions(container), quarantined(container))
