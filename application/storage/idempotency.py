"""Idempotency keys: a retried request gets the first answer, and nothing is recorded twice.

A key is claimed in its own transaction before the command runs, so two concurrent requests
with one key cannot both submit: the second finds the claim and is told to retry later. The
claim names its process: once that process has ended (killed with its request), a retry takes
the claim over at once.
The rows live in the event store's database, beside the events they guard. Each step is one
statement committed on its own (one round trip on PostgreSQL): a submission with a key cost
twice one without when every step was a transaction of three round trips.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from application.storage.event_log import autocommit
from application.storage.holders import Heartbeat, has_ended, this_process
from application.storage.instants import aware
from domain.reference import Reference

RETENTION = timedelta(hours=24)  # how long a key's first answer is kept and replayed
ABANDONED = timedelta(seconds=70)
"""A claim older than this was left by a crashed request: the web server stops any request
after 60 s. A claim whose process is known to have ended is taken over at once."""
PURGE_EVERY = timedelta(minutes=1)  # how often expired keys are deleted (a claim ignores them)

metadata = sa.MetaData()
keys_table = sa.Table(
    "supportdesk_idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(40), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),  # None while the request runs
    sa.Column("body", sa.Text, nullable=True),
    # Drawn with the claim and kept by whoever takes it over, so a retry after a crash
    # submits under the same reference: the event store then refuses a second ticket.
    sa.Column("reference", sa.String(20), nullable=True),
    # The process that holds the claim (`holders`); none in rows of earlier releases.
    sa.Column("holder", sa.String(200), nullable=True),
)


class KeyReused(Exception):
    """The key was used before for a different request."""


class KeyInFlight(Exception):
    """A request with this key is still running; a retry may succeed after `retry_after`
    seconds (1 when its process is known to run: it is about to answer)."""

    def __init__(self, key: str, retry_after: int) -> None:
        super().__init__(key)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Claim:
    """A key held by this request, and the reference its submission must use."""

    reference: str


@dataclass(frozen=True)
class StoredAnswer:
    """The first answer given for a key."""

    status_code: int
    body: dict[str, Any]


def caller_scope(door: str, caller: str) -> str:
    """The scope of one caller's keys at one door (`api`, `form`): callers' keys never meet.

    The caller (a client's address, a browser's nonce) is kept as a digest, which fits the
    scope column whatever its length and stores no address.
    """
    return f"{door}:{hashlib.sha256(caller.encode('utf-8')).hexdigest()[:32]}"


def fingerprint(request: Any) -> str:
    """A stable digest of a request's meaning (its validated fields, in any order)."""
    canonical = json.dumps(request, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class IdempotencyStore:
    """Claims keys, keeps their first answers, and forgets them after `RETENTION`."""

    def __init__(self, engine: Engine, now: Any = None) -> None:
        self.engine = engine
        self._now = now or (lambda: datetime.now(UTC))
        self._purged: datetime | None = None
        # Several machines share only PostgreSQL: there, processes give signs of life.
        shared = engine.dialect.name == "postgresql"
        self.heartbeat = Heartbeat(engine, self._now) if shared else None

    def close(self) -> None:
        """Stop this process's signs of life."""
        if self.heartbeat is not None:
            self.heartbeat.stop()

    def claim(self, scope: str, key: str, digest: str) -> StoredAnswer | Claim:
        """Claim `key` for a request with this digest; a stored answer means: replay it.

        Raises KeyReused when the key belongs to a different request, KeyInFlight while the
        first request with it is still running.
        """
        now = self._now()
        self._purge(now)
        if self.heartbeat is not None:
            self.heartbeat.start()
        reference = str(Reference.generate())
        row = self._insert_or_find(scope, key, digest, now, reference)
        if row is None:
            return Claim(reference)
        claimed_at = aware(row.claimed_at)
        if claimed_at < now - RETENTION:  # expired, not yet purged: forgotten
            running = False
        else:
            if row.fingerprint != digest:
                raise KeyReused(key)
            if row.status_code is not None:
                return StoredAnswer(row.status_code, json.loads(row.body))
            ended = self._has_ended(row.holder) if row.holder else None
            if not ended and claimed_at > now - ABANDONED:
                wait = 1 if ended is False else (claimed_at + ABANDONED - now).total_seconds()
                raise KeyInFlight(key, max(1, math.ceil(wait)))
            running = True
        # A crashed request may have recorded its ticket: its reference goes on.
        kept = row.reference if running and row.reference else reference
        if self._take_over(scope, key, row.claimed_at, now, digest, running, kept):
            return Claim(kept)
        return self.claim(scope, key, digest)  # another retry took it over first

    def _has_ended(self, holder: str) -> bool | None:
        """Whether the claim's process has ended: seen on this host, else by its signs of
        life; None when neither can tell."""
        here = has_ended(holder)
        if here is not None or self.heartbeat is None:
            return here
        alive = self.heartbeat.alive(holder)
        return None if alive is None else not alive

    def complete(self, scope: str, key: str, status_code: int, body: dict[str, Any]) -> None:
        """Keep the answer given for a claimed key."""
        with autocommit(self.engine) as connection:
            connection.execute(
                keys_table.update()
                .where(keys_table.c.scope == scope, keys_table.c.key == key)
                .values(status_code=status_code, body=json.dumps(body, ensure_ascii=False))
            )

    def release(self, scope: str, key: str) -> None:
        """Give a claim back after a failure: the next retry takes it over at once.

        The row and its reference stay: the failure may have come after the ticket was
        committed (a connection lost during COMMIT), and the retry must not record another.
        """
        abandoned = self._now() - ABANDONED - timedelta(seconds=1)
        with autocommit(self.engine) as connection:
            connection.execute(
                keys_table.update()
                .where(
                    keys_table.c.scope == scope,
                    keys_table.c.key == key,
                    keys_table.c.status_code.is_(None),
                )
                .values(claimed_at=abandoned)
            )

    def _purge(self, now: datetime) -> None:
        # Storage only: a claim already treats an expired key as free.
        if self._purged is not None and now - self._purged < PURGE_EVERY:
            return
        self._purged = now
        with autocommit(self.engine) as connection:
            connection.execute(keys_table.delete().where(keys_table.c.claimed_at < now - RETENTION))

    def _insert_or_find(
        self, scope: str, key: str, digest: str, now: datetime, reference: str
    ) -> Any:
        try:
            with autocommit(self.engine) as connection:
                connection.execute(
                    keys_table.insert().values(
                        scope=scope,
                        key=key,
                        fingerprint=digest,
                        claimed_at=now,
                        reference=reference,
                        holder=this_process(),
                    )
                )
            return None
        except IntegrityError:
            with autocommit(self.engine) as connection:
                return connection.execute(
                    sa.select(keys_table).where(
                        keys_table.c.scope == scope, keys_table.c.key == key
                    )
                ).first()

    def _take_over(
        self,
        scope: str,
        key: str,
        claimed_at: datetime,
        now: datetime,
        digest: str,
        running: bool,
        reference: str,
    ) -> bool:
        # Only one of several retries may take over an abandoned (`running`) or expired claim:
        # the one whose update still sees the old claim instant.
        conditions = [keys_table.c.status_code.is_(None)] if running else []
        with autocommit(self.engine) as connection:
            result = connection.execute(
                keys_table.update()
                .where(
                    keys_table.c.scope == scope,
                    keys_table.c.key == key,
                    keys_table.c.claimed_at == claimed_at,
                    *conditions,
                )
                .values(
                    claimed_at=now,
                    fingerprint=digest,
                    status_code=None,
                    body=None,
                    reference=reference,
                    holder=this_process(),
                )
            )
        return bool(result.rowcount)
