"""The composition root: builds the desk from settings for the web, the CLI, workers, tests.

Everything the entry points use is built here once, as a field of `Container`; a blueprint,
a CLI command or a worker asks the container and never builds a service itself. Adapters that
talk to the outside (the broker, SMTP, HTTP) are assembled in `interfaces/` from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from eventsourcing.utils import get_topic
from sqlalchemy.engine import Engine

from application.attachments.blobs import FileBlobs, TableBlobs
from application.attachments.store import AttachmentStore
from application.audit.access import AccessLog
from application.audit.checkpoints import DEFAULT_FILE as CHECKPOINTS_FILE
from application.audit.checkpoints import CheckpointFile
from application.audit.history import Audit
from application.audit.seals import AuditKey, load_audit_key
from application.desk import Clock, SupportDesk, utc_now
from application.downloads import Downloads
from application.mail.intake import MailIntake
from application.mail.notifications import Addresses
from application.mail.outbox import begin_on_an_empty_log
from application.privacy.keys import KeyStore, Vault
from application.schema import create_schema
from application.settings import Settings, parse_weekly_hours
from application.signin import SignIn
from application.storage.event_log import EventLogFactory
from application.storage.idempotency import IdempotencyStore
from application.storage.secrets import persisted_secret
from application.users import UserDirectory
from application.workspace import Workspace
from domain.calendar import BusinessCalendar
from domain.sla import SlaPolicy


@dataclass
class Container:
    """The built pieces, shared by every entry point."""

    settings: Settings
    calendar: BusinessCalendar
    sla: SlaPolicy
    desk: SupportDesk
    engine: Engine
    """The event store's database, which also holds the read models and the other tables."""
    keys: KeyStore
    """The requesters' keys and the erasure log (application/privacy/keys.py)."""
    users: UserDirectory
    addresses: Addresses
    intake: MailIntake
    idempotency: IdempotencyStore
    audit_key: AuditKey
    checkpoints: CheckpointFile
    """Signed (position, digest) lines kept outside the database (see application/audit/)."""
    audit: Audit
    access_log: AccessLog
    workspace: Workspace
    """Ownership, internal notes and canned responses, by role (application/workspace.py)."""
    signin: SignIn
    """Passwords, second factors and sessions of the desk console."""
    downloads: Downloads
    """The tickets' files as they may be read back: by role, or by a signed link."""

    def announce(self, role: str) -> None:
        """Give this long-running process's signs of life, saying what it does, where several
        processes share the database (PostgreSQL); `supportdesk topology check` lists them."""
        if self.idempotency.heartbeat is not None:
            self.idempotency.heartbeat.start(role)

    def close(self) -> None:
        """Release connections."""
        self.idempotency.close()
        self.desk.close()
        self.keys.close()


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


def zero_what_is_freed(engine: Engine) -> None:
    """SQLite overwrites what it deletes, so an erased requester's rows leave nothing in the
    file's free pages (P7.3)."""

    @sa.event.listens_for(engine, "connect")
    def _secure_delete(connection: Any, _record: Any) -> None:
        connection.execute("PRAGMA secure_delete=ON")

    engine.dispose()  # connections opened before are opened again, with it


def keystore_engine(settings: Settings) -> Engine:
    """The key store's database (on SQLite, a file of its own, waiting its turn to write)."""
    url = settings.keystore
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA secure_delete=ON")  # a destroyed key leaves no trace

        return engine
    engine = sa.create_engine(url, pool_pre_ping=True)
    engine.hide_parameters = True
    return engine


def addresses(settings: Settings) -> Addresses:
    """The desk's own addresses, from the settings."""
    return Addresses(
        support=settings.support_address,
        management=settings.management_address,
        suggestions=settings.suggestions_address,
    )


ATTACHMENTS_FOLDER = "attachments"


def attachment_store(settings: Settings, engine: Engine) -> AttachmentStore:
    """The files of tickets: beside the embedded database, or in the production one."""
    if engine.dialect.name == "sqlite":
        return AttachmentStore(FileBlobs(Path(settings.data_dir) / ATTACHMENTS_FOLDER))
    return AttachmentStore(TableBlobs(engine))


def site_secret(settings: Settings) -> str:
    """The key that signs what the desk hands out (forms' tokens, file links): the configured
    one, or one made once and kept under the data folder."""
    return settings.secret_key or persisted_secret(Path(settings.data_dir) / "secret_key")


def bootstrap(settings: Settings | None = None, clock: Clock = utc_now) -> Container:
    """Build everything from settings (by default, from the environment)."""
    settings = settings or Settings.from_env()
    prepare_data_dir(settings)
    calendar = build_calendar(settings)
    sla = SlaPolicy(calendar)
    keys = KeyStore(keystore_engine(settings))
    desk = SupportDesk(sla=sla, clock=clock, env=persistence_env(settings), vault=Vault(keys))
    datastore = desk.recorder.datastore  # type: ignore[attr-defined]
    # Switch SQLite to WAL now, alone: done lazily it races the first concurrent writers.
    datastore.init_sqlite_wal_mode()
    engine = cast(Engine, datastore.engine)
    engine.hide_parameters = True  # SQL errors in logs must not carry requesters' data (P7.3)
    if engine.dialect.name == "sqlite":
        zero_what_is_freed(engine)
    create_schema(engine)
    desk.attachments = attachment_store(settings, engine)
    begin_on_an_empty_log(engine, desk.recorder.max_notification_id() or 0)
    own_addresses = addresses(settings)
    audit_key = load_audit_key(settings.audit_key, settings.data_dir)
    access_log = AccessLog(engine, clock, audit_key)
    users = UserDirectory(engine)
    checkpoints = CheckpointFile(
        settings.audit_checkpoints or Path(settings.data_dir) / CHECKPOINTS_FILE
    )
    return Container(
        settings=settings,
        calendar=calendar,
        sla=sla,
        desk=desk,
        engine=engine,
        keys=keys,
        users=users,
        addresses=own_addresses,
        intake=MailIntake(desk, engine, own_addresses, settings.mail_trusted_authserv),
        idempotency=IdempotencyStore(engine),
        audit_key=audit_key,
        checkpoints=checkpoints,
        audit=Audit(
            desk,
            sla,
            calendar.timezone,
            audit_key,
            checkpoints,
            access_log,
            key_configured=bool(settings.audit_key),
        ),
        access_log=access_log,
        workspace=Workspace(desk, users, calendar.timezone),
        signin=SignIn(
            engine,
            users,
            access_log,
            clock,
            idle=timedelta(minutes=settings.session_idle_minutes),
            require_2fa=settings.require_2fa,
        ),
        downloads=Downloads(
            desk,
            keys.key,
            site_secret(settings),
            clock,
            lifetime=timedelta(days=settings.file_link_days),
        ),
    )
