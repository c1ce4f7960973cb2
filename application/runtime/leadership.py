"""One leader among the replicas of a single-writer worker (the outbox relay, the SLA watcher,
the seal keeper), by a lease in the shared PostgreSQL database.

Every machine may run every worker: of each single-writer worker, one replica leads and works,
the others stand by and look again every half second. The leader renews its lease every second.
A lease not renewed for `LEASE` (by the database's clock) is free, and so at once is the lease
of a process of this host that has ended. Whoever takes a lease raises its epoch.

A leader that has not renewed for `STEP_DOWN` (by its own clock, shorter than `LEASE`) stops
working before anyone else can start; and the writes it fences (`Lease.fence`) check its epoch
in their own transaction, so a leader deposed all the same (a paused process, a clock that
jumped) writes nothing once another has taken over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import sqlalchemy as sa

from application.runtime.workers import Worker
from application.storage.leases import Deposed, Fence, Lease

log = logging.getLogger(__name__)

RENEW_EVERY = 1.0
"""Seconds between the leader's renewals."""

STEP_DOWN = 2.5
"""Seconds without a renewal after which a leader stops working (less than `LEASE`)."""

LOOK_EVERY = 0.5
"""Seconds between a standby's looks at the lease."""


@runtime_checkable
class Fenced(Protocol):
    """A worker whose writes check, each in its own transaction, that it still leads."""

    fence: Fence | None


class Led:
    """A single-writer worker that works only while this process holds its lease."""

    def __init__(self, worker: Worker, lease: Lease) -> None:
        self.worker = worker
        self.lease = lease
        if isinstance(worker, Fenced):
            worker.fence = lease.fence

    @property
    def name(self) -> str:
        return self.lease.name

    def run(self, stop: threading.Event) -> None:
        """Stand by until the lease is this process's, work while it is, until `stop`."""
        standing_by = False
        while not stop.is_set():
            if not _tried(self.lease.acquire):
                if not standing_by:
                    log.info("%s: standing by", self.name)
                    standing_by = True
                stop.wait(LOOK_EVERY)
                continue
            standing_by = False
            self._lead(stop)
        try:
            self.lease.release()
        except sa.exc.SQLAlchemyError:
            pass  # unreleased, the lease frees itself after LEASE

    def _lead(self, stop: threading.Event) -> None:
        """Run the worker until `stop`, or until the lease is lost or not renewed in time."""
        working = threading.Event()  # set: the worker stops
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self.worker.run(working)
            except BaseException as error:  # raised again in the leading thread below
                failure.append(error)

        thread = threading.Thread(target=work, name=f"{self.name}-leading", daemon=True)
        thread.start()
        renewed = time.monotonic()
        try:
            while not stop.is_set() and thread.is_alive():
                stop.wait(RENEW_EVERY)
                held = _tried(self.lease.renew)
                if held:
                    renewed = time.monotonic()
                elif held is False:
                    log.warning("%s: the lease was taken over; standing by", self.name)
                    return
                elif time.monotonic() - renewed > STEP_DOWN:
                    log.warning("%s: the lease could not be renewed; standing by", self.name)
                    return
        finally:
            working.set()
            thread.join()
        if failure and isinstance(failure[0], Deposed):
            log.warning("%s: %s; standing by", self.name, failure[0])
        elif failure:
            raise failure[0]


def _tried(attempt: Callable[[], bool]) -> bool | None:
    """The answer of a look at the lease; None when the database could not be asked."""
    try:
        return attempt()
    except sa.exc.SQLAlchemyError as error:
        log.warning("lease: the database is away (%s)", error)
        return None
