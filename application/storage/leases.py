"""Leases in the shared database: which process leads a single-writer worker, with an epoch
that its writes check (`Lease.fence`), so a leader deposed writes nothing. `Led` in
application/runtime/leadership.py runs a worker by its lease.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from application.storage.holders import has_ended, this_process

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=4)
"""A lease not renewed for this long is free: a standby takes over within it and a look."""

_RELEASED = datetime(1970, 1, 1, tzinfo=UTC)

metadata = sa.MetaData()
leases_table = sa.Table(
    "supportdesk_leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=False),
)


Fence = Callable[[Connection | None], None]
"""Raises `Deposed` unless the worker still leads: given the write's transaction, or alone."""


class Deposed(RuntimeError):
    """This process no longer holds the lease its write was fenced by."""


@dataclass(frozen=True)
class Leader:
    """Who holds a lease, as `supportdesk topology check` shows it."""

    name: str
    holder: str
    epoch: int
    renewed_at: datetime
    live: bool


class Lease:
    """The lease of one single-writer worker, held (or wanted) by this process."""

    def __init__(self, engine: Engine, name: str, holder: str | None = None) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or this_process()
        self.epoch: int | None = None  # while held: the epoch taken

    def acquire(self) -> bool:
        """Take the lease if it is free, or keep it if held; whether this process holds it."""
        table = leases_table
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(
                    table.c.holder,
                    table.c.epoch,
                    (table.c.renewed_at < sa.func.now() - LEASE).label("expired"),
                )
                .where(table.c.name == self.name)
                .with_for_update()
            ).first()
            if row is None:
                try:
                    with connection.begin_nested():
                        connection.execute(
                            table.insert().values(
                                name=self.name,
                                holder=self.holder,
                                epoch=1,
                                renewed_at=sa.func.now(),
                            )
                        )
                except sa.exc.IntegrityError:
                    return False  # another replica took it first
                self.epoch = 1
                return True
            if row.holder == self.holder and row.epoch == self.epoch:
                return self._renewed(connection)
            if not (row.expired or has_ended(row.holder)):
                self.epoch = None
                return False
            epoch = int(row.epoch) + 1
            connection.execute(
                table.update()
                .where(table.c.name == self.name)
                .values(holder=self.holder, epoch=epoch, renewed_at=sa.func.now())
            )
        log.info("%s: leading from epoch %d, after %s", self.name, epoch, row.holder)
        self.epoch = epoch
        return True

    def renew(self) -> bool:
        """Extend the lease held; False when it was taken over meanwhile."""
        with self.engine.begin() as connection:
            return self._renewed(connection)

    def _renewed(self, connection: Connection) -> bool:
        renewed = connection.execute(self._held().values(renewed_at=sa.func.now())).rowcount == 1
        if not renewed:
            self.epoch = None
        return renewed

    def release(self) -> None:
        """Give the lease up, so a standby takes over at its next look."""
        if self.epoch is None:
            return
        with self.engine.begin() as connection:
            connection.execute(self._held().values(renewed_at=_RELEASED))
        self.epoch = None

    def fence(self, connection: Connection | None = None) -> None:
        """Raise `Deposed` unless this process still holds the lease. Within a write's
        transaction the row stays locked until the write commits, so no one takes over
        meanwhile; without one, the check is its own transaction, just before the write."""
        if connection is None:
            with self.engine.begin() as own:
                return self.fence(own)
        held = connection.execute(
            sa.select(leases_table.c.epoch).where(*self._mine()).with_for_update(read=True)
        ).first()
        if held is None:
            raise Deposed(f"{self.name}: the lease of epoch {self.epoch} was taken over")
        return None

    def _held(self) -> sa.Update:
        return leases_table.update().where(*self._mine())

    def _mine(self) -> tuple[sa.ColumnElement[bool], ...]:
        """The lease's row, while it is held by this process at the epoch it took."""
        table = leases_table
        return (
            table.c.name == self.name,
            table.c.holder == self.holder,
            table.c.epoch == (self.epoch if self.epoch is not None else -1),
        )


def leaders(engine: Engine) -> list[Leader]:
    """Every lease: who holds it, and whether it is live (renewed within `LEASE`)."""
    table = leases_table
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table,
                (table.c.renewed_at >= sa.func.now() - LEASE).label("live"),
            ).order_by(table.c.name)
        ).all()
    return [
        Leader(row.name, row.holder, int(row.epoch), row.renewed_at, bool(row.live)) for row in rows
    ]
