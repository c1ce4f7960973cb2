"""Re-keying statements: events rewritten once so that their personal texts can be forgotten.

Events recorded before personal texts were sealed hold them as written, and a hash chain
forbids changing a byte of them. Erasing such a requester needs their texts sealed after the
fact: the re-keying step (application/privacy/rekeying.py) seals them under the ticket's key,
rehashes the ticket's chain from the first changed event, and records here, in the same
transaction, one entry per rewritten event — its hash as first recorded (*former*), its hash
now, which fields were sealed — and a statement over all its entries, signed with the audit key.

Verification then reads the record *as first recorded*: the log digest, the seals and the
checkpoints kept outside the database go on covering the former hashes, so nothing signed
before the re-keying needs signing again, and an event may link to its predecessor's former
hash (one appended by a process that read the chain before it was rewritten). What binds a
rewritten event to its former self is the signed entry, which only the holder of the audit
key could make; while the ticket's key lives, the texts can be opened and the former hash
computed again, which `supportdesk audit verify` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import BigInteger, Column, Engine, Integer, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection, Row

from application.audit.seals import AuditKey

metadata = MetaData()

statements_table = Table(
    "supportdesk_rekeyings",
    metadata,
    Column("statement", String(36), primary_key=True),
    Column("made_at", String(40), nullable=False),  # ISO 8601, as signed
    Column("actor", String(200), nullable=False),
    Column("tickets", Integer, nullable=False),
    Column("events", Integer, nullable=False),
    Column("entries_digest", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

entries_table = Table(
    "supportdesk_rekeyed_events",
    metadata,
    Column("ticket_id", String(36), primary_key=True),
    Column("version", BigInteger, primary_key=True),
    Column("former_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("fields", Text, nullable=False),  # the fields sealed, comma-separated
    Column("statement", String(36), nullable=False, index=True),
)


@dataclass(frozen=True)
class Rewritten:
    """One event rewritten: where it is, what it hashed to then and now, what was sealed."""

    ticket_id: UUID
    version: int
    former_hash: str
    hash: str
    fields: tuple[str, ...]

    def line(self) -> str:
        """The entry as its statement's digest covers it."""
        fields = ",".join(self.fields)
        return f"{self.ticket_id}|{self.version}|{self.former_hash}|{self.hash}|{fields}"

    def row(self, statement: str) -> dict[str, object]:
        """The entry as a table row."""
        return {
            "ticket_id": str(self.ticket_id),
            "version": self.version,
            "former_hash": self.former_hash,
            "hash": self.hash,
            "fields": ",".join(self.fields),
            "statement": statement,
        }


def entries_digest(entries: Iterable[Rewritten]) -> str:
    """SHA-256 over a statement's entries, in a fixed order."""
    lines = sorted(e.line() for e in entries)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Statement:
    """One re-keying run: when, by whom, how much, and the digest of its entries, signed."""

    statement: str
    made_at: datetime
    actor: str
    tickets: int
    events: int
    entries_digest: str
    mac: str

    @classmethod
    def make(
        cls,
        key: AuditKey,
        statement: str,
        made_at: datetime,
        actor: str,
        entries: Sequence[Rewritten],
    ) -> Statement:
        """A statement over these entries, signed with the key."""
        tickets = len({e.ticket_id for e in entries})
        digest = entries_digest(entries)
        unsigned = cls(statement, made_at, actor, tickets, len(entries), digest, "")
        return cls(
            statement, made_at, actor, tickets, len(entries), digest, key.sign(*unsigned._signed())
        )

    def _signed(self) -> list[object]:
        return [
            "rekeying",
            self.statement,
            self.made_at.isoformat(),
            self.actor,
            self.tickets,
            self.events,
            self.entries_digest,
        ]

    def is_signed_by(self, key: AuditKey) -> bool:
        """Whether the statement is exactly what the key signed."""
        return key.signed(self.mac, *self._signed())

    def row(self) -> dict[str, object]:
        """The statement as a table row."""
        return {
            "statement": self.statement,
            "made_at": self.made_at.isoformat(),
            "actor": self.actor,
            "tickets": self.tickets,
            "events": self.events,
            "entries_digest": self.entries_digest,
            "mac": self.mac,
        }


Formers = dict[tuple[UUID, int], tuple[str, str]]
"""(ticket, version) → (hash now, former hash) of every rewritten event."""


def former_of(formers: Formers, ticket_id: UUID, version: int, hash: str) -> str:
    """The hash an event had when first recorded: its former hash if it was rewritten into
    exactly this one, else the hash itself."""
    if formers:
        entry = formers.get((ticket_id, version))
        if entry is not None and entry[0] == hash:
            return entry[1]
    return hash


class RekeyBook:
    """The statements and their entries, in the event store's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def formers(self, ticket_ids: Iterable[UUID] | None = None) -> Formers:
        """The rewritten events of these tickets (all when None)."""
        query = select(
            entries_table.c.ticket_id,
            entries_table.c.version,
            entries_table.c.hash,
            entries_table.c.former_hash,
        )
        if ticket_ids is not None:
            wanted = sorted({str(t) for t in ticket_ids})
            if not wanted:
                return {}
            query = query.where(entries_table.c.ticket_id.in_(wanted))
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return {(UUID(t), int(v)): (h, f) for t, v, h, f in rows}

    def statements(self) -> list[Statement]:
        """Every statement, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(statements_table).order_by(statements_table.c.made_at)
            ).all()
        return [
            Statement(
                r.statement,
                datetime.fromisoformat(r.made_at),
                r.actor,
                int(r.tickets),
                int(r.events),
                r.entries_digest,
                r.mac,
            )
            for r in rows
        ]

    def grouped(self) -> dict[str, list[Rewritten]]:
        """Every entry, by the statement that names it."""
        query = select(entries_table).order_by(entries_table.c.ticket_id, entries_table.c.version)
        found: dict[str, list[Rewritten]] = {}
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                found.setdefault(row.statement, []).append(_entry(row))
        return found

    @staticmethod
    def record(connection: Connection, statement: Statement, entries: Sequence[Rewritten]) -> None:
        """Write a statement and its entries, inside the transaction that rewrites the events."""
        connection.execute(statements_table.insert(), [statement.row()])
        if entries:
            connection.execute(
                entries_table.insert(), [e.row(statement.statement) for e in entries]
            )

    def problems(self, key: AuditKey) -> list[str]:
        """What is wrong with the statements: unsigned, or their entries changed."""
        found: list[str] = []
        grouped = self.grouped()
        for statement in self.statements():
            entries = grouped.pop(statement.statement, [])
            made = statement.made_at.isoformat()
            if not statement.is_signed_by(key):
                found.append(f"the re-keying statement of {made} is not signed by the audit key")
            elif entries_digest(entries) != statement.entries_digest or len(entries) != (
                statement.events
            ):
                found.append(
                    f"the entries of the re-keying statement of {made} were changed: "
                    "the former hashes they give cannot be trusted"
                )
        for name in grouped:
            found.append(f"re-keying entries name a statement that is missing ({name})")
        return found


def _entry(row: Row[Any]) -> Rewritten:
    fields = str(row.fields)
    return Rewritten(
        UUID(row.ticket_id),
        int(row.version),
        str(row.former_hash),
        str(row.hash),
        tuple(fields.split(",")) if fields else (),
    )
