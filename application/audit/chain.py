"""Verification: recompute every ticket's hash chain and compare its head with the seal (P7.1).

Each event's hash is recomputed from its content as stored (application/audit_records.py), so
events written by older event classes verify as they were written. Per ticket the result is
either intact or the first bad event and why; the store as a whole is intact only when every
ticket is, the seal keeper's watermark is signed, and the log up to the watermark still has the
digest the keeper signed (which also catches events moved between tickets' positions).
Events rewritten by a signed re-keying are read as first recorded (application/audit/
rekeyings.py): the digest, the seals and the checkpoints cover their former hashes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Collection, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from application.audit.checkpoints import Checkpoint, CheckpointError
from application.audit.hashing import PARALLEL_FROM, checked_pages
from application.audit.records import EventLog, StoredRecord
from application.audit.rekeyings import Formers, RekeyBook, former_of
from application.audit.seals import (
    LOG_GENESIS,
    AuditKey,
    Seal,
    SealBook,
    Watermark,
    extended,
    log_link,
)
from domain.chain import GENESIS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Break:
    """The first event of a ticket that does not verify, and why."""

    reason: str
    position: int | None = None
    version: int | None = None
    type: str | None = None

    @classmethod
    def at(cls, record: StoredRecord, reason: str) -> Break:
        """A break found at a stored event."""
        return cls(reason, record.position, record.version, record.type)


@dataclass(frozen=True)
class TicketVerdict:
    """One ticket's chain: intact, or where it first breaks."""

    ticket_id: UUID
    reference: str
    events: int
    sealed_version: int | None
    pending: int
    first_bad: Break | None

    @property
    def intact(self) -> bool:
        """Nothing recorded for this ticket was changed or removed."""
        return self.first_bad is None


@dataclass(frozen=True)
class Verification:
    """The outcome of a verification run over the whole store or one ticket."""

    tickets: list[TicketVerdict]
    events_checked: int
    seconds: float
    watermark: int | None
    problems: list[str] = field(default_factory=list)
    digest: str = ""
    rekeyed_events: int = 0
    """Events rewritten by a re-keying, read as first recorded."""

    @property
    def intact(self) -> bool:
        """Every ticket verifies and the seal keeper's record is sound."""
        return not self.problems and all(t.intact for t in self.tickets)

    @property
    def broken(self) -> list[TicketVerdict]:
        """The tickets that do not verify."""
        return [t for t in self.tickets if not t.intact]

    @property
    def events_per_second(self) -> float:
        """Throughput of this run."""
        return self.events_checked / self.seconds if self.seconds > 0 else 0.0


class _Walk:
    """One ticket's chain, walked in log order."""

    __slots__ = (
        "ticket_id",
        "reference",
        "seal",
        "watermark",
        "events",
        "version",
        "hash",
        "former",
        "formers",
        "pending",
        "first_bad",
        "instant",
    )

    def __init__(
        self,
        ticket_id: UUID,
        seal: Seal | None,
        watermark: int | None,
        key: AuditKey,
        formers: Formers | None = None,
    ) -> None:
        self.ticket_id = ticket_id
        self.reference = seal.reference if seal else str(ticket_id)
        self.seal = seal
        self.watermark = watermark
        self.events = 0
        self.version = 0
        self.hash = GENESIS
        self.former = GENESIS  # the last event's hash as first recorded
        self.formers = formers or {}
        self.pending = 0
        self.first_bad: Break | None = None
        self.instant: datetime | None = None
        if seal is not None and not seal.is_signed_by(key):
            self.first_bad = Break("its seal is not signed by the audit key: the seal was altered")

    def step(self, record: StoredRecord, computed: str) -> None:
        self.events += 1
        state = record.state
        if self.seal is None and isinstance(state.get("reference"), str):
            self.reference = state["reference"]
        if self.first_bad is not None:
            return
        # The usual event is told apart in a few looks: the next link, intact, dated after its
        # predecessor, and either covered by the seal or newer than what the keeper read.
        moment, seal = state.get("timestamp"), self.seal
        former = former_of(self.formers, self.ticket_id, record.version, computed)
        prev = state.get("prev_hash")
        if (
            record.version == self.version + 1
            and (prev == self.hash or prev == self.former)
            and state.get("hash") == computed
            and type(moment) is datetime
            and (self.instant is None or moment >= self.instant)
        ):
            if seal is not None and record.version <= seal.version:
                usual = record.version < seal.version or former == seal.hash
            else:
                usual = self.watermark is None or record.position > self.watermark
                self.pending += usual
            if usual:
                self.version, self.hash, self.former = record.version, computed, former
                self.instant = moment
                return
        self.first_bad = self._link_fault(record, computed) or self._seal_fault(record, former)
        if self.first_bad is not None:
            return
        self.version, self.hash, self.former = record.version, computed, former
        self.instant = record.timestamp or self.instant

    def _link_fault(self, record: StoredRecord, computed: str) -> Break | None:
        expected = self.version + 1
        if record.version > expected:
            return Break.at(record, f"version {expected} is missing: this event follows it")
        if record.version < expected:
            return Break.at(
                record,
                f"version {record.version} is recorded after version {self.version}: "
                "events are out of order",
            )
        if record.stored_hash is None:
            return Break.at(record, "the event carries no hash")
        if record.prev_hash not in (self.hash, self.former):
            return Break.at(
                record,
                f"it does not link to its predecessor: it names {record.prev_hash} "
                f"but version {self.version} hashes to {self.hash}",
            )
        if computed != record.stored_hash:
            return Break.at(
                record,
                f"its stored content was changed: it hashes to {computed}, "
                f"not to its recorded hash {record.stored_hash}",
            )
        moment = record.timestamp
        if self.instant is not None and (moment is None or moment < self.instant):
            return Break.at(
                record,
                f"it is dated {moment}, before its predecessor ({self.instant}): it was backdated",
            )
        return None

    def _seal_fault(self, record: StoredRecord, former: str) -> Break | None:
        seal = self.seal
        if seal is not None and record.version == seal.version and former != seal.hash:
            return Break.at(record, "it differs from the sealed head of the chain")
        if seal is not None and record.version <= seal.version:
            return None
        if self.watermark is not None and record.position <= self.watermark:
            return Break.at(
                record,
                "it was never sealed although the seal keeper read past its position: "
                "it was inserted into the record afterwards",
            )
        self.pending += 1
        return None

    def verdict(self) -> TicketVerdict:
        first_bad = self.first_bad or self._head_fault()
        seal_version = self.seal.version if self.seal else None
        return TicketVerdict(
            self.ticket_id, self.reference, self.events, seal_version, self.pending, first_bad
        )

    def _head_fault(self) -> Break | None:
        seal = self.seal
        if seal is None:
            return None
        if self.version < seal.version:
            removed = "all of its events were" if self.events == 0 else "its newest events were"
            return Break(
                f"the sealed head (version {seal.version}) is missing: {removed} removed; "
                f"the stored chain ends at version {self.version}",
                seal.position,
                seal.version,
            )
        return None


class ChainVerifier:
    """Recomputes hash chains and compares each head with its seal, and the log with the
    checkpoints kept outside the database."""

    def __init__(
        self,
        log: EventLog,
        key: AuditKey,
        checkpoints: Iterable[Checkpoint] = (),
        expect_record: bool = False,
        workers: int | None = None,
        parallel_from: int = PARALLEL_FROM,
    ) -> None:
        self.log = log
        self.key = key
        self.checkpoints = checkpoints
        # Hashing on every core (`hashing`): how many processes, and from what log length.
        self.workers = workers
        self.parallel_from = parallel_from
        # With a key configured for a running desk, an empty record was emptied.
        self.expect_record = expect_record
        self.book = SealBook(log.engine)
        self.rekeyings = RekeyBook(log.engine)

    def verify_store(self) -> Verification:
        """Every ticket in the store, in one pass over the log in position order."""
        statements = len(self.rekeyings.statements())
        result = self._verify_store_once()
        if not result.intact and len(self.rekeyings.statements()) != statements:
            # A re-keying rewrote events while they were being read: read them again.
            result = self._verify_store_once()
        return result

    def _verify_store_once(self) -> Verification:
        try:
            return self._verify_store(self.workers)
        except (BrokenProcessPool, OSError) as error:  # e.g. no process may be started here
            if self.workers == 1:
                raise  # nothing was asked of other processes: the failure is its own
            log.warning("audit verify: worker processes failed (%s); verifying in this one", error)
            return self._verify_store(1)

    def _verify_store(self, workers: int | None) -> Verification:
        started = time.perf_counter()
        seals = self.book.seals()
        mark, problems = self._watermark(seals)
        watermark = mark.position if mark else None
        expected = self._checkpoint_digests(problems)
        if mark is not None and expected:
            newest = max(expected)
            if mark.position < newest:
                problems.append(
                    f"the seals go back to position {mark.position}, behind the checkpoint at "
                    f"position {newest}: they were put back from an older copy"
                )
        digest_up_to = max([watermark or 0, *expected])
        formers = self.rekeyings.formers()
        problems.extend(self.rekeyings.problems(self.key))
        walks: dict[UUID, _Walk] = {}
        events = 0
        digest = marked = LOG_GENESIS
        for page in checked_pages(self.log, workers, self.parallel_from):
            for record, computed, link in page:
                walk = walks.get(record.ticket_id)
                if walk is None:
                    seal = seals.get(record.ticket_id)
                    walk = walks[record.ticket_id] = _Walk(
                        record.ticket_id, seal, watermark, self.key, formers
                    )
                walk.step(record, computed)
                if record.position <= digest_up_to:
                    former = former_of(formers, record.ticket_id, record.version, computed)
                    if former != computed:  # a rewritten event adds what it first added
                        link = log_link(record.position, record.ticket_id, record.version, former)
                    digest = extended(digest, link)
                    if record.position == watermark:
                        marked = digest
                    if expected.get(record.position, digest) != digest:
                        problems.append(_differs_from_checkpoint(record.position))
                    expected.pop(record.position, None)
            events += len(page)
        if mark is not None and marked != mark.digest:
            problems.append(
                f"the log up to position {mark.position} is not what the seal keeper read: "
                "events were changed, removed, inserted or moved"
            )
        for position in sorted(expected):  # positions the log no longer reaches
            problems.append(
                f"the log ends before position {position}, which a checkpoint kept outside the "
                "database saw: events were removed, or an older copy of the database restored"
            )
        if self.expect_record and not events:
            problems.append("the record is empty although the desk has been recording")
        for ticket_id, seal in seals.items():
            if ticket_id not in walks:
                walks[ticket_id] = _Walk(ticket_id, seal, watermark, self.key)
        report = self._report(walks.values(), events, started, watermark, problems)
        return replace(report, rekeyed_events=len(formers))

    def verify_ticket(self, ticket_id: UUID) -> Verification:
        """One ticket's chain and seal (the log digest needs the whole store)."""
        started = time.perf_counter()
        seals = self.book.seals([ticket_id])
        mark, problems = self._watermark(seals)
        formers = self.rekeyings.formers([ticket_id])
        walk = _Walk(
            ticket_id, seals.get(ticket_id), mark.position if mark else None, self.key, formers
        )
        records = self.log.of_ticket(ticket_id)
        for record in records:
            walk.step(record, record.computed_hash())
        walks = [walk] if records or walk.seal else []
        report = self._report(walks, len(records), started, walk.watermark, problems)
        return replace(report, rekeyed_events=len(formers))

    def verify_tickets(self, ticket_ids: Collection[UUID]) -> dict[UUID, TicketVerdict]:
        """Several tickets' chains and seals at once (the store's own problems are not
        theirs): the verdict of each that has an event or a seal."""
        wanted = list(ticket_ids)
        seals = self.book.seals(wanted)
        mark = self.book.watermark()
        position = mark.position if mark is not None and mark.is_signed_by(self.key) else None
        formers = self.rekeyings.formers(wanted)
        walks = {t: _Walk(t, seals.get(t), position, self.key, formers) for t in wanted}
        found = self.log.of_tickets(wanted)
        for ticket_id, records in found.items():
            for record in records:
                walks[ticket_id].step(record, record.computed_hash())
        return {t: w.verdict() for t, w in walks.items() if t in found or w.seal is not None}

    def _checkpoint_digests(self, problems: list[str]) -> dict[int, str]:
        """The digest each signed checkpoint expects at its position; unsigned ones reported."""
        expected: dict[int, str] = {}
        try:
            for checkpoint in self.checkpoints:
                if checkpoint.is_signed_by(self.key):
                    expected[checkpoint.position] = checkpoint.digest
                else:
                    problems.append(
                        f"the checkpoint of {checkpoint.at.isoformat()} is not signed by the "
                        "audit key"
                    )
        except CheckpointError as error:
            problems.append(f"the checkpoints cannot be read: {error}")
        if expected:
            self.expect_record = True
        return expected

    def _watermark(self, seals: dict[UUID, Seal]) -> tuple[Watermark | None, list[str]]:
        watermark = self.book.watermark()
        if watermark is None:
            if seals:
                return None, ["the seal keeper's watermark was removed"]
            if self.log.last_position():
                return None, ["the record is not sealed: the seal keeper has not run"]
            return None, []
        if not watermark.is_signed_by(self.key):
            return None, ["the seal keeper's watermark is not signed by the audit key"]
        return watermark, []

    def _report(
        self,
        walks: Collection[_Walk],
        events: int,
        started: float,
        watermark: int | None,
        problems: list[str],
    ) -> Verification:
        verdicts = sorted((w.verdict() for w in walks), key=lambda v: v.reference)
        return Verification(
            tickets=verdicts,
            events_checked=events,
            seconds=time.perf_counter() - started,
            watermark=watermark,
            problems=problems,
            digest=_digest(walks),
        )


def _differs_from_checkpoint(position: int) -> str:
    return (
        f"the log up to position {position} differs from the checkpoint kept outside the "
        "database: events were changed, removed or inserted"
    )


def _digest(walks: Iterable[_Walk]) -> str:
    """SHA-256 over every chain head: a value to keep elsewhere and compare later."""
    heads = sorted(f"{w.ticket_id}:{w.version}:{w.hash}" for w in walks)
    return hashlib.sha256("\n".join(heads).encode("utf-8")).hexdigest()
