"""One bad event can no longer stop a read model for ever: it is retried, then set aside.

The attack: an extension to 9999-12-31, recorded as an older release recorded it (before the
domain refused extensions beyond a year). Its business hours cannot be counted, so the queue
fails on it; the runner applies the rest of the log around it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from application.bootstrap import Container
from application.runtime.health import follower_gauges
from application.runtime.workers import WorkerPool
from domain.ticket import Ticket
from projections.quarantine import failed_events, quarantined
from projections.queue import QueueProjection, queue_table
from projections.readmodel import ReadModel, TrackingConflict
from projections.rows import Row
from projections.runner import (
    Runner,
    build_runners,
    positions,
    read_models,
    tracking_view,
    wait_until,
)
from tests.builders import act_at_random, attacked_log, record_extension, snapshot, submit
from tests.conftest import FakeClock
from tests.waiting import eventually, join


def queue_row(container: Container, reference: str) -> Any:
    with container.engine.connect() as connection:
        return connection.execute(
            sa.select(queue_table).where(queue_table.c.reference == reference)
        ).one()


def test_an_extension_to_year_9999_is_set_aside_and_the_rest_of_the_log_applied(
    container: Container, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    reference, bad = attacked_log(container, clock)
    head = container.desk.recorder.max_notification_id() or 0
    runners = build_runners(container)
    queue = runners["queue"]
    assert queue.max_attempts == container.settings.projection_max_attempts == 5
    caplog.set_level(logging.WARNING, logger="projections.runner")

    for attempt in range(1, 5):
        started = time.monotonic()
        with pytest.raises(ValueError, match="outside the calendar's years"):
            queue.catch_up()
        assert time.monotonic() - started < 10  # refused at once, not after laying out years
        assert queue.position() == bad - 1  # everything before it is applied
        assert f"queue: the event at position {bad} failed ({attempt} in a row" in caplog.text
    assert quarantined(container) == {}  # still retried
    assert queue.catch_up() == head - (bad - 1)  # the fifth failure: set aside, and on it goes
    for runner in runners.values():
        runner.catch_up()

    assert positions(container) == dict.fromkeys(runners, head)
    (failed,) = failed_events(container)
    assert (failed.read_model, failed.position, failed.attempts) == ("queue", bad, 5)
    assert failed.quarantined and failed.error.startswith("ValueError: 9999-12-3")
    assert failed.first_failed_at <= failed.last_failed_at
    row = queue_row(container, reference)
    assert row.resolution_due.year == 2026 and row.responded  # nothing of it, all the rest
    assert row.version == 3
    gauges = follower_gauges(container.engine, head, positions(container), quarantined(container))
    assert gauges["projection_quarantined_events"] == {
        "queue": 1.0,
        "sla": 0.0,
        "reports": 0.0,
        "suggestions": 0.0,
        "conversation": 0.0,
        "search": 0.0,
        "templates": 0.0,
    }
    assert gauges["projection_lag_events"]["queue"] == 0

    live = snapshot(container)
    for runner in build_runners(container).values():
        assert runner.rebuild() == head  # the event is tried once more, and set aside again
    assert snapshot(container) == live
    (again,) = failed_events(container)
    assert (again.position, again.attempts, again.quarantined) == (bad, 6, True)


def test_a_worker_sets_the_event_aside_and_follows_the_log(
    container: Container, clock: FakeClock
) -> None:
    reference, bad = attacked_log(container, clock)
    runners = build_runners(container)
    runner = Runner(container.desk, runners["queue"].read_model, max_attempts=2)
    pool = WorkerPool({"queue": runner})  # restarts the failing runner after a pause
    pool.start()
    try:
        assert wait_until(container, "queue", container.desk.recorder.max_notification_id(), 30)
        later = container.desk.resolve(reference, summary="Fixed", actor="sara").position
        assert wait_until(container, "queue", later, 30)
    finally:
        pool.stop()
    assert quarantined(container) == {"queue": 1}
    assert [event.position for event in failed_events(container)] == [bad]
    assert queue_row(container, reference).status == "resolved"


# ---- a read model whose transaction fails on some events, which is fixed later ---------------

_applied = sa.Table(
    "test_applied_events",
    sa.MetaData(),
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
)


class Refusing(ReadModel):
    """Records each event applied; fails, inside its transaction, on the events it refuses."""

    name = "test_refusing"
    tables = (_applied,)

    def __init__(self, *args: Any, refused: set[tuple[Any, int]]) -> None:
        super().__init__(*args)
        self.refused = refused

    def apply(self, connection: sa.Connection, domain_event: Any) -> None:
        key = (domain_event.originator_id, domain_event.originator_version)
        connection.execute(sa.insert(_applied).values(ticket_id=key[0], version=key[1]))
        if key in self.refused:
            raise ValueError(f"refused {key}")


def applied(container: Container) -> list[tuple[Any, int]]:
    with container.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.select(_applied))]


def test_a_failure_inside_the_transaction_is_traced_to_its_event_and_a_rebuild_retries_it(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(3), 40)
    log = container.desk.recorder.select_notifications(start=None, limit=1000)
    bad = log[len(log) // 2]
    model = Refusing(
        tracking_view(container), refused={(bad.originator_id, bad.originator_version)}
    )
    model.create_tables()
    runner = Runner(container.desk, model, batch_size=50, max_attempts=2)

    with pytest.raises(ValueError, match="refused"):
        runner.catch_up()  # the batch fails, then its events one by one up to the bad one
    assert runner.position() == log[len(log) // 2 - 1].id
    assert runner.catch_up() == len(log) - len(log) // 2
    assert len(applied(container)) == len(log) - 1  # every event but the bad one, once
    assert [(e.position, e.attempts) for e in failed_events(container)] == [(bad.id, 2)]

    model.refused.clear()  # the cause is fixed: a rebuild applies it and forgets the failure
    assert runner.rebuild() == len(log)
    assert len(applied(container)) == len(log)
    assert failed_events(container) == []


class Unreachable(Refusing):
    """Fails as a database that went away does."""

    def apply(self, connection: sa.Connection, domain_event: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))


def test_a_database_failure_is_never_held_against_an_event(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(4), 10)
    model = Unreachable(tracking_view(container), refused=set())
    model.create_tables()
    runner = Runner(container.desk, model, max_attempts=2)
    for _ in range(3):
        with pytest.raises(sa.exc.OperationalError):
            runner.catch_up()
    assert runner.position() == 0 and failed_events(container) == []


def test_an_event_is_set_aside_only_with_the_move_of_the_tracking_row(
    container: Container, clock: FakeClock
) -> None:
    _, bad = attacked_log(container, clock)
    (queue,) = [model for model in read_models(container) if model.name == "queue"]
    queue.create_tables()
    error = ValueError("out of range")
    assert queue.record_failure(bad, error, after=bad - 1, max_attempts=2) == 1
    with pytest.raises(TrackingConflict):  # the row is at 0, not at the event: nothing changes
        queue.record_failure(bad, error, after=bad - 1, max_attempts=2)
    assert [(e.attempts, e.quarantined) for e in failed_events(container)] == [(1, False)]
    assert queue.position() == 0


# ---- the write lock (SQLite) is not held while a batch is worked out ---------------------------


class Slow(QueueProjection):
    """The queue, folding one event slowly: the test holds it until it has written."""

    name = "test_slow_queue"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.folding = threading.Event()
        self.release = threading.Event()

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.DeadlineExtended):
            self.folding.set()
            self.release.wait(30)
        return super().fold(row, domain_event)


def test_others_write_while_a_slow_event_is_worked_out(
    sqlite_container: Container, clock: FakeClock
) -> None:
    container = sqlite_container
    reference = submit(container)
    record_extension(container, clock, reference, datetime(2026, 12, 1, tzinfo=UTC))
    model = Slow(tracking_view(container), container.sla)
    runner = Runner(container.desk, model)
    runner.read_model.create_tables()
    thread = threading.Thread(target=runner.catch_up)
    thread.start()
    try:
        eventually(model.folding.is_set, "the slow fold to start")
        started = time.monotonic()
        container.desk.respond(reference, message="meanwhile", actor="omar")
        written_in = time.monotonic() - started
    finally:
        model.release.set()
        join(thread, "the runner")
    assert written_in < 2  # SQLite's busy timeout is 5 s: held, the write would have failed
    assert runner.position() == container.desk.recorder.max_notification_id() == 3
