"""The composition root: builds the desk from settings for the web, the CLI, workers, tests."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

from eventsourcing.utils import get_topic
from sqlalchemy.engine import Engine

from application.audit.seals import load_audit_key
from application.desk import Clock, SupportDesk, utc_now
from application.runtime.health import follower_gauges
from application.runtime.workers import Worker
from application.settings import Settings, parse_weekly_hours
from application.storage.event_log import EventLogFactory
from application.users import UserDirectory
from domain.calendar import BusinessCalendar
from domain.sla import SlaPolicy


@dataclass
class Container:
    """The built pieces, shared by every entry point."""

    settings: Settings
    calendar: BusinessCalendar
    sla: SlaPolicy
    desk: SupportDesk
    users: UserDirectory

    @property
    def engine(self) -> Engine:
        """The event store's database, which also holds the read models and the users."""
        engine = self.desk.recorder.datastore.engine  # type: ignore[attr-defined]
        assert engine is not None
        return cast(Engine, engine)

    def workers(self, include_mailer: bool = False) -> dict[str, Worker]:
        """Every background worker by name; the mailer only where it runs in this process."""
        from interfaces.mail.wiring import mailer, outbox_relay, sla_watcher
        from projections.audit import SealKeeper
        from projections.runner import build_runners
        from projections.sla import overdue_candidates

        built: dict[str, Worker] = dict(build_runners(self))
        built["relay"] = outbox_relay(self)
        built["sla-watch"] = sla_watcher(self, lambda now: overdue_candidates(self.engine, now))
        built["audit-seals"] = SealKeeper(
            self.desk, load_audit_key(os.environ, self.settings.data_dir)
        )
        if include_mailer:
            built["mailer"] = mailer(self)
        return built

    def gauges(self) -> dict[str, dict[str, float]]:
        """Projection lag, relay backlog and mail failures, for `/metrics`."""
        from projections.runner import positions

        head = self.desk.recorder.max_notification_id() or 0
        return follower_gauges(self.engine, head, positions(self))

    def close(self) -> None:
        """Release connections."""
        self.desk.close()


def build_calendar(settings: Settings) -> BusinessCalendar:
    """The business calendar the settings describe (P4)."""
    return BusinessCalendar(
        timezone=ZoneInfo(settings.timezone),
        weekly_hours=parse_weekly_hours(settings.business_hours),
        country=settings.holiday_country,
        added=dict(settings.holidays_added),
        removed=frozenset(settings.holidays_removed),
    )


def persistence_env(settings: Settings) -> dict[str, str]:
    """The `eventsourcing` environment: one code path for SQLite and PostgreSQL, through the
    library's SQLAlchemy persistence with the event log's faster recorder."""
    return {
        "PERSISTENCE_MODULE": get_topic(EventLogFactory),
        "SQLALCHEMY_URL": settings.database_url,
    }


def prepare_data_dir(settings: Settings) -> None:
    """Create the folder that holds the embedded database and the mail outbox."""
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    if settings.database_url.startswith("sqlite:///"):
        path = settings.database_url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def bootstrap(settings: Settings | None = None, clock: Clock = utc_now) -> Container:
    """Build everything from settings (by default, from the environment)."""
    settings = settings or Settings.from_env()
    prepare_data_dir(settings)
    calendar = build_calendar(settings)
    sla = SlaPolicy(calendar)
    desk = SupportDesk(sla=sla, clock=clock, env=persistence_env(settings))
    datastore = desk.recorder.datastore  # type: ignore[attr-defined]
    # Switch SQLite to WAL now, alone: done lazily it races the first concurrent writers.
    datastore.init_sqlite_wal_mode()
    engine = datastore.engine
    engine.hide_parameters = True  # SQL errors in logs must not carry requesters' data (P7.3)
    users = UserDirectory(engine)
    return Container(settings=settings, calendar=calendar, sla=sla, desk=desk, users=users)
