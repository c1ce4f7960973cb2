"""The event log's recorder on the real PostgreSQL: the library's conformance suite, and more."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from eventsourcing.persistence import IntegrityError
from eventsourcing.tests.persistence import ApplicationRecorderTestCase
from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore

from application.storage import event_log
from application.storage.event_log import EventLogRecorder
from tests.builders import stored
from tests.waiting import Recorded, eventually

pytestmark = pytest.mark.postgres


class TestEventLogRecorderConformance(ApplicationRecorderTestCase[EventLogRecorder]):
    """The library's own suite for application recorders, run on ours."""

    url = ""
    datastores: list[SQLAlchemyDatastore]

    @pytest.fixture(autouse=True)
    def _database(self, postgres_url: str) -> Iterator[None]:
        self.url = postgres_url
        self.datastores = []
        yield
        for datastore in self.datastores:
            assert datastore.engine is not None
            datastore.engine.dispose()  # type: ignore[union-attr]

    def create_recorder(self) -> EventLogRecorder:
        datastore = SQLAlchemyDatastore(url=self.url)
        self.datastores.append(datastore)
        recorder = EventLogRecorder(datastore, events_table_name="stored_events")
        recorder.create_table()
        return recorder


@pytest.fixture
def recorder(postgres_url: str) -> Iterator[EventLogRecorder]:
    datastore = SQLAlchemyDatastore(url=postgres_url)
    recorder = EventLogRecorder(datastore, events_table_name="tickets_events")
    recorder.create_table()
    yield recorder
    assert datastore.engine is not None
    datastore.engine.dispose()  # type: ignore[union-attr]


def test_ids_follow_the_order_given_across_aggregates(recorder: EventLogRecorder) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    events = [stored(second, 1), stored(first, 1), stored(second, 2)]
    ids = recorder.insert_events(events)
    assert ids == [1, 2, 3]
    notifications = recorder.select_notifications(start=None, limit=10)
    assert [(n.originator_id, n.originator_version) for n in notifications] == [
        (second, 1),
        (first, 1),
        (second, 2),
    ]
    assert [e.state for e in recorder.select_events(second)] == [b"\x00\xff"] * 2


def test_a_conflicting_save_records_none_of_its_events(recorder: EventLogRecorder) -> None:
    taken = uuid.uuid4()
    recorder.insert_events([stored(taken, 1)])
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(uuid.uuid4(), 1), stored(taken, 1)])
    assert len(recorder.select_notifications(start=None, limit=10)) == 1
    assert recorder.insert_events([stored(taken, 2)]) is not None  # the connection still works


def test_reads_by_version_range(recorder: EventLogRecorder) -> None:
    ticket = uuid.uuid4()
    recorder.insert_events([stored(ticket, v) for v in range(1, 6)])
    assert [e.originator_version for e in recorder.select_events(ticket, gt=2)] == [3, 4, 5]
    assert [e.originator_version for e in recorder.select_events(str(ticket), lte=2)] == [1, 2]
    newest = recorder.select_events(ticket, desc=True, limit=2)
    assert [e.originator_version for e in newest] == [5, 4]
    assert all(e.originator_id == ticket for e in newest)


def test_a_save_waits_for_the_table_lock_so_ids_commit_in_order(
    recorder: EventLogRecorder, postgres_url: str
) -> None:
    # A save takes the table's lock like the library's does: while another transaction holds
    # it (it might have drawn a lower id), the save waits and its id cannot overtake.
    holder = psycopg2.connect(postgres_url.replace("+psycopg2", ""))
    try:
        with holder.cursor() as cursor:
            cursor.execute("LOCK TABLE tickets_events IN EXCLUSIVE MODE")
        done: list[object] = []
        saving = threading.Thread(
            target=lambda: done.append(recorder.insert_events([stored(uuid.uuid4(), 1)]))
        )
        saving.start()
        with psycopg2.connect(postgres_url.replace("+psycopg2", "")) as observer:
            observer.autocommit = True
            for _ in range(500):
                with observer.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND query LIKE 'LOCK TABLE tickets_events%%'"
                    )
                    row = cursor.fetchone()
                if row is not None and row[0] == 1:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the save never waited for the table lock")
        assert not done
        holder.commit()
        saving.join(10)
        assert done == [[1]]
    finally:
        holder.close()


def test_a_subscriber_hears_of_an_event_recorded_while_it_was_starting(
    recorder: EventLogRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The listening connection comes up late, as on a busy machine. The library's own
    # subscription read the log first and began to LISTEN only then: an event committed in
    # between was never announced, and its subscriber waited for ever.
    opened = event_log.connect_directly

    def slow_to_connect(engine: Any) -> Any:
        time.sleep(0.5)
        return opened(engine)

    monkeypatch.setattr(event_log, "connect_directly", slow_to_connect)
    received: list[int] = []
    with recorder.subscribe(gt=recorder.max_notification_id()) as subscription:
        follower = Recorded(lambda: received.extend(n.id for n in subscription), "subscriber")
        follower.start()
        (position,) = recorder.insert_events([stored(uuid.uuid4(), 1)]) or [0]
        eventually(lambda: position in received, f"the subscriber to receive event {position}")
    follower.finish()


def test_a_subscription_delivers_each_event_once_in_order(recorder: EventLogRecorder) -> None:
    received: list[int] = []
    with recorder.subscribe(gt=0) as subscription:
        follower = Recorded(lambda: received.extend(n.id for n in subscription), "subscriber")
        follower.start()
        positions = []
        for _ in range(20):
            positions += recorder.insert_events([stored(uuid.uuid4(), 1)]) or []
        eventually(lambda: len(received) >= 20, "twenty events to reach the subscriber")
    follower.finish()
    assert received == positions
