"""Runners: keep read models up to date from the desk's log, rebuild them, wait for them.

`build_runners(container)` gives one `Runner` per read model of the query side (`queue`,
`sla`, `reports`, `suggestions`, `conversation`, `search`, `templates`), their tables
created where missing (`prepare`). A runner follows the log (`run(stop)`: on PostgreSQL
it wakes on each commit's NOTIFY, on SQLite it polls), applies everything recorded so far
(`catch_up`), or replays the whole log into fresh tables (`rebuild`). `wait_until` gives
read-your-writes; `positions` says where each stands.

Each batch is one transaction holding the read model's changes and the move of its tracking
row, so an event is applied exactly once, also when the process is killed mid-batch. Batches
are many events long: live, whatever arrived since the last one; in a rebuild, thousands.

An event the read model fails on is never skipped silently, nor allowed to stop it for ever.
The events before it are applied; its failure is counted, logged and raised, so the worker pool
restarts the runner after a pause and it tries again. At the `max_attempts`-th failure in a row
(`SUPPORTDESK_PROJECTION_MAX_ATTEMPTS`) the event is set aside (projections/quarantine.py) and
the runner goes on. Failures of the database itself (a lost connection, a lock, a missing
table) say nothing about the event and are never counted.
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from eventsourcing_sqlalchemy.recorders import (
    SQLAlchemyApplicationRecorder,
    SQLAlchemyTrackingRecorder,
)

from application.bootstrap import Container
from application.settings import Settings
from application.storage.event_log import WAKE_INTERVAL, await_notification, listening
from projections.conversation import ConversationProjection
from projections.quarantine import blames_the_event
from projections.queue import QueueProjection
from projections.readmodel import TRACKING_TABLE, EventFailed, ReadModel, TrackingConflict
from projections.rebuild import beside, can_rebuild_beside, swap_in
from projections.reports import ReportsProjection
from projections.search import SearchProjection
from projections.sla import SlaProjection
from projections.suggestions import SuggestionsProjection
from projections.templates import TemplatesProjection

log = logging.getLogger(__name__)

READ_MODELS = ("queue", "sla", "reports", "suggestions", "conversation", "search", "templates")
"""The query side's read models, which `wait_until(..., "all", ...)` waits for."""

LIVE_BATCH = 500
REBUILD_BATCH = 5000
POLL_INTERVAL = 0.05  # SQLite: how long an idle runner sleeps between looks at the log


def tracking_view(container: Container) -> SQLAlchemyTrackingRecorder:
    """The tracking recorder every read model uses as its `view`, in the event store's database."""
    return SQLAlchemyTrackingRecorder(
        container.desk.recorder.datastore,  # type: ignore[attr-defined]
        tracking_table_name=TRACKING_TABLE,
    )


def read_models(container: Container) -> list[ReadModel]:
    """The query side's read models, built on the container's SLA policy and calendar."""
    view = tracking_view(container)
    return [
        QueueProjection(view, container.sla),
        SlaProjection(view, container.sla),
        ReportsProjection(view, container.sla),
        SuggestionsProjection(view),
        ConversationProjection(view, container.calendar.timezone),
        SearchProjection(view),
        TemplatesProjection(view),
    ]


def prepare(container: Container) -> None:
    """Create the query side's tables and tracking rows where missing, so queries can run."""
    for model in read_models(container):
        model.create_tables()


def build_runners(container: Container) -> dict[str, Runner]:
    """One runner per read model of the query side, by name; missing tables are created."""
    prepare(container)
    attempts = container.settings.projection_max_attempts
    return {
        model.name: Runner(container.desk, model, max_attempts=attempts)
        for model in read_models(container)
    }


class _Failed(Exception):
    """The event at `position` could not be decoded or worked out."""

    def __init__(self, position: int, error: Exception) -> None:
        super().__init__(f"position {position}: {error!r}")
        self.position = position
        self.error = error


class Runner:
    """Applies the log to one read model, a batch per transaction."""

    def __init__(
        self,
        app: Application[Any],
        read_model: ReadModel,
        batch_size: int = LIVE_BATCH,
        max_attempts: int = Settings.projection_max_attempts,
    ) -> None:
        self._app = app
        self.read_model = read_model
        self.recorder: SQLAlchemyApplicationRecorder = app.recorder  # type: ignore[assignment]
        self.mapper = app.mapper
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._events: sa.Table = self.recorder.events_record_cls.__table__
        self._wanted = frozenset(read_model.topics)
        self._position: int | None = None
        # The next batch, read in advance while one is applied: (after, limit, its reading).
        self._ahead: tuple[int, int, Future[list[Notification]]] | None = None
        self._reader: ThreadPoolExecutor | None = None

    @property
    def name(self) -> str:
        """The read model's name."""
        return self.read_model.name

    def position(self) -> int:
        """The last log position applied to the read model."""
        return self.read_model.position() or 0

    def catch_up(self) -> int:
        """Apply everything recorded so far; how many events of the log it went through."""
        return self._drain(self.batch_size)

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Replay the whole log into new tables; how many events it read. They are built
        beside the live ones and swapped in at the end (projections/rebuild.py); only a
        database in memory is dropped and replayed in place."""
        self._position = None
        if can_rebuild_beside(self.read_model):
            with beside(self.read_model) as rebuilt:
                replay = Runner(self._app, rebuilt, REBUILD_BATCH, self.max_attempts)
                read = replay._drain(REBUILD_BATCH, progress)
                swap_in(self.read_model, rebuilt)
            self.read_model.create_tables()  # what is made by hand beside the tables
            return read
        with self.read_model.engine.begin() as connection:
            self.read_model.drop_tables(connection)
        self.read_model.create_tables()
        return self._drain(REBUILD_BATCH, progress)

    def _drain(
        self,
        limit: int,
        progress: Callable[[int], None] | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        total = 0
        self._ahead = None  # what an earlier drain read in advance may be out of date
        # Leaving the block waits for a batch read in advance and not needed, whatever it found.
        with ThreadPoolExecutor(1, thread_name_prefix="read-ahead") as self._reader:
            while stop is None or not stop.is_set():  # a stop request is heeded between batches
                try:
                    read = self._next_batch(limit)
                except TrackingConflict:
                    # Another runner of this read model (or a rebuild) went first: go on from
                    # wherever the tracking row now says.
                    log.info("%s: overtaken; reading the position again", self.name)
                    self._position = None
                    continue
                if not read:
                    return total
                total += read
                if progress is not None:
                    progress(self._position or 0)
            return total

    def run(self, stop: threading.Event) -> None:
        """Follow the log until `stop` is set."""
        if self.read_model.engine.dialect.name == "postgresql":
            self._follow_notifications(stop)
        else:
            self._poll(stop)

    def _next_batch(self, limit: int) -> int:
        """Apply up to `limit` events after the position; how many were read (0: none new)."""
        after = self._position
        if after is None:
            after = self.read_model.position()
            if after is None:  # the tracking row is gone (a rebuild elsewhere): set it up
                self.read_model.create_tables()
                after = 0
        notifications = self._read_from(after, limit)
        self._position = after
        if not notifications:
            return 0
        upto = notifications[-1].id
        if len(notifications) == limit and self._reader is not None:
            # A full batch, so more are waiting: they are read while this one is applied, and
            # the database's side of reading overlaps the folding here instead of adding to it.
            reading = self._reader.submit(self.read_notifications, upto, limit)
            self._ahead = (upto, limit, reading)
        self._apply_all(after, notifications)
        return len(notifications)

    def _apply_all(self, after: int, notifications: list[Notification]) -> None:
        """Apply the notifications after `after`, going on past any event set aside."""
        while notifications:
            after = self._apply(after, notifications)
            notifications = notifications[bisect_right(notifications, after, key=_id_of) :]

    def _apply(self, after: int, notifications: list[Notification]) -> int:
        """Apply the notifications, or those up to an event that failed and was set aside; the
        position reached. A failure of an event not (yet) set aside is raised."""
        upto = notifications[-1].id
        try:
            self._commit(after, notifications)
        except _Failed as failed:
            return self._failed_at(after, notifications, failed.position, failed.error)
        except TrackingConflict:
            raise
        except Exception as error:
            if not blames_the_event(error):
                raise
            if len(notifications) == 1:
                return self._failed_at(after, notifications, upto, error)
            # The batch's transaction failed and does not say on which event: one at a time,
            # the events before it are applied and the failing one is found.
            log.info(
                "%s: a batch up to %d failed (%r); applying it event by event",
                self.name,
                upto,
                error,
            )
            for notification in notifications:
                after = self._apply(after, [notification])
            return after
        self._position = upto
        log.debug("%s: applied events up to %d", self.name, upto)
        return upto

    def _commit(self, after: int, notifications: list[Notification]) -> None:
        """Decode the events the read model reads and commit them with the tracking row's move;
        `_Failed` names an event that cannot be decoded or worked out."""
        positions: list[int] = []
        domain_events: list[Any] = []
        prefetch = getattr(self.mapper.transcoder, "prefetch", None)
        if prefetch is not None:  # the batch's keys in one query, not one per ticket
            prefetch([n.state for n in notifications])
        for notification in notifications:
            if self._wanted and notification.topic not in self._wanted:
                continue
            try:
                domain_events.append(self.mapper.to_domain_event(notification))
            except Exception as error:  # an unreadable record is the event's fault
                raise _Failed(notification.id, error) from error
            positions.append(notification.id)
        try:
            self.read_model.commit(domain_events, after=after, upto=notifications[-1].id)
        except EventFailed as failed:
            raise _Failed(positions[failed.index], failed.error) from failed.error

    def _failed_at(
        self, after: int, notifications: list[Notification], position: int, error: Exception
    ) -> int:
        """Apply the events before the one that failed, count its failure and set it aside at
        the last attempt; the position reached. Before the last attempt, the error is raised."""
        before = notifications[: bisect_left(notifications, position, key=_id_of)]
        if before:
            self._apply_all(after, before)
            after = before[-1].id
        attempts = self.read_model.record_failure(
            position, error, after=after, max_attempts=self.max_attempts
        )
        log.warning(
            "read model %s: the event at position %d failed (%d in a row, set aside at %d): %s: %s",
            self.name,
            position,
            attempts,
            self.max_attempts,
            type(error).__name__,
            error,
        )
        if attempts < self.max_attempts:
            raise error
        log.error(
            "read model %s: the event at position %d is set aside, unapplied, after %d failures",
            self.name,
            position,
            attempts,
            exc_info=error,
        )
        self._position = position
        return position

    def _read_from(self, after: int, limit: int) -> list[Notification]:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            read_after, read_limit, reading = ahead
            found = reading.result()  # a failure to read it is raised here
            if (read_after, read_limit) == (after, limit):
                return found
        return self.read_notifications(after, limit)

    def read_notifications(self, after: int, limit: int) -> list[Notification]:
        """The next notifications of the log after position `after`.

        Read with one Core SELECT of the recorder's own table: the recorder's
        `select_notifications` builds an ORM object per row, which took half of a rebuild.
        """
        table = self._events
        query = (
            sa.select(
                table.c.id,
                table.c.originator_id,
                table.c.originator_version,
                table.c.topic,
                table.c.state,
            )
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(limit)
        )
        with self.read_model.engine.connect() as connection:
            return [
                Notification(
                    id=row.id,
                    originator_id=row.originator_id,
                    originator_version=row.originator_version,
                    topic=row.topic,
                    state=row.state,
                )
                for row in connection.execute(query).all()
            ]

    def _poll(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self._drain(self.batch_size, stop=stop) == 0:
                stop.wait(POLL_INTERVAL)

    def _follow_notifications(self, stop: threading.Event) -> None:
        # Blocks in select() on the listening connection, so a commit wakes it at once; and
        # looks at the log every WAKE_INTERVAL all the same.
        with listening(self.read_model.engine, self.recorder.channel_name) as listener:
            self._drain(self.batch_size, stop=stop)  # after LISTEN: nothing committed is missed
            while not stop.is_set():
                await_notification(listener, WAKE_INTERVAL)
                self._drain(self.batch_size, stop=stop)


def _id_of(notification: Notification) -> int:
    return notification.id


def positions(container: Container) -> dict[str, int]:
    """Every read model's last applied log position, by name."""
    table = tracking_view(container).tracking_table
    with container.engine.connect() as connection:
        rows = connection.execute(sa.select(table.c.application_name, table.c.notification_id))
        return {name: position or 0 for name, position in rows}


def wait_until(container: Container, name_or_all: str, position: int, timeout: float) -> bool:
    """Whether the read model (or all of the query side's) reached `position` within `timeout`."""
    names = READ_MODELS if name_or_all == "all" else (name_or_all,)
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        reached = positions(container)
        if all(reached.get(name, 0) >= position for name in names):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.05)
