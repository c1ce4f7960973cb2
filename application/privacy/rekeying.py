"""Sealing, after the fact, the texts of events recorded before texts were sealed (P7.3; P7.1).

Why rewrite. A ticket recorded before sealing holds its requester's texts as written, in
events whose hashes cover them. An upcaster would only change how they are read: the texts
would stay in the rows, in every dump and backup, and could never be erased. So they are
rewritten once, in place: each such text is sealed under the ticket's key (the one its newer
events already use, else a new one), the ticket's chain is rehashed from the first changed
event, and a statement signed with the audit key records each rewritten event's former hash
beside its new one, in the same transaction (application/audit/rekeyings.py). Verification
reads the record as first recorded, so the seals, the log digest and the checkpoints kept
elsewhere stay valid, and while the key lives `check` opens the texts again and recomputes
every former hash: the rewriting changed nothing but the form of the texts.

A ticket whose chain does not verify is not rewritten (that would hide what was done to it);
it is reported. A ticket already erased gets a key that is never kept: its texts become
unreadable at once. Commands running meanwhile are safe: an event appended by a process that
read the chain before it was rewritten links to its predecessor's former hash, which counts.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import resolve_topic
from sqlalchemy import Row, select, update
from sqlalchemy.engine import Connection

from application.audit.chain import ChainVerifier
from application.audit.records import EventLog, as_uuid, log_rows
from application.audit.rekeyings import RekeyBook, Rewritten, Statement
from application.audit.seals import AuditKey
from application.privacy.keys import SealingTranscoder, Vault, is_sealed, subject_of_sealed
from domain.chain import event_hash, event_type_name
from domain.personal import ERASED, REDACTED, Sealer

log = logging.getLogger(__name__)

BATCH = 100
"""Tickets rewritten per transaction (and statement): short enough not to hold writers up."""

_ERASED_TYPE = "RequesterDataErased"


@dataclass
class RekeyReport:
    """What one re-keying run did."""

    rekeyed: list[str] = field(default_factory=list)
    """References of the tickets rewritten."""
    events: int = 0
    statements: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """Tickets left as they are, and why."""

    def as_json(self) -> dict[str, object]:
        """What the command line prints."""
        return {
            "rekeyed": self.rekeyed,
            "events": self.events,
            "statements": self.statements,
            "refused": self.refused,
        }


@dataclass
class FormerCheck:
    """Rewritten events whose former hashes were computed again from their opened texts."""

    checked: int = 0
    forgotten: int = 0
    """Events whose texts can no longer be opened (erased or redacted): not checkable."""
    mismatched: list[str] = field(default_factory=list)

    @property
    def sound(self) -> bool:
        """Every checkable event gives back its former hash."""
        return not self.mismatched


@dataclass
class _Row:
    position: int
    version: int
    topic: str
    stored: bytes
    state: dict[str, Any]


class _Conflict(Exception):
    """A row changed between reading and rewriting it."""


class Rekeyer:
    """Finds events holding personal texts as written, and seals them with a signed statement."""

    def __init__(
        self,
        log: EventLog,
        vault: Vault,
        key: AuditKey,
        clock: Callable[[], datetime],
        batch: int = BATCH,
    ) -> None:
        self.log = log
        self.vault = vault
        self.key = key
        self.clock = clock
        self.batch = batch
        self.book = RekeyBook(log.engine)
        transcoder = log.mapper.transcoder
        self._raw: Transcoder = (
            transcoder.inner if isinstance(transcoder, SealingTranscoder) else transcoder
        )

    # ---- finding ------------------------------------------------------------------------

    def pending(self) -> list[UUID]:
        """The tickets with a personal text stored as written, in log order."""
        found: dict[UUID, None] = {}
        after = 0
        while True:  # a page at a time: the whole log is read once, in constant memory
            with self.log.engine.connect() as connection:
                rows = connection.execute(log_rows(self.log.table, after).limit(1000)).all()
            for _position, ticket, _version, topic, state in rows:
                if _personal(topic) and _in_the_clear(topic, self._decode(bytes(state))):
                    found[as_uuid(ticket)] = None
            if len(rows) < 1000:
                return list(found)
            after = rows[-1][0]

    # ---- rewriting ----------------------------------------------------------------------

    def rekey(self, ticket_ids: Iterable[UUID] | None = None, *, actor: str) -> RekeyReport:
        """Seal the texts as written of these tickets (all that have any when None)."""
        wanted = self.pending() if ticket_ids is None else list(dict.fromkeys(ticket_ids))
        report = RekeyReport()
        for start in range(0, len(wanted), self.batch):
            chunk = wanted[start : start + self.batch]
            for attempt in range(3):
                try:
                    self._rekey_batch(chunk, actor, report)
                    break
                except _Conflict:
                    if attempt == 2:
                        raise
                    log.info("re-keying: a ticket changed while it was read; reading it again")
        if report.rekeyed:
            log.info(
                "texts recorded as written sealed",
                extra={"tickets": len(report.rekeyed), "events": report.events},
            )
        return report

    def _rekey_batch(self, tickets: Sequence[UUID], actor: str, report: RekeyReport) -> None:
        planned: list[tuple[str, list[tuple[_Row, bytes]], list[Rewritten]]] = []
        refused: dict[str, str] = {}
        found = self._rows_of(tickets)
        # Each ticket's own chain and seal: the store's problems (a keeper not yet run) are not its.
        verdicts = ChainVerifier(self.log, self.key).verify_tickets(list(found))
        for ticket_id, rows in found.items():
            if not any(_in_the_clear(r.topic, r.state) for r in rows):
                continue
            reference = str(rows[0].state.get("reference", ticket_id))
            bad = verdicts[ticket_id].first_bad
            if bad is not None:
                refused[reference] = f"its chain does not verify ({bad.reason})"
                continue
            changes, entries = self._rewritten(ticket_id, rows, self._sealer_for(rows))
            planned.append((reference, changes, entries))
        report.refused.update(refused)
        if not planned:
            return
        entries = [e for _, _, made in planned for e in made]
        statement = Statement.make(self.key, str(uuid.uuid4()), self.clock(), actor, entries)
        table = self.log.table
        changed = [change for _, changes, _ in planned for change in changes]
        with self.log.engine.begin() as connection:
            # The rows as they are now, locked: any changed since they were read (nothing
            # should change a stored event, but a concurrent re-keying may) and all is read anew.
            query = select(table.c.id, table.c.state).where(
                table.c.id.in_([row.position for row, _ in changed])
            )
            if connection.dialect.name == "postgresql":
                query = query.with_for_update()
            now = {int(p): bytes(s) for p, s in connection.execute(query)}
            if any(now.get(row.position) != row.stored for row, _ in changed):
                raise _Conflict
            _rewrite(connection, table, [(row.position, new) for row, new in changed])
            RekeyBook.record(connection, statement, entries)
        report.rekeyed.extend(reference for reference, _, _ in planned)
        report.events += len(entries)
        report.statements.append(statement.statement)

    def _rewritten(
        self, ticket_id: UUID, rows: list[_Row], sealer: Sealer
    ) -> tuple[list[tuple[_Row, bytes]], list[Rewritten]]:
        changes: list[tuple[_Row, bytes]] = []
        entries: list[Rewritten] = []
        new_head: str | None = None  # the new hash of the last rewritten event
        for row in rows:
            state = dict(row.state)
            fields = tuple(
                name
                for name in _personal(row.topic)
                if isinstance(state.get(name), str) and not is_sealed(state[name])
            )
            if not fields and new_head is None:
                continue
            for name in fields:
                state[name] = sealer(state[name])
            if new_head is not None:
                state["prev_hash"] = new_head
            new_head = _hash(row.topic, ticket_id, row.version, state)
            entries.append(Rewritten(ticket_id, row.version, str(state["hash"]), new_head, fields))
            state["hash"] = new_head
            changes.append((row, self._encode(state)))
        return changes, entries

    def _sealer_for(self, rows: list[_Row]) -> Sealer:
        """The ticket's own key when its newer texts are sealed; a key never kept when the
        ticket was erased; else a new key of its own."""
        forgotten = self.vault.sealer(uuid.uuid4().hex, os.urandom(32))
        if any(event_type_name(r.topic).endswith(_ERASED_TYPE) for r in rows):
            return forgotten
        for row in rows:
            for value in row.state.values():
                subject = subject_of_sealed(value) if is_sealed(value) else None
                if subject:
                    key = self.vault.keys.key(subject)
                    return forgotten if key is None else self.vault.sealer(subject, key)
        return self.vault.new_sealer(self.clock())

    # ---- checking -----------------------------------------------------------------------

    def check(self) -> FormerCheck:
        """Open the texts of every rewritten event and compute its former hash again."""
        result = FormerCheck()
        by_ticket: dict[UUID, dict[int, Rewritten]] = {}
        for made in self.book.grouped().values():
            for one in made:
                by_ticket.setdefault(one.ticket_id, {})[one.version] = one
        tickets = list(by_ticket)
        found = (
            item
            for start in range(0, len(tickets), self.batch)
            for item in self._rows_of(tickets[start : start + self.batch]).items()
        )
        for ticket_id, rows in found:
            entries = by_ticket[ticket_id]
            for row in rows:
                entry = entries.get(row.version)
                if entry is None:
                    continue
                state = dict(row.state)
                opened = [
                    self.vault.open(state[f]) for f in entry.fields if is_sealed(state.get(f))
                ]
                if len(opened) != len(entry.fields) or any(
                    str(t) in (ERASED, REDACTED) for t in opened
                ):
                    result.forgotten += 1
                    continue
                for name, text in zip(entry.fields, opened, strict=True):
                    state[name] = str(text)
                before = entries.get(row.version - 1)
                if before is not None:
                    state["prev_hash"] = before.former_hash
                if _hash(row.topic, ticket_id, row.version, state) == entry.former_hash:
                    result.checked += 1
                else:
                    result.mismatched.append(f"{ticket_id} version {row.version}")
        return result

    # ---- the rows as stored -------------------------------------------------------------

    def _rows_of(self, ticket_ids: Sequence[UUID]) -> dict[UUID, list[_Row]]:
        """Each ticket's stored events in version order, as stored (texts sealed or not)."""
        c = self.log.table.c
        query = (
            select(c.originator_id, c.id, c.originator_version, c.topic, c.state)
            .where(c.originator_id.in_(list(ticket_ids)))
            .order_by(c.originator_id, c.originator_version)
        )
        with self.log.engine.connect() as connection:
            rows: list[Row[Any]] = list(connection.execute(query))
        found: dict[UUID, list[_Row]] = {}
        for ticket, p, v, t, s in rows:
            row = _Row(int(p), int(v), str(t), bytes(s), self._decode(bytes(s)))
            found.setdefault(as_uuid(ticket), []).append(row)
        return found

    def _decode(self, stored: bytes) -> dict[str, Any]:
        mapper = self.log.mapper
        data = stored
        if mapper.cipher:
            data = mapper.cipher.decrypt(data)
        if mapper.compressor:
            data = mapper.compressor.decompress(data)
        return dict(self._raw.decode(data))

    def _encode(self, state: dict[str, Any]) -> bytes:
        mapper = self.log.mapper
        data = self._raw.encode(state)
        if mapper.compressor:
            data = mapper.compressor.compress(data)
        if mapper.cipher:
            data = mapper.cipher.encrypt(data)
        return data


def _rewrite(connection: Connection, table: sa.Table, states: list[tuple[int, bytes]]) -> None:
    """Store these new states at these positions."""
    if connection.dialect.name == "postgresql":
        # One statement (UPDATE … FROM VALUES): a round trip per row would cost more than
        # all the hashing. SQLite, in-process, takes the rows one by one as fast.
        rewritten = sa.values(
            sa.column("at_position", sa.BigInteger),
            sa.column("rewritten_state", sa.LargeBinary),
            name="rewritten",
        ).data(states)
        statement = update(table).where(table.c.id == rewritten.c.at_position)
        connection.execute(statement.values(state=rewritten.c.rewritten_state))
        return
    connection.execute(
        update(table)
        .where(table.c.id == sa.bindparam("at_position"))
        .values(state=sa.bindparam("rewritten_state")),
        [{"at_position": p, "rewritten_state": s} for p, s in states],
    )


def _hash(topic: str, ticket_id: UUID, version: int, state: dict[str, Any]) -> str:
    """An event's hash as verification computes it from the stored state."""
    full = {**state, "originator_id": ticket_id, "originator_version": version}
    return event_hash(event_type_name(topic), full)


@functools.cache
def _personal(topic: str) -> tuple[str, ...]:
    """The personal fields the event class of this topic names."""
    try:
        return tuple(getattr(resolve_topic(topic), "personal", ()))
    except (ImportError, AttributeError, ValueError, KeyError):
        return ()


def _in_the_clear(topic: str, state: dict[str, Any]) -> bool:
    return any(
        isinstance(state.get(name), str) and not is_sealed(state[name]) for name in _personal(topic)
    )
