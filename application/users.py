"""Who may act: named users with one role each, holding bearer tokens stored only as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.storage.event_log import autocommit

_TOKEN_PREFIX = "sd"


class Role(StrEnum):
    """What a user may do (DESIGN §6)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ANALYST = "analyst"
    INTAKE = "intake"  # a mail server piping inbound messages
    PRIVACY = "privacy"  # the data-protection officer: learners' copies of their data


class UserError(ValueError):
    """A user command cannot be carried out."""


@dataclass(frozen=True)
class Principal:
    """The authenticated user behind a request."""

    name: str
    role: Role


@dataclass(frozen=True)
class UserRecord:
    """A user as operators see it: never the token."""

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    email: str | None = None


metadata = sa.MetaData()
users_table = sa.Table(
    "supportdesk_users",
    metadata,
    sa.Column("token_id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    # Where the desk tells the user of their tickets; set on every token row of the user.
    sa.Column("email", sa.String(254), nullable=True),
)
sa.Index("supportdesk_users_name", users_table.c.name)


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class UserDirectory:
    """Issues, checks and revokes tokens; a token is `sd_<id>_<secret>`, shown once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, role: Role, email: str | None = None) -> str:
        """Create a user (or a further token for one) and return its token, never stored."""
        name = name.strip()
        if not name or len(name) > 100 or any(c.isspace() for c in name):
            raise UserError("a user name is 1 to 100 characters without spaces")
        if ":" in name or name == "requester":
            raise UserError("that name is reserved for the system's own actors")
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            active = connection.execute(
                sa.select(users_table.c.role).where(
                    users_table.c.name == name, users_table.c.revoked_at.is_(None)
                )
            ).first()
            if active is not None and active.role != role.value:
                raise UserError(f"{name} already holds the role {active.role}")
            if email is None:
                email = connection.execute(
                    sa.select(sa.func.max(users_table.c.email)).where(users_table.c.name == name)
                ).scalar()
            connection.execute(
                users_table.insert().values(
                    token_id=token_id,
                    name=name,
                    role=role.value,
                    token_hash=_digest(secret),
                    created_at=datetime.now(UTC),
                    email=_checked_email(email),
                )
            )
        return f"{_TOKEN_PREFIX}_{token_id}_{secret}"

    def authenticate(self, token: str) -> Principal | None:
        """The user holding this token, or None for a missing, wrong or revoked one."""
        prefix, _, rest = token.partition("_")
        token_id, _, secret = rest.partition("_")
        if prefix != _TOKEN_PREFIX or len(token_id) != 16 or not secret:
            return None
        # Every protected request starts here: one round trip, not BEGIN, SELECT and ROLLBACK.
        with autocommit(self.engine) as connection:
            row = connection.execute(
                sa.select(users_table).where(users_table.c.token_id == token_id)
            ).first()
        expected = row.token_hash if row is not None else _digest("")
        matches = hmac.compare_digest(expected, _digest(secret))  # constant time
        if row is None or not matches or row.revoked_at is not None:
            return None
        return Principal(name=row.name, role=Role(row.role))

    def revoke(self, name: str) -> int:
        """Revoke every token of a user; returns how many were active."""
        with self.engine.begin() as connection:
            result = connection.execute(
                users_table.update()
                .where(users_table.c.name == name, users_table.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        return int(result.rowcount)

    def set_email(self, name: str, email: str | None) -> int:
        """Set (or with None, clear) where the user is told of their tickets; how many of the
        user's tokens it applies to."""
        address = _checked_email(email)
        with self.engine.begin() as connection:
            result = connection.execute(
                users_table.update().where(users_table.c.name == name).values(email=address)
            )
        return int(result.rowcount)

    def active(self, name: str) -> UserRecord | None:
        """The user of this name while they hold a token that is not revoked; else None."""
        with autocommit(self.engine) as connection:
            row = connection.execute(
                sa.select(users_table)
                .where(users_table.c.name == name, users_table.c.revoked_at.is_(None))
                .order_by(users_table.c.created_at.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return UserRecord(row.name, Role(row.role), row.created_at, None, row.email)

    def team(self) -> list[UserRecord]:
        """The active agents and supervisors, by name: who may own a ticket."""
        handlers = (Role.AGENT.value, Role.SUPERVISOR.value)
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(users_table.c.name, users_table.c.role, sa.func.max(users_table.c.email))
                .where(users_table.c.revoked_at.is_(None), users_table.c.role.in_(handlers))
                .group_by(users_table.c.name, users_table.c.role)
                .order_by(users_table.c.name)
            ).all()
        return [UserRecord(r[0], Role(r[1]), datetime.min, None, r[2]) for r in rows]

    def list(self) -> list[UserRecord]:
        """Every token ever issued, oldest first, without secrets."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(users_table).order_by(users_table.c.created_at)
            ).all()
        return [
            UserRecord(
                name=r.name,
                role=Role(r.role),
                created_at=r.created_at,
                revoked_at=r.revoked_at,
                email=r.email,
            )
            for r in rows
        ]


def _checked_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    address = email.strip()
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not local
        or "." not in domain
        or len(address) > 254
        or any(c.isspace() or c in '<>,;"' for c in address)
    ):
        raise UserError(f"{address!r} is not an email address")
    return address
