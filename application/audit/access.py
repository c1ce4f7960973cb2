"""Who looked at the record: every access to the audit endpoints, in an append-only table (P7.1).

The table lives in the event store's database. The application only ever inserts into it, and
the database itself refuses UPDATE and DELETE on it (a trigger on SQLite and on PostgreSQL,
and TRUNCATE too on PostgreSQL), so a mistake or a careless script cannot rewrite who looked.
Triggers stop mistakes, not an administrator, who can drop them: so every entry is also signed
with the audit key (an edited or forged entry no longer verifies), and the checkpoints kept
outside the database count the entries (removed ones are missed). Entries recorded before
entries were signed carry no signature; they are listed, not trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    insert,
    select,
)

from application.audit.seals import AuditKey

metadata = MetaData()
log = logging.getLogger(__name__)

REFERENCE_LENGTH = 64

access_table = Table(
    "supportdesk_audit_access",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(40), nullable=False),
    Column("action", String(60), nullable=False),
    Column("reference", String(REFERENCE_LENGTH)),
    Column("query", Text(), nullable=False, default=""),
    Column("mac", String(64)),
)

_SQLITE_GUARDS = [
    f"CREATE TRIGGER IF NOT EXISTS supportdesk_audit_access_no_{verb.lower()} "
    f"BEFORE {verb} ON supportdesk_audit_access "
    "BEGIN SELECT RAISE(ABORT, 'supportdesk_audit_access is append-only'); END"
    for verb in ("UPDATE", "DELETE")
]
_POSTGRES_GUARDS = [
    "CREATE OR REPLACE FUNCTION supportdesk_audit_access_refuse() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'supportdesk_audit_access is append-only'; END $$",
    "CREATE TRIGGER supportdesk_audit_access_no_change BEFORE UPDATE OR DELETE "
    "ON supportdesk_audit_access FOR EACH ROW EXECUTE FUNCTION supportdesk_audit_access_refuse()",
    "CREATE TRIGGER supportdesk_audit_access_no_truncate BEFORE TRUNCATE "
    "ON supportdesk_audit_access FOR EACH STATEMENT "
    "EXECUTE FUNCTION supportdesk_audit_access_refuse()",
]
for _statement in _SQLITE_GUARDS:
    event.listen(access_table, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in _POSTGRES_GUARDS:
    event.listen(access_table, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


_SIGNED = ("at", "actor", "role", "action", "reference", "query")
"""The fields an entry's signature covers."""


def _signed_fields(entry: dict[str, Any]) -> list[str]:
    return [entry[name] or "" for name in _SIGNED]


@dataclass(frozen=True)
class Access:
    """One look at the record."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    reference: str | None
    query: str


class AccessLog:
    """The append-only log of accesses to the audit endpoints."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime], key: AuditKey) -> None:
        self.engine = engine
        self.clock = clock
        self.key = key

    def record(
        self, *, actor: str, role: str, action: str, reference: str | None = None, query: str = ""
    ) -> int:
        """Append one access; its id."""
        at = self.clock().astimezone(UTC).isoformat()
        if reference is not None:
            # Kept as asked, cut to the column's length: a path may be of any length.
            reference = reference[:REFERENCE_LENGTH]
        entry = {
            "at": at,
            "actor": actor,
            "role": role,
            "action": action,
            "reference": reference,
            "query": query,
        }
        with self.engine.begin() as connection:
            result = connection.execute(insert(access_table).values(**entry, mac=self._sign(entry)))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])

    def _sign(self, entry: dict[str, Any]) -> str:
        return self.key.sign("access", *_signed_fields(entry))

    def count(self) -> int:
        """How many accesses are recorded."""
        with self.engine.connect() as connection:
            counted = connection.execute(select(func.count()).select_from(access_table)).scalar()
        return int(counted or 0)

    def verify(self, counted: int | None) -> list[str]:
        """What is wrong with the log: entries altered or forged, and fewer entries than a
        checkpoint kept outside the database counted (`counted`)."""
        problems: list[str] = []
        unsigned = 0
        rows = 0
        with self.engine.connect() as connection:
            for row in connection.execute(select(access_table).order_by(access_table.c.id)):
                rows += 1
                entry = dict(row._mapping)
                if entry["mac"] is None:
                    unsigned += 1
                elif not self.key.signed(
                    entry["mac"], "access", *(entry[n] or "" for n in _SIGNED)
                ):
                    problems.append(f"access log entry {entry['id']} was altered or forged")
        if counted is not None and rows < counted:
            problems.append(
                f"the access log holds {rows} entries, fewer than the {counted} a checkpoint "
                "counted: entries were removed"
            )
        if unsigned:
            log.info("access log: %d entries recorded before entries were signed", unsigned)
        return problems

    def entries(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        reference: str | None = None,
        actor: str | None = None,
    ) -> list[Access]:
        """Accesses after id `after`, oldest first, optionally for one ticket or one person."""
        query = select(access_table).where(access_table.c.id > after)
        if reference is not None:
            query = query.where(access_table.c.reference == reference)
        if actor is not None:
            query = query.where(access_table.c.actor == actor)
        query = query.order_by(access_table.c.id).limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            Access(
                int(r.id),
                datetime.fromisoformat(r.at),
                r.actor,
                r.role,
                r.action,
                r.reference,
                r.query,
            )
            for r in rows
        ]
