"""The seal keeper: follows the log and keeps each ticket's chain head, signed (P7.1).

It is a projection whose read model is `supportdesk_audit_seals` and whose tracking record is
the signed watermark, written in the same transaction as the seals, so each event is sealed
exactly once, also after a crash. Unlike other read models it must never be rebuilt from the
log: a rebuild would seal whatever the log holds at that moment, tampering included. The
threat model is in application/audit_seals.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from application.audit.checkpoints import Checkpoint, CheckpointFile
from application.audit.records import EventLog, StoredRecord
from application.audit.rekeyings import Formers, RekeyBook, former_of
from application.audit.seals import (
    KEEPER,
    LOG_GENESIS,
    AuditKey,
    Seal,
    SealBook,
    Watermark,
    log_digest,
    seals_table,
    watermark_table,
)
from application.desk import Clock, utc_now
from application.storage.leases import Fence
from domain.chain import GENESIS

PAGE = 500
CHECKPOINT_EVERY = timedelta(minutes=1)
"""How often the keeper appends a checkpoint while it seals: the events of the last interval
are covered by the seals alone until the next one."""


class SealingRefused(RuntimeError):
    """The keeper's own record is missing or not signed by the key: it will not go on."""


class _Overtaken(Exception):
    """Another keeper sealed this page first."""


class SealKeeper:
    """Extends each ticket's seal with the events that link to it, in log order."""

    name = KEEPER

    def __init__(
        self,
        app: Application[Any],
        key: AuditKey,
        checkpoints: CheckpointFile | None = None,
        checkpoint_every: timedelta = CHECKPOINT_EVERY,
        clock: Clock = utc_now,
        accesses: Callable[[], int] | None = None,
    ) -> None:
        self.log = EventLog(app)
        self.book = SealBook(self.log.engine)
        self.rekeyings = RekeyBook(self.log.engine)
        self.key = key
        self.checkpoints = checkpoints
        self.checkpoint_every = checkpoint_every
        self._clock = clock
        self._accesses = accesses  # counts the audit access log's entries for each checkpoint
        # The newest checkpoint this keeper knows of: the database must never be behind it.
        self._checkpoint = checkpoints.last() if checkpoints else None
        # Set where replicas elect a leader: seals are written only while this one leads.
        self.fence: Fence | None = None
        self._start()

    def _start(self) -> None:
        # A watermark is created only for a book with no seals at all: if the seals exist
        # but the watermark is gone, someone removed it, and starting again from position 0
        # would seal what they left behind.
        if self.book.watermark() is None and not self.book.seals():
            start = Watermark.make(self.key, 0, LOG_GENESIS)
            try:
                with self.log.engine.begin() as connection:
                    connection.execute(
                        insert(watermark_table).values(
                            keeper=KEEPER,
                            position=start.position,
                            digest=start.digest,
                            mac=start.mac,
                        )
                    )
            except IntegrityError:
                pass  # another keeper, starting at the same moment, made it first

    def catch_up(self, page_size: int = PAGE) -> int:
        """Seal every event recorded since the watermark; how many events were read."""
        total = 0
        while (done := self._seal_page(page_size)) > 0:
            total += done
        return total

    def run(self, stop: threading.Event, interval: float = 0.2) -> None:
        """Keep sealing until `stop` is set: the audit worker."""
        while not stop.is_set():
            if self.catch_up() == 0:
                stop.wait(interval)

    def _watermark(self) -> Watermark:
        watermark = self.book.watermark()
        if watermark is None:
            raise SealingRefused("the seal keeper's watermark is missing")
        if not watermark.is_signed_by(self.key):
            raise SealingRefused("the seal keeper's watermark is not signed by the audit key")
        last = self._checkpoint
        if last is not None and (
            watermark.position < last.position
            or (watermark.position == last.position and watermark.digest != last.digest)
        ):
            # Signed rows from an older copy were put back: sealing on would sign over
            # whatever was changed since. Stop, and say so, until an operator looks.
            raise SealingRefused(
                f"the database's seals reach position {watermark.position}, behind the "
                f"checkpoint of {last.at.isoformat()} at position {last.position}: "
                "the database was rolled back or its seals put back from an older copy"
            )
        return watermark

    def _keep_checkpoint(self, watermark: Watermark) -> None:
        """Append the watermark to the checkpoint file, at most once per `checkpoint_every`."""
        last, now = self._checkpoint, self._clock()
        if self.checkpoints is None or watermark.position == 0:
            return
        if last is not None and (
            last.position == watermark.position or now - last.at < self.checkpoint_every
        ):
            return
        accesses = self._accesses() if self._accesses else None
        checkpoint = Checkpoint.make(self.key, watermark.position, watermark.digest, now, accesses)
        self.checkpoints.append(checkpoint)
        self._checkpoint = checkpoint

    def _seal_page(self, page_size: int) -> int:
        watermark = self._watermark()
        records = next(self.log.pages(after=watermark.position, page_size=page_size), [])
        if not records:
            return 0
        tickets = {r.ticket_id for r in records}
        known = self.book.seals(tickets)
        # Read after the page: a re-keying writes its entries with the events it rewrites, so
        # a rewritten event read here has its entry found here.
        formers = self.rekeyings.formers(tickets)
        heads = dict(known)
        digest = watermark.digest
        for record in records:
            computed = record.computed_hash()
            content = former_of(formers, record.ticket_id, record.version, computed)
            digest = log_digest(digest, record.position, record.ticket_id, record.version, content)
            sealed = self._extend(heads.get(record.ticket_id), record, computed, formers)
            if sealed is not None:
                heads[record.ticket_id] = sealed
        moved = Watermark.make(self.key, records[-1].position, digest)
        try:
            with self.log.engine.begin() as connection:
                if self.fence is not None:
                    self.fence(connection)
                self._advance(connection, watermark, moved)
                self._write(connection, known, heads)
        except _Overtaken:
            return len(records)  # another keeper sealed this page; read on from where it got to
        self._keep_checkpoint(moved)
        return len(records)

    def _extend(
        self, head: Seal | None, record: StoredRecord, computed: str, formers: Formers
    ) -> Seal | None:
        # Only an event that links to the sealed head moves the seal; anything else is left
        # for verification to name, and the seal stays on the last good link. Seals hold
        # hashes as first recorded, and an event may link to either hash of a rewritten one.
        expected_version = head.version + 1 if head else 1
        expected_prev = head.hash if head else GENESIS
        if record.version != expected_version or record.prev_hash is None:
            return None
        linked = former_of(formers, record.ticket_id, record.version - 1, record.prev_hash)
        if linked != expected_prev:
            return None
        if record.stored_hash != computed:
            return None
        content = former_of(formers, record.ticket_id, record.version, computed)
        reference = head.reference if head else str(record.state.get("reference", record.ticket_id))
        return Seal.make(
            self.key, record.ticket_id, reference, record.version, content, record.position
        )

    @staticmethod
    def _advance(connection: Connection, watermark: Watermark, moved: Watermark) -> None:
        # Moving the watermark first takes its row lock, so a second keeper waits here and
        # then finds the watermark moved, and its whole transaction is abandoned.
        result = connection.execute(
            update(watermark_table)
            .where(watermark_table.c.keeper == KEEPER)
            .where(watermark_table.c.position == watermark.position)
            .values(position=moved.position, digest=moved.digest, mac=moved.mac)
        )
        if result.rowcount != 1:
            raise _Overtaken

    @staticmethod
    def _write(connection: Connection, known: dict[UUID, Seal], heads: dict[UUID, Seal]) -> None:
        created = [s.row() for t, s in heads.items() if t not in known]
        changed = [
            {**s.row(), "sealed_ticket": s.row()["ticket_id"]}
            for t, s in heads.items()
            if t in known and s != known[t]
        ]
        if created:
            connection.execute(insert(seals_table), created)
        if changed:
            connection.execute(
                update(seals_table).where(seals_table.c.ticket_id == bindparam("sealed_ticket")),
                changed,
            )
