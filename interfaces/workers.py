"""The background workers and the operational gauges, assembled from a built container.

They live here, not in the composition root, because the relay and the mailer need the broker
(kombu) and SMTP adapters of `interfaces/mail/`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from application.bootstrap import Container
from application.mail.outbox import OutboxRelay
from application.privacy.retention import Retention
from application.runtime.health import Gauges, follower_gauges
from application.runtime.leadership import Led
from application.runtime.workers import Worker
from application.settings import Settings
from application.sla_watch import SlaWatcher
from application.storage.leases import Lease
from interfaces.mail.broker import MailBroker
from interfaces.mail.wiring import mailer, outbox_relay
from interfaces.privacy import eraser
from projections.audit import SealKeeper
from projections.quarantine import quarantined
from projections.queue import owned_at_risk
from projections.retention import requesters_resolved_before
from projections.runner import READ_MODELS, build_runners, positions
from projections.sla import overdue_candidates

SINGLE_WRITERS = ("relay", "sla-watch", "audit-seals")
"""The workers of which one replica works at a time (on PostgreSQL, by a lease)."""
RETENTION = "retention"
"""The single writer that erases requesters past the retention period, when one is set."""


def single_writers(settings: Settings) -> tuple[str, ...]:
    """The single writers this configuration runs."""
    return (*SINGLE_WRITERS, *((RETENTION,) if settings.retention_days > 0 else ()))


def worker_names(include_mailer: bool = False) -> tuple[str, ...]:
    """The names of the background workers, as `--only` takes them."""
    return (*READ_MODELS, *SINGLE_WRITERS, RETENTION, *(("mailer",) if include_mailer else ()))


def workers(
    container: Container,
    include_mailer: bool = False,
    relay_start: int | str | None = None,
    only: Collection[str] = (),
) -> dict[str, Worker]:
    """The background workers by name (those named in `only`, or all); the mailer only where it
    runs in this process. Only those chosen are built: building one may write its first rows."""
    chosen = set(only or worker_names(include_mailer))
    built: dict[str, Worker] = {
        name: runner for name, runner in build_runners(container).items() if name in chosen
    }
    makers: dict[str, Callable[[], Worker]] = {
        "relay": lambda: relay(container, start=relay_start),
        "sla-watch": lambda: sla_watcher(container),
        "audit-seals": lambda: SealKeeper(
            container.desk,
            container.audit_key,
            container.checkpoints,
            accesses=container.access_log.count,
        ),
    }
    if container.settings.retention_days > 0:
        makers[RETENTION] = lambda: retention(container)
    # On PostgreSQL any number of machines run them: one replica of each leads.
    shared = container.settings.uses_postgres
    for name, make in makers.items():
        if name in chosen:
            worker = make()
            built[name] = Led(worker, Lease(container.engine, name)) if shared else worker
    if include_mailer and "mailer" in chosen:
        built["mailer"] = mailer(container)
    return built


def retention(container: Container) -> Retention:
    """The retention period's worker: hourly, it erases the requesters past it."""
    return Retention(
        eraser(container),
        lambda before: requesters_resolved_before(container.engine, before),
        container.settings.retention_days,
        container.desk.clock,
    )


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
