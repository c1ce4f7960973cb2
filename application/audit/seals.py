"""Seals: each ticket's chain head, recorded where the ticket's own stream cannot vouch for it.

Why. A ticket's hash chain (domain/chain.py) shows an event edited, removed from the middle,
swapped or inserted, because a link no longer matches. It cannot show that the newest events
were removed: what is left is a shorter chain that is still perfect. So the newest link of
every chain is also recorded outside the stream, in `supportdesk_audit_seals`, by the seal
keeper (projections/audit.py), which follows the log and extends a ticket's seal only with an
event that links to the sealed head. Each seal is signed with HMAC-SHA256 under the audit key,
and so is the keeper's watermark: the log position it has read up to, with a running digest
of every event it read there, in log order.

Threat model. The adversary can run any SQL on the database (a database administrator, a
stolen database password, a restored backup that was edited) but does not have the audit key,
which comes from the configuration (`SUPPORTDESK_AUDIT_KEY`, from the deployment's secret
store) and is never written to the database. Then:
- editing an event's data, deleting one from the middle, swapping two or inserting one breaks
  its ticket's chain; recomputing the chain around the change still leaves the sealed head
  unmatched, and a new seal cannot be signed without the key;
- deleting a ticket's newest events leaves the stream short of its seal;
- deleting or editing a seal or the watermark shows as an unsigned or missing record;
- any change to the log up to the watermark (any ticket's events edited, removed, inserted or
  moved to other positions, even between tickets) changes the log digest; an event slipped in
  at a position the keeper has already passed is also named, as never sealed.
What it does not cover: (1) a well-formed event appended at the end of a ticket's chain before
the keeper reads it is sealed like any other; sealing inside the write transaction (a recorder
that writes the seal with the events) would close that window. (2) Rolling the whole database
back to an earlier consistent copy, seals included, replaces the record with an older true
one; to catch that, keep the digest that `supportdesk audit verify` prints somewhere else and
compare. (3) Anyone holding the audit key can sign seals: keep it out of the database's reach.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, select

from application.storage.secrets import persisted_secret

KEY_FILE = "audit.key"
KEEPER = "audit_seals"

metadata = MetaData()

seals_table = Table(
    "supportdesk_audit_seals",
    metadata,
    Column("ticket_id", String(36), primary_key=True),
    Column("reference", String(64), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("mac", String(64), nullable=False),
)

watermark_table = Table(
    "supportdesk_audit_watermark",
    metadata,
    Column("keeper", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

LOG_GENESIS = "0" * 64
"""The log digest before the first event."""


def log_digest(previous: str, position: int, ticket_id: UUID, version: int, content: str) -> str:
    """The running digest of the log in position order, extended by one event."""
    return extended(previous, log_link(position, ticket_id, version, content))


def log_link(position: int, ticket_id: UUID, version: int, content: str) -> str:
    """What one event adds to the running digest (hashing workers make it beforehand)."""
    return f"|{position}|{ticket_id}|{version}|{content}"


def extended(previous: str, link: str) -> str:
    """The running digest extended by one event's `log_link`."""
    return hashlib.sha256(f"{previous}{link}".encode()).hexdigest()


class AuditKey:
    """The secret that signs seals; it lives in the configuration, never in the database."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the audit key must be at least 16 bytes long")
        self._secret = secret

    def sign(self, *parts: object) -> str:
        """HMAC-SHA256 of the parts, joined unambiguously."""
        message = "\x1f".join(str(p) for p in parts).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def signed(self, mac: str, *parts: object) -> bool:
        """Whether `mac` is the signature of the parts under this key."""
        return hmac.compare_digest(mac, self.sign(*parts))

    def fingerprint(self) -> str:
        """A short public name for the key, to tell which key signed a store."""
        return self.sign("fingerprint")[:12]


def load_audit_key(configured: str, data_dir: Path) -> AuditKey:
    """The configured key (`SUPPORTDESK_AUDIT_KEY`); without one, the embedded shape's key file."""
    if configured:
        return AuditKey(configured.encode("utf-8"))
    # The embedded default keeps its key beside the database file, not in it: enough for a
    # single machine, while a production deployment sets the variable from its secret store.
    return AuditKey(persisted_secret(Path(data_dir) / KEY_FILE).encode("utf-8"))


@dataclass(frozen=True)
class Seal:
    """The newest link of one ticket's chain, as the keeper saw it, signed."""

    ticket_id: UUID
    reference: str
    version: int
    hash: str
    position: int
    mac: str

    @classmethod
    def make(
        cls, key: AuditKey, ticket_id: UUID, reference: str, version: int, hash: str, position: int
    ) -> Seal:
        """A seal signed with the key."""
        mac = key.sign("seal", ticket_id, reference, version, hash, position)
        return cls(ticket_id, reference, version, hash, position, mac)

    def is_signed_by(self, key: AuditKey) -> bool:
        """Whether the seal is exactly what the key signed."""
        return key.signed(
            self.mac, "seal", self.ticket_id, self.reference, self.version, self.hash, self.position
        )

    def row(self) -> dict[str, object]:
        """The seal as a table row."""
        return {
            "ticket_id": str(self.ticket_id),
            "reference": self.reference,
            "version": self.version,
            "hash": self.hash,
            "position": self.position,
            "mac": self.mac,
        }


@dataclass(frozen=True)
class Watermark:
    """How far the keeper has read the log, and the digest of all it read, signed."""

    position: int
    digest: str
    mac: str

    @classmethod
    def make(cls, key: AuditKey, position: int, digest: str) -> Watermark:
        """A watermark signed with the key."""
        return cls(position, digest, key.sign("watermark", KEEPER, position, digest))

    def is_signed_by(self, key: AuditKey) -> bool:
        """Whether the watermark is exactly what the key signed."""
        return key.signed(self.mac, "watermark", KEEPER, self.position, self.digest)


class SealBook:
    """The seal tables in the event store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def seals(self, ticket_ids: Iterable[UUID] | None = None) -> dict[UUID, Seal]:
        """The seals of these tickets (all when None)."""
        query = select(seals_table)
        if ticket_ids is not None:
            query = query.where(seals_table.c.ticket_id.in_([str(t) for t in ticket_ids]))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {
            UUID(r.ticket_id): Seal(
                UUID(r.ticket_id), r.reference, int(r.version), r.hash, int(r.position), r.mac
            )
            for r in rows
        }

    def watermark(self) -> Watermark | None:
        """How far the keeper has read, or None if its record is missing."""
        query = select(watermark_table).where(watermark_table.c.keeper == KEEPER)
        with self.engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else Watermark(int(row.position), row.digest, row.mac)
