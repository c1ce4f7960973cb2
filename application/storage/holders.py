"""Who holds a claim: a process, named by its host, its pid and when it started, so that a claim
dies with the process that made it.

On the claim's own host the desk can tell at once whether that process still runs: the pid is
alive and started when the name says (a pid reused by a later process started later). On
another host it reads the process's signs of life, which every process sharing a PostgreSQL
database records every two seconds (`Heartbeat`); without them a claim lasts as long as a
request may run (the web server stops any request after its timeout).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.storage.instants import aware

log = logging.getLogger(__name__)

_HOST = socket.gethostname()


def _started(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux); None when unknown, or when
    it has ended and only waits to be reaped (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if len(fields) <= 19 or fields[0] in ("Z", "X"):  # field 3 of stat: the process's state
        return None
    return fields[19]  # field 22 of stat, after pid and name


@cache
def _identity(pid: int) -> str:
    # Cached per pid: a forked worker names itself, not its parent.
    return f"{_HOST}/{pid}/{_started(pid) or uuid.uuid4().hex[:12]}"


def this_process() -> str:
    """The name of the running process, as claims record it."""
    return _identity(os.getpid())


def has_ended(holder: str) -> bool | None:
    """Whether the named process has ended: True or False when it ran on this host, None when
    that cannot be told here (another host, or a name this release did not write)."""
    host, _, rest = holder.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != _HOST or not pid_text.isdigit():
        return None
    if not os.path.exists("/proc/self/stat"):
        return None  # no /proc on this system: cannot tell
    now = _started(int(pid_text))
    return now is None or now != started


# ---- signs of life, for claims held on other machines -------------------------------------------

BEAT_EVERY = 2.0
"""Seconds between a process's signs of life."""

STALE_AFTER = timedelta(seconds=6)
"""A process whose last sign of life is older than this has ended (or lost the database)."""

FORGOTTEN = timedelta(days=1)
"""A process's row is deleted this long after its last sign of life."""

metadata = sa.MetaData()
processes_table = sa.Table(
    "supportdesk_processes",
    metadata,
    sa.Column("holder", sa.String(200), primary_key=True),
    sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
    # What the process does (web, worker: relay, queue, …), for `supportdesk topology check`.
    sa.Column("role", sa.String(200), nullable=True),
)


@dataclass(frozen=True)
class Running:
    """A process that gave signs of life, as `supportdesk topology check` lists it."""

    holder: str
    role: str | None
    beat_at: datetime
    live: bool


def running(engine: Engine, now: datetime) -> list[Running]:
    """The processes that gave signs of life in the last day, the live ones first."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(processes_table)).all()
    found = [
        Running(row.holder, row.role, aware(row.beat_at), aware(row.beat_at) > now - STALE_AFTER)
        for row in rows
    ]
    return sorted(found, key=lambda p: (not p.live, p.role or "", p.holder))


class Heartbeat:
    """This process's sign of life in the shared database, every `BEAT_EVERY` seconds, so
    that other machines can tell when a claim's process has ended."""

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self.engine = engine
        self._now = now
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.role: str | None = None

    def start(self, role: str | None = None) -> None:
        """Beat now and from now on (again in a forked process, whose threads did not follow);
        with `role`, say what this process does."""
        if role is not None and role[:200] != self.role:
            self.role = role[:200]
            if self._pid == os.getpid():
                self.beat()
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None:
                return
            self._pid = os.getpid()
            self.beat()
            # The thread holds the heartbeat weakly: one nobody holds any more stops beating.
            self._thread = threading.Thread(
                target=_keep_beating,
                args=(weakref.ref(self), self.stopping),
                name="heartbeat",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def beat(self) -> None:
        now = self._now()
        holder = this_process()
        with self.engine.begin() as connection:
            updated = connection.execute(
                processes_table.update()
                .where(processes_table.c.holder == holder)
                .values(beat_at=now, role=self.role)
            ).rowcount
            if not updated:
                connection.execute(
                    processes_table.insert().values(holder=holder, beat_at=now, role=self.role)
                )
                # Processes long gone leave their rows: a new process clears them.
                connection.execute(
                    processes_table.delete().where(processes_table.c.beat_at < now - FORGOTTEN)
                )

    def alive(self, holder: str) -> bool | None:
        """Whether the named process still gives signs of life; None if it never gave any."""
        with self.engine.connect() as connection:
            beat_at = connection.execute(
                sa.select(processes_table.c.beat_at).where(processes_table.c.holder == holder)
            ).scalar()
        if beat_at is None:
            return None
        return bool(aware(beat_at) > self._now() - STALE_AFTER)


def _keep_beating(held: weakref.ref[Heartbeat], stopping: threading.Event) -> None:
    while not stopping.wait(BEAT_EVERY):
        heartbeat = held()
        if heartbeat is None:
            return
        try:
            heartbeat.beat()
        except sa.exc.SQLAlchemyError as error:  # the database is away: beat again later
            log.warning("heartbeat not recorded: %s", error)
        del heartbeat  # not held while waiting
