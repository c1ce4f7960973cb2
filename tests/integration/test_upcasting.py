"""An event class evolves; old records still read, and still verify (P7.1).

`Note` stands for any aggregate of the desk. Release 1 recorded `Note.Written` with `text`
alone; release 2 added `channel`. Old records stay as they were stored: reading them goes
through the class's upcaster (`class_version = 2`, `upcast_v1_v2`), and verification hashes
what was stored, before any upcasting, so the old hashes still hold.

To change a Ticket event the same way: add the field to its declared class (`Ticket.Responded`)
and to its `@event` method, set `class_version = 2` on the class and give it a static
`upcast_v1_v2(state)` with the field's value for old records; nothing else changes, the hash
chain included.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from application.audit.history import Audit
from application.bootstrap import Container
from domain.chain import HashChained, event_hash, event_type_name
from projections.audit import SealKeeper
from tests.builders import KEY
from tests.conftest import FakeClock


class Note(HashChained):
    """A hash-chained aggregate, chained like the Ticket."""

    class Written(HashChained.Event):
        """Release 2: where the note came from is recorded too."""

        class_version = 2
        text: str
        channel: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Release 1 only took notes from the web form.
            state["channel"] = "web_form"

    @event("Started")
    def __init__(self, title: str, actor: str, timestamp: datetime) -> None:
        self.title = title
        self.writings: list[tuple[str, str]] = []

    @event(Written)
    def write(self, text: str, channel: str, actor: str, timestamp: datetime) -> None:
        self.writings.append((text, channel))


def release_1_written(note: Note, text: str, at: datetime, container: Container) -> StoredEvent:
    """`Note.Written` exactly as release 1 stored it: no `channel`, no class version."""
    state: dict[str, Any] = {
        "timestamp": at,
        "actor": "agent.sara",
        "prev_hash": note.chain_head,
        "text": text,
    }
    topic = get_topic(Note.Written)
    hashed = {**state, "originator_id": note.id, "originator_version": note.version + 1}
    state["hash"] = event_hash(event_type_name(topic), hashed)
    encoded = container.desk.mapper.transcoder.encode(state)
    return StoredEvent(note.id, note.version + 1, topic, encoded)


def test_old_records_are_upcast_on_reading_and_still_verify(
    container: Container, clock: FakeClock
) -> None:
    desk = container.desk
    note = Note(title="Intake", actor="agent.sara", timestamp=clock())
    desk.save(note)
    clock.advance(minutes=5)
    desk.recorder.insert_events([release_1_written(note, "from release 1", clock(), container)])

    # Release 2 reads the old record through the upcaster.
    note = desk.repository.get(note.id)
    assert note.writings == [("from release 1", "web_form")]
    clock.advance(minutes=5)
    note.write(text="from release 2", channel="email", actor="agent.omar", timestamp=clock())
    desk.save(note)
    assert desk.repository.get(note.id).writings == [
        ("from release 1", "web_form"),
        ("from release 2", "email"),
    ]

    # The record keeps what each release wrote.
    audit = Audit(desk, container.sla, container.calendar.timezone, KEY)
    old, new = audit.log.of_ticket(note.id)[1:]
    assert (old.class_version, old.data) == (1, {"text": "from release 1"})
    assert (new.class_version, new.data) == (2, {"text": "from release 2", "channel": "email"})

    # Hashing the upcast event would not match; hashing the stored one does.
    upcast = desk.events.get(note.id, gt=1, lte=2)
    (upcast_event,) = list(upcast)
    assert event_hash("Note.Written", dict(vars(upcast_event))) != old.stored_hash
    assert old.computed_hash() == old.stored_hash

    SealKeeper(desk, KEY).catch_up()
    result = audit.verify()
    assert result.intact, result
    assert result.events_checked == 3


def test_a_changed_old_record_still_fails_verification(
    container: Container, clock: FakeClock
) -> None:
    desk = container.desk
    note = Note(title="Intake", actor="agent.sara", timestamp=clock())
    desk.save(note)
    stored = release_1_written(note, "from release 1", clock(), container)
    forged = StoredEvent(
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        stored.state.replace(b"release 1", b"release X"),
    )
    desk.recorder.insert_events([forged])
    audit = Audit(desk, container.sla, container.calendar.timezone, KEY)
    (verdict,) = audit.verify().tickets
    assert verdict.first_bad is not None
    assert verdict.first_bad.version == 2
    assert "content was changed" in verdict.first_bad.reason
