"""Signing in to the desk console: passwords, an optional second factor, sessions (P7).

Passwords are hashed with Argon2id (argon2-cffi), never stored nor logged. A session is a
random token in the browser's cookie; the database keeps only its hash, with the user, a CSRF
token for the session's forms, and when it was last used: it ends after `idle` without a
request, on sign-out, and at the first request after the user's tokens were revoked.
Failed attempts are counted per account and per client in the database, so every web process
sees the same count: past the limits, sign-in is refused for a while whatever the password.
Every sign-in, refusal and sign-out is appended to the signed access log.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from application.audit.access import AccessLog
from application.storage.instants import aware
from application.users import Principal, Role, UserDirectory, UserError

metadata = sa.MetaData()
accounts_table = sa.Table(
    "desk_accounts",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("password_hash", sa.String(200)),
    sa.Column("totp_secret", sa.String(64)),
    sa.Column("totp_step", sa.BigInteger),  # the last one-time code's time step: used once
    sa.Column("language", sa.String(2)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
sessions_table = sa.Table(
    "desk_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
)
failures_table = sa.Table(
    "desk_signin_failures",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("account", sa.String(100), nullable=False, index=True),
    sa.Column("client", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a megabyte "password" is only a cost to us
FAILURE_WINDOW = timedelta(minutes=15)
ACCOUNT_FAILURES = 5
"""Failed attempts on one account within the window before it is refused for a while."""
CLIENT_FAILURES = 20
"""Failed attempts from one client, on any accounts, within the window."""
SESSION_LIFETIME = timedelta(hours=12)
"""However active, a session ends after a working day; signing in again is cheap."""
_TOUCH_EVERY = timedelta(minutes=1)  # how stale `last_seen_at` may be: fewer writes
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class SignInRefused(Exception):
    """Signing in failed; `retry_after` seconds when the limits were reached."""

    def __init__(self, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SecondFactorNeeded(SignInRefused):
    """The password was right; the account also needs its one-time code."""


@dataclass(frozen=True)
class DeskSession:
    """A signed-in user of the console."""

    token_hash: str
    name: str
    role: Role
    csrf: str
    language: str | None

    @property
    def principal(self) -> Principal:
        """The user, as the application's services take them."""
        return Principal(self.name, self.role)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SignIn:
    """Passwords, second factors and sessions of the desk console's users."""

    def __init__(
        self,
        engine: Engine,
        users: UserDirectory,
        access_log: AccessLog,
        clock: Callable[[], datetime],
        *,
        idle: timedelta,
        require_2fa: bool,
    ) -> None:
        self.engine = engine
        self.users = users
        self.access_log = access_log
        self.clock = clock
        self.idle = idle
        self.require_2fa = require_2fa

    # ---- accounts (the command line) -------------------------------------------------------

    def set_password(self, name: str, password: str) -> None:
        """Set NAME's password; the user must hold an active token (`users add`)."""
        self._require_active(name)
        if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
            raise UserError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
        if password.strip() != password or not password.isprintable():
            raise UserError("a password has no control characters nor leading or trailing spaces")
        self._upsert(name, password_hash=_HASHER.hash(password))
        self._end_sessions(name)  # a new password signs every browser out
        self.access_log.record(actor=name, role="desk", action="password_set")

    def enable_second_factor(self, name: str) -> str:
        """Give NAME a new TOTP secret; the provisioning URI for an authenticator app."""
        self._require_active(name)
        secret = pyotp.random_base32()
        self._upsert(name, totp_secret=secret, totp_step=None)
        self.access_log.record(actor=name, role="desk", action="second_factor_set")
        return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="Support Desk")

    def disable_second_factor(self, name: str) -> None:
        """Remove NAME's second factor (a lost phone)."""
        self._upsert(name, totp_secret=None, totp_step=None)
        self.access_log.record(actor=name, role="desk", action="second_factor_removed")

    # ---- signing in and out ---------------------------------------------------------------

    def sign_in(self, name: str, password: str, client: str, code: str | None = None) -> str:
        """A new session's token for NAME, or SignInRefused (the same words whatever failed)."""
        now = self.clock()
        name = name.strip()[:100]
        client = client[:64]
        wait = self._throttled(name, client, now)
        if wait is not None:
            self._refused(name, client, now, "throttled", count=False)
            raise SignInRefused("too many attempts", retry_after=wait)
        with self.engine.connect() as connection:
            account = connection.execute(
                sa.select(accounts_table).where(accounts_table.c.name == name)
            ).first()
        user = self.users.active(name)
        stored = account.password_hash if account is not None else None
        if not _verifies(stored or _DUMMY_HASH, password[:MAX_PASSWORD]) or stored is None:
            self._refused(name, client, now, "wrong password")
            raise SignInRefused("wrong name or password")
        if user is None:
            self._refused(name, client, now, "revoked user")
            raise SignInRefused("wrong name or password")
        secret = account.totp_secret if account is not None else None
        if secret is None and self.require_2fa and user.role is Role.SUPERVISOR:
            self._refused(name, client, now, "second factor not set up", count=False)
            raise SignInRefused("second factor required")
        step = None
        if secret is not None:
            if not code:
                raise SecondFactorNeeded("one-time code needed")
            step = _step_of(secret, code.strip(), now)
            if step is None:
                self._refused(name, client, now, "wrong one-time code")
                raise SecondFactorNeeded("wrong one-time code")
        token = secrets.token_urlsafe(32)
        with self.engine.begin() as connection:
            if step is not None and not _spend(connection, name, step):
                connection.rollback()
                self._refused(name, client, now, "one-time code used before")
                raise SecondFactorNeeded("wrong one-time code")
            connection.execute(
                sa.insert(sessions_table).values(
                    token_hash=_hash(token),
                    name=name,
                    csrf=secrets.token_urlsafe(32),
                    created_at=now,
                    last_seen_at=now,
                )
            )
            connection.execute(sa.delete(failures_table).where(failures_table.c.account == name))
            if stored is not None and _HASHER.check_needs_rehash(stored):
                connection.execute(
                    sa.update(accounts_table)
                    .where(accounts_table.c.name == name)
                    .values(password_hash=_HASHER.hash(password))
                )
        self.access_log.record(actor=name, role=user.role.value, action="signed_in", query=client)
        return token

    def session(self, token: str) -> DeskSession | None:
        """The session this cookie's token opens, if it is still alive; it is kept alive."""
        if not token or len(token) > 100:
            return None
        now = self.clock()
        key = _hash(token)
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(sessions_table, accounts_table.c.language)
                .join(accounts_table, accounts_table.c.name == sessions_table.c.name)
                .where(sessions_table.c.token_hash == key)
            ).first()
        if found is None:
            return None
        seen = aware(found.last_seen_at)
        user = self.users.active(found.name)
        if now - seen > self.idle or now - aware(found.created_at) > SESSION_LIFETIME or not user:
            self._delete(key)
            return None
        if now - seen > _TOUCH_EVERY:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.update(sessions_table)
                    .where(sessions_table.c.token_hash == key)
                    .values(last_seen_at=now)
                )
        return DeskSession(key, found.name, user.role, found.csrf, found.language)

    def sign_out(self, session: DeskSession) -> None:
        """End the session."""
        self._delete(session.token_hash)
        self.access_log.record(actor=session.name, role=session.role.value, action="signed_out")

    def set_language(self, name: str, language: str) -> None:
        """Keep the console's language for NAME."""
        if language not in ("ar", "en"):
            raise UserError("the language is ar or en")
        self._upsert(name, language=language)

    # ---- mechanics -----------------------------------------------------------------------

    def _require_active(self, name: str) -> None:
        if self.users.active(name) is None:
            raise UserError(f"{name} holds no active token; add the user first")

    def _upsert(self, name: str, **values: str | int | None) -> None:
        now = self.clock()
        with self.engine.begin() as connection:
            changed = connection.execute(
                sa.update(accounts_table)
                .where(accounts_table.c.name == name)
                .values(**values, updated_at=now)
            ).rowcount
            if not changed:
                connection.execute(
                    sa.insert(accounts_table).values(name=name, **values, updated_at=now)
                )

    def _end_sessions(self, name: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(sessions_table).where(sessions_table.c.name == name))

    def _delete(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(sa.delete(sessions_table).where(sessions_table.c.token_hash == key))

    def _throttled(self, name: str, client: str, now: datetime) -> int | None:
        """Seconds to wait when the account or the client failed too often lately; else None."""
        since = now - FAILURE_WINDOW
        table = failures_table
        waits = []
        with self.engine.connect() as connection:
            for column, value, limit in (
                (table.c.account, name, ACCOUNT_FAILURES),
                (table.c.client, client, CLIENT_FAILURES),
            ):
                recent = [
                    aware(at)
                    for at in connection.execute(
                        sa.select(table.c.at)
                        .where(column == value, table.c.at > since)
                        .order_by(table.c.at.desc())
                        .limit(limit)
                    ).scalars()
                ]
                if len(recent) >= limit:
                    waits.append(recent[-1] + FAILURE_WINDOW - now)
        if not waits:
            return None
        return max(1, int(max(waits).total_seconds()) + 1)

    def _refused(
        self, name: str, client: str, now: datetime, why: str, *, count: bool = True
    ) -> None:
        if count:
            with self.engine.begin() as connection:
                connection.execute(
                    sa.insert(failures_table).values(account=name, client=client, at=now)
                )
                # Old failures say nothing any more: keep the table small.
                connection.execute(
                    sa.delete(failures_table).where(failures_table.c.at < now - 2 * FAILURE_WINDOW)
                )
        self.access_log.record(actor=name, role="desk", action="sign_in_refused", query=why)


def _step_of(secret: str, code: str, now: datetime) -> int | None:
    """The time step whose code CODE is, within one step of now (clocks drift); else None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _spend(connection: sa.Connection, name: str, step: int) -> bool:
    """Mark STEP's code as used, unless it or a later one was (a code seen on a shoulder or
    in a proxy's log cannot sign in a second time); whether it was still unused."""
    column = accounts_table.c.totp_step
    spent = connection.execute(
        sa.update(accounts_table)
        .where(accounts_table.c.name == name, sa.or_(column.is_(None), column < step))
        .values(totp_step=step)
    )
    return bool(spent.rowcount)


def _verifies(stored: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False
