"""The event log's recorder on SQLite: positions are never given twice."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from eventsourcing_sqlalchemy.datastore import SQLAlchemyDatastore
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder

from application.storage.event_log import EventLogRecorder
from tests.builders import stored


def sqlite_recorder(path: Path) -> EventLogRecorder:
    recorder = EventLogRecorder(
        SQLAlchemyDatastore(url=f"sqlite:///{path}"), events_table_name="tickets_events"
    )
    recorder.create_table()
    return recorder


def test_on_sqlite_a_position_is_never_given_twice(tmp_path: Path) -> None:
    # The attack: delete the newest events by SQL; SQLite would hand their positions out again,
    # and every follower already past them would skip the new events without a word.
    recorder = sqlite_recorder(tmp_path / "log.db")
    first = recorder.insert_events([stored(uuid.uuid4(), 1) for _ in range(3)]) or []
    with sqlite3.connect(tmp_path / "log.db") as connection:
        connection.execute("DELETE FROM tickets_events WHERE id > ?", (first[0],))
    (after,) = recorder.insert_events([stored(uuid.uuid4(), 1)]) or [0]
    assert after > max(first)


def test_a_log_made_before_keeps_its_positions_and_never_reuses_them(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    plain = SQLAlchemyApplicationRecorder(
        SQLAlchemyDatastore(url=f"sqlite:///{path}"), events_table_name="tickets_events"
    )
    plain.create_table()
    before = plain.insert_events([stored(uuid.uuid4(), 1) for _ in range(3)]) or []
    recorder = sqlite_recorder(path)  # takes the table over
    assert [n.id for n in recorder.select_notifications(0, 10)] == before
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM tickets_events WHERE id = ?", (before[-1],))
    (after,) = recorder.insert_events([stored(uuid.uuid4(), 1)]) or [0]
    assert after > before[-1]
