"""The background workers and the operational gauges, assembled from a built container.

They live here, not in the composition root, because the relay and the mailer need the broker
(kombu) and SMTP adapters of `interfaces/mail/`.
"""

from __future__ import annotations

from application.bootstrap import Container
from application.runtime.health import Gauges, follower_gauges
from application.runtime.workers import Worker
from application.sla_watch import SlaWatcher
from interfaces.mail.wiring import mailer, outbox_relay
from projections.audit import SealKeeper
from projections.quarantine import quarantined
from projections.runner import build_runners, positions
from projections.sla import overdue_candidates


def workers(container: Container, include_mailer: bool = False) -> dict[str, Worker]:
    """Every background worker by name; the mailer only where it runs in this process."""
    built: dict[str, Worker] = dict(build_runners(container))
    built["relay"] = outbox_relay(container)
    built["sla-watch"] = SlaWatcher(
        container.desk, lambda now: overdue_candidates(container.engine, now)
    )
    built["audit-seals"] = SealKeeper(
        container.desk,
        container.audit_key,
        container.checkpoints,
        accesses=container.access_log.count,
    )
    if include_mailer:
        built["mailer"] = mailer(container)
    return built


def gauges(container: Container) -> Gauges:
    """Projection lag and events set aside, relay backlog and mail failures, for `/metrics`."""
    head = container.desk.recorder.max_notification_id() or 0
    return follower_gauges(container.engine, head, positions(container), quarantined(container))
