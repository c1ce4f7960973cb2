"""The requesters' keys, kept apart from the record they open (P7.3; PDPL).

Each ticket's personal texts are sealed with AES-256-GCM under a random 256-bit key of its own
*subject* (a random id), before their event is hashed; the sealed form names the subject, so
it can be opened while the key lives and never after. Erasing a requester destroys the keys of
every ticket of theirs. A key per ticket, not per address, means a submission never looks a key
up: keys are made ahead, a batch per durable write, and handed out from memory; and a learner
who wrote from several addresses is erased whole.

The store is its own database: by default a file beside the embedded database, or tables of
the production database; `SUPPORTDESK_KEYSTORE_URL` moves it elsewhere, which is how backups of
the event store are kept free of keys. It also holds the erasure log, which outlives a restored
backup of the event store and is replayed over it; an address appears there only as its keyed
blind index (HMAC-SHA-256 under a key of the store's own).

The event store's transcoder (`SealingTranscoder`) writes personal fields sealed and reads them
opened, `[erased]` once the key is gone: the read models, mail and API read texts as before.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Transcoder
from sqlalchemy.engine import Connection, Engine

from domain.personal import ERASED, REDACTED, Personal, Sealer

PREFIX = "sealed:1:"
_SUBJECT = re.compile(rb'"sealed:1:([0-9a-f]{32}):')
"""How a sealed text begins: `sealed:1:<subject id>:<base64url of nonce, ciphertext, tag>`."""

T = TypeVar("T")

_KEY_CACHE_SECONDS = 5.0
"""How long a process keeps a key it read; an erasure elsewhere is felt within this."""

metadata = sa.MetaData()
subjects_table = sa.Table(
    "supportdesk_subject_keys",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("data_key", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

_BATCH = 64
"""Keys made per durable write: a process leaves at most this many unused when it stops."""
store_secrets_table = sa.Table(
    "supportdesk_keystore_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.LargeBinary(64), nullable=False),
)
redactions_table = sa.Table(
    "supportdesk_redactions",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),  # SHA-256 of the sealed form
    sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=False),
)
erasures_table = sa.Table(
    "supportdesk_erasures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subjects", sa.Text, nullable=False),
    sa.Column("blind_index", sa.String(64), nullable=False, index=True),
    sa.Column("references", sa.Text, nullable=False),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("basis", sa.String(200), nullable=False),
)


@dataclass(frozen=True)
class Erasure:
    """One entry of the erasure log: whose data was destroyed, which tickets held it, and why."""

    id: int
    subjects: tuple[str, ...]
    blind_index: str
    references: tuple[str, ...]
    erased_at: datetime
    actor: str
    reason: str
    basis: str


class KeyStore:
    """Subjects' keys and the erasure log, in a database of their own."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Reads are one statement each, on connections of their own that need no transaction
        # begun and ended around them: a key is read in one round trip.
        self._reads = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=2)
        self._reads.hide_parameters = True
        metadata.create_all(engine, checkfirst=True)
        self._index_key = self._secret("blind-index")
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._made: list[tuple[str, bytes]] = []
        self._redacted: tuple[float, frozenset[str]] = (-_KEY_CACHE_SECONDS, frozenset())
        self._lock = threading.Lock()

    # ---- subjects -----------------------------------------------------------------------

    def blind_index(self, email: str) -> str:
        """The keyed index of an address: the same for any case, useless without the key."""
        normal = email.strip().casefold().encode("utf-8")
        return hmac.new(self._index_key, normal, hashlib.sha256).hexdigest()

    def new_subject(self, at: datetime) -> tuple[str, bytes]:
        """A subject and its key, never used before: stored (durably) before it is handed out."""
        with self._lock:
            if self._made:
                return self._made.pop()
        made = [(os.urandom(16).hex(), AESGCM.generate_key(bit_length=256)) for _ in range(_BATCH)]
        with self.engine.begin() as connection:
            connection.execute(
                subjects_table.insert(),
                [{"subject": s, "data_key": k, "created_at": at} for s, k in made],
            )
        with self._lock:
            self._made.extend(made[1:])
        return made[0]

    def key(self, subject: str) -> bytes | None:
        """The subject's key, or None once it was destroyed."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject)
        if cached is not None and now - cached[0] < _KEY_CACHE_SECONDS:
            return cached[1]
        query = sa.select(subjects_table.c.data_key).where(subjects_table.c.subject == subject)
        found = self._read(lambda connection: connection.execute(query).scalar_one_or_none())
        key = bytes(found) if found is not None else None
        self._remember(subject, key)
        return key

    def prefetch(self, subjects: Collection[str]) -> None:
        """Read the keys of these subjects not known now, in one query."""
        now = time.monotonic()
        with self._lock:
            wanted = [
                s
                for s in subjects
                if now - self._cache.get(s, (-_KEY_CACHE_SECONDS, None))[0] >= _KEY_CACHE_SECONDS
            ]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found = self._read(functools.partial(_keys_of, chunk))
            for subject in chunk:
                self._remember(subject, found.get(subject))

    def _read(self, read: Callable[[Connection], T]) -> T:
        """One read; again on a new connection if the pooled one was dead (a failover)."""
        try:
            with self._reads.connect() as connection:
                return read(connection)
        except sa.exc.DBAPIError as error:
            if not error.connection_invalidated:
                raise
        with self._reads.connect() as connection:
            return read(connection)

    def _remember(self, subject: str, key: bytes | None) -> None:
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[subject] = (time.monotonic(), key)

    # ---- redaction ----------------------------------------------------------------------

    def redact(self, sealed: str, at: datetime) -> None:
        """Never open this sealed text again (once only, whoever races)."""
        digest = hashlib.sha256(sealed.encode("ascii")).hexdigest()
        try:
            with self.engine.begin() as connection:
                connection.execute(redactions_table.insert().values(digest=digest, redacted_at=at))
        except sa.exc.IntegrityError:
            pass  # redacted before
        with self._lock:
            self._redacted = (self._redacted[0], self._redacted[1] | {digest})

    def is_redacted(self, sealed: str) -> bool:
        """Whether a sealed text was redacted (the list is read again every few seconds)."""
        now = time.monotonic()
        with self._lock:
            read_at, digests = self._redacted
        if now - read_at >= _KEY_CACHE_SECONDS:
            query = sa.select(redactions_table.c.digest)
            digests = self._read(lambda connection: frozenset(connection.execute(query).scalars()))
            with self._lock:
                self._redacted = (now, digests)
        return bool(digests) and hashlib.sha256(sealed.encode("ascii")).hexdigest() in digests

    # ---- erasure ------------------------------------------------------------------------

    def destroy(
        self,
        subjects: list[str],
        references: list[str],
        *,
        email: str,
        at: datetime,
        actor: str,
        reason: str,
        basis: str,
    ) -> Erasure:
        """Destroy the subjects' keys and log why, in one transaction."""
        index = self.blind_index(email)
        with self.engine.begin() as connection:
            connection.execute(
                subjects_table.delete().where(subjects_table.c.subject.in_(subjects))
            )
            entry = connection.execute(
                erasures_table.insert()
                .values(
                    subjects=json.dumps(sorted(subjects)),
                    blind_index=index,
                    references=json.dumps(sorted(references)),
                    erased_at=at,
                    actor=actor,
                    reason=reason,
                    basis=basis,
                )
                .returning(erasures_table.c.id)
            ).scalar_one()
        for subject in subjects:
            self._remember(subject, None)
        return Erasure(
            int(entry),
            tuple(sorted(subjects)),
            index,
            tuple(sorted(references)),
            at,
            actor,
            reason,
            basis,
        )

    def erasures(self) -> Iterator[Erasure]:
        """The erasure log, oldest first."""
        with self._reads.connect() as connection:
            rows = connection.execute(sa.select(erasures_table).order_by(erasures_table.c.id))
            for row in rows:
                yield Erasure(
                    row.id,
                    tuple(json.loads(row.subjects)),
                    row.blind_index,
                    tuple(json.loads(row.references)),
                    row.erased_at,
                    row.actor,
                    row.reason,
                    row.basis,
                )

    def erased(self, email: str) -> list[Erasure]:
        """The erasures of an address, found by its blind index."""
        index = self.blind_index(email)
        return [e for e in self.erasures() if e.blind_index == index]

    def _secret(self, name: str) -> bytes:
        """A random secret of the store, made once (whoever races)."""
        table = store_secrets_table
        with self.engine.begin() as connection:
            found = connection.execute(
                sa.select(table.c.value).where(table.c.name == name)
            ).scalar_one_or_none()
            if found is not None:
                return bytes(found)
        try:
            with self.engine.begin() as connection:
                connection.execute(table.insert().values(name=name, value=os.urandom(32)))
        except sa.exc.IntegrityError:
            pass  # made meanwhile
        with self._reads.connect() as connection:
            return bytes(
                connection.execute(
                    sa.select(table.c.value).where(table.c.name == name)
                ).scalar_one()
            )

    def close(self) -> None:
        self._reads.dispose()
        self.engine.dispose()


def _keys_of(subjects: list[str], connection: Connection) -> dict[str, bytes]:
    query = sa.select(subjects_table.c.subject, subjects_table.c.data_key).where(
        subjects_table.c.subject.in_(subjects)
    )
    return {str(subject): bytes(key) for subject, key in connection.execute(query)}


class Vault:
    """Seals personal texts under their subject's key and opens them while it lives."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def redact(self, sealed: str, at: datetime) -> None:
        """Never open this sealed text again."""
        self.keys.redact(sealed, at)

    def transcoder(self, inner: Transcoder) -> Transcoder:
        """The event store's transcoder, storing personal texts sealed and reading them opened."""
        return SealingTranscoder(inner, self)

    def sealer(self, subject: str, key: bytes) -> Sealer:
        """Seals texts of this subject (the subject id is bound to each ciphertext)."""
        aead = AESGCM(key)
        associated = subject.encode("ascii")

        def seal(text: str) -> str:
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, text.encode("utf-8"), associated)
            return f"{PREFIX}{subject}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

        return seal

    def new_key(self, at: datetime) -> tuple[str, bytes]:
        """A new ticket's subject and key."""
        return self.keys.new_subject(at)

    def new_sealer(self, at: datetime) -> Sealer:
        """Seals the texts of a new ticket, under a key of its own."""
        return self.sealer(*self.new_key(at))

    def key_like(self, value: object, at: datetime) -> tuple[str, bytes] | None:
        """The subject and key of the sealed text `value` (the requester's email as the ticket
        holds it). None when that key is gone; a new key for a ticket recorded before texts
        were sealed."""
        if isinstance(value, Personal):
            if value.erased:
                return None
            subject = subject_of_sealed(value.sealed)
            key = self.keys.key(subject) if subject else None
            return (subject, key) if subject and key else None
        return self.new_key(at)

    def open(self, sealed: str) -> Personal:
        """The text a sealed form holds, or `ERASED` when its key is gone."""
        subject = subject_of_sealed(sealed)
        key = self.keys.key(subject) if subject else None
        if key is None or subject is None:
            return Personal(ERASED, sealed)
        if self.keys.is_redacted(sealed):
            return Personal(REDACTED, sealed)
        raw = base64.urlsafe_b64decode(sealed.rsplit(":", 1)[1])
        try:
            text = AESGCM(key).decrypt(raw[:12], raw[12:], subject.encode("ascii"))
        except InvalidTag:
            return Personal(ERASED, sealed)
        return Personal(text.decode("utf-8"), sealed)


class SealingTranscoder(Transcoder):
    """The application's transcoder, with personal fields stored sealed and read opened."""

    def __init__(self, inner: Transcoder, vault: Vault) -> None:
        self.inner = inner
        self.vault = vault

    def encode(self, obj: Any) -> bytes:
        if isinstance(obj, dict) and any(type(v) is Personal for v in obj.values()):
            obj = {k: v.sealed if type(v) is Personal else v for k, v in obj.items()}
        return self.inner.encode(obj)

    def prefetch(self, states: Iterable[bytes]) -> None:
        """Make ready the keys these stored events' sealed texts need (a read model's batch)."""
        subjects = {m for state in states for m in _SUBJECT.findall(bytes(state))}
        if subjects:
            self.vault.keys.prefetch([s.decode("ascii") for s in subjects])

    def decode(self, data: bytes) -> Any:
        obj = self.inner.decode(data)
        if isinstance(obj, dict):
            for name, value in obj.items():
                if is_sealed(value):
                    obj[name] = self.vault.open(value)
        return obj


def is_sealed(value: Any) -> bool:
    """Whether a stored value is a sealed personal text."""
    return isinstance(value, str) and value.startswith(PREFIX)


def subject_of_sealed(sealed: str) -> str | None:
    """The subject a sealed text names."""
    parts = sealed.split(":")
    return parts[2] if len(parts) == 4 and sealed.startswith(PREFIX) else None
