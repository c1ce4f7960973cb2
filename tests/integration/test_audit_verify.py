"""Verification finds every way of changing the stored record by hand (P7.1).

Each test tampers with `supportdesk_events` through real SQL, as someone with access to the
database would, and checks that verification names the ticket and the event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, text

from application.audit.chain import TicketVerdict, Verification
from application.audit.history import Audit
from application.audit.seals import AuditKey
from application.bootstrap import Container
from domain.categories import Category
from domain.reference import Reference
from domain.request import Channel
from domain.ticket import Ticket
from projections.audit import SealingRefused, SealKeeper
from tests.builders import KEY, submit_with_replies
from tests.conftest import FakeClock


@dataclass
class Desk:
    container: Container
    audit: Audit
    keeper: SealKeeper
    engine: Engine
    clock: FakeClock

    def ticket(self, responses: int = 3) -> tuple[str, list[int]]:
        return submit_with_replies(self.container, self.clock, responses)

    def sql(self, statement: str, **params: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)

    def state(self, position: int) -> bytes:
        with self.engine.connect() as connection:
            value = connection.execute(
                text("SELECT state FROM supportdesk_events WHERE id = :id"), {"id": position}
            ).scalar_one()
        return bytes(value)

    def verdict(self, reference: str) -> TicketVerdict:
        result = self.audit.verify()
        assert not result.intact
        return next(t for t in result.tickets if t.reference == reference)


@pytest.fixture
def desk(container: Container, clock: FakeClock) -> Iterator[Desk]:
    audit = Audit(container.desk, container.sla, container.calendar.timezone, KEY)
    keeper = SealKeeper(container.desk, KEY)
    yield Desk(container, audit, keeper, audit.log.engine, clock)


def only_broken(result: Verification) -> list[str]:
    return [t.reference for t in result.broken]


def test_untouched_store_verifies_clean(desk: Desk) -> None:
    references = [desk.ticket()[0] for _ in range(3)]
    desk.keeper.catch_up()
    result = desk.audit.verify()
    assert result.intact, result
    assert len(result.tickets) == 3
    assert result.events_checked == 12
    assert {t.reference for t in result.tickets} == set(references)
    assert all(t.sealed_version == 4 and t.pending == 0 for t in result.tickets)
    assert desk.audit.verify(references[0]).intact


def sealed_text_changed(state: bytes) -> bytes:
    """The stored event with one character of its sealed message changed."""
    start = state.index(b'"message":"sealed:1:') + len(b'"message":"sealed:1:') + 40
    flipped = b"A" if state[start : start + 1] != b"A" else b"B"
    return state[:start] + flipped + state[start + 1 :]


def test_edited_event_data_is_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    other, _ = desk.ticket()
    desk.keeper.catch_up()
    edited = sealed_text_changed(desk.state(positions[2]))
    desk.sql("UPDATE supportdesk_events SET state = :s WHERE id = :id", s=edited, id=positions[2])

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.version) == (positions[2], 3)
    assert verdict.first_bad.type == "Responded"
    assert "content was changed" in verdict.first_bad.reason
    assert only_broken(desk.audit.verify()) == [reference]
    assert desk.audit.verify(other).intact


def test_event_deleted_from_the_middle_is_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id = :id", id=positions[1])

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert verdict.first_bad.position == positions[2]
    assert "version 2 is missing" in verdict.first_bad.reason


def test_newest_event_deleted_is_caught_by_the_seal(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id = :id", id=positions[-1])

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.version) == (positions[-1], 4)
    assert "newest events were removed" in verdict.first_bad.reason
    assert not desk.audit.verify(reference).intact


def test_every_event_of_a_sealed_ticket_deleted_is_caught(desk: Desk) -> None:
    reference, positions = desk.ticket(responses=1)
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id IN (:a, :b)", a=positions[0], b=positions[1])

    verdict = desk.verdict(reference)
    assert verdict.events == 0
    assert verdict.first_bad is not None
    assert "all of its events were removed" in verdict.first_bad.reason


def test_two_events_swapped_are_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    second, third = positions[1], positions[2]
    desk.sql("UPDATE supportdesk_events SET originator_version = -1 WHERE id = :id", id=second)
    desk.sql("UPDATE supportdesk_events SET originator_version = 2 WHERE id = :id", id=third)
    desk.sql("UPDATE supportdesk_events SET originator_version = 3 WHERE id = :id", id=second)

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.version) == (second, 3)


def test_two_events_contents_swapped_are_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    second, third = positions[1], positions[2]
    second_state, third_state = desk.state(second), desk.state(third)
    desk.sql("UPDATE supportdesk_events SET state = :s WHERE id = :id", s=third_state, id=second)
    desk.sql("UPDATE supportdesk_events SET state = :s WHERE id = :id", s=second_state, id=third)

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert verdict.first_bad.position == second
    assert "does not link to its predecessor" in verdict.first_bad.reason


def test_events_of_two_tickets_swapped_in_the_log_are_caught(desk: Desk) -> None:
    _, first = desk.ticket(responses=1)
    _, second = desk.ticket(responses=1)
    desk.keeper.catch_up()
    # Each ticket keeps its own order; only the log's order across tickets changes.
    desk.sql("UPDATE supportdesk_events SET id = -1 WHERE id = :id", id=first[1])
    desk.sql("UPDATE supportdesk_events SET id = :new WHERE id = :id", new=first[1], id=second[0])
    desk.sql("UPDATE supportdesk_events SET id = :new WHERE id = -1", new=second[0])

    result = desk.audit.verify()
    assert not result.intact
    assert all(t.intact for t in result.tickets)
    assert result.problems == [
        f"the log up to position {second[1]} is not what the seal keeper read: "
        "events were changed, removed, inserted or moved"
    ]


def test_every_tampering_also_changes_the_log_digest(desk: Desk) -> None:
    _, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id = :id", id=positions[1])
    assert any("not what the seal keeper read" in p for p in desk.audit.verify().problems)


def test_copied_event_inserted_is_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql(
        "INSERT INTO supportdesk_events (originator_id, originator_version, topic, state) "
        "SELECT originator_id, 5, topic, state FROM supportdesk_events WHERE id = :id",
        id=positions[-1],
    )
    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert verdict.first_bad.version == 5
    assert verdict.first_bad.position is not None and verdict.first_bad.position > positions[-1]


def test_event_inserted_into_the_middle_is_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    # Make room at version 3 by moving the later events up, then put a copy of version 2 there.
    for position in reversed(positions[2:]):
        desk.sql(
            "UPDATE supportdesk_events SET originator_version = originator_version + 1 "
            "WHERE id = :id",
            id=position,
        )
    desk.sql(
        "INSERT INTO supportdesk_events (originator_id, originator_version, topic, state) "
        "SELECT originator_id, 3, topic, state FROM supportdesk_events WHERE id = :id",
        id=positions[1],
    )
    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert verdict.first_bad.position == positions[2]
    assert verdict.first_bad.version == 4


def forge_reply(desk: Desk, reference: str, message: str) -> tuple[object, ...]:
    """A perfectly linked and hashed event, made with the application's own code."""
    ticket = desk.container.desk.ticket(reference)
    ticket.respond(message=message, actor="agent.mallory", at=desk.clock())
    (forged,) = ticket.collect_events()
    stored = desk.container.desk.mapper.to_stored_event(forged)
    return stored.originator_id, stored.originator_version, stored.topic, stored.state


def insert_row(desk: Desk, position: int, row: tuple[object, ...]) -> None:
    ticket_id, version, topic, state = row
    with desk.engine.begin() as connection:
        connection.execute(
            desk.audit.log.table.insert().values(
                id=position,
                originator_id=ticket_id,
                originator_version=version,
                topic=topic,
                state=state,
            )
        )


def test_forged_event_at_an_earlier_position_is_named(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    insert_row(desk, 0, forge_reply(desk, reference, "nothing to see"))
    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.version) == (0, 5)


def test_forged_ticket_behind_the_keepers_watermark_is_named(desk: Desk) -> None:
    desk.ticket()
    desk.keeper.catch_up()
    forged = Ticket.submit(
        reference=Reference.generate(),
        channel=Channel.EMAIL,
        requester_email="someone@example.org",
        category=Category.COMPLAINT,
        course=None,
        subject="Backdated",
        description="A ticket that was never received.",
        language="en",
        at=desk.clock(),
        sla=desk.container.sla,
    )
    (submitted,) = forged.collect_events()
    stored = desk.container.desk.mapper.to_stored_event(submitted)
    insert_row(desk, 0, (stored.originator_id, 1, stored.topic, stored.state))
    verdict = desk.verdict(forged.reference)
    assert verdict.first_bad is not None
    assert (verdict.first_bad.position, verdict.first_bad.version) == (0, 1)
    assert "inserted" in verdict.first_bad.reason


def test_rewritten_newest_event_is_caught_by_the_seal(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id = :id", id=positions[-1])
    insert_row(desk, positions[-1], forge_reply(desk, reference, "a kinder reply"))
    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert verdict.first_bad.version == 4
    assert "differs from the sealed head" in verdict.first_bad.reason


def test_edited_seal_is_caught(desk: Desk) -> None:
    reference, positions = desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_events WHERE id = :id", id=positions[-1])
    desk.sql("UPDATE supportdesk_audit_seals SET version = 3, position = :p", p=positions[-2])

    verdict = desk.verdict(reference)
    assert verdict.first_bad is not None
    assert "not signed by the audit key" in verdict.first_bad.reason


def test_removed_watermark_fails_verification_and_stops_the_keeper(desk: Desk) -> None:
    desk.ticket()
    desk.keeper.catch_up()
    desk.sql("DELETE FROM supportdesk_audit_watermark")
    result = desk.audit.verify()
    assert not result.intact
    assert result.problems == ["the seal keeper's watermark was removed"]
    with pytest.raises(SealingRefused):
        SealKeeper(desk.container.desk, KEY).catch_up()


def test_unsealed_record_does_not_verify(container: Container, clock: FakeClock) -> None:
    audit = Audit(container.desk, container.sla, container.calendar.timezone, KEY)
    submit_with_replies(container, clock)
    result = audit.verify()
    assert not result.intact
    assert result.problems == ["the record is not sealed: the seal keeper has not run"]


def test_events_after_the_watermark_are_pending_not_broken(desk: Desk) -> None:
    reference, _ = desk.ticket(responses=1)
    desk.keeper.catch_up()
    desk.container.desk.respond(reference, message="later", actor="agent.sara")
    result = desk.audit.verify()
    assert result.intact
    (verdict,) = result.tickets
    assert (verdict.sealed_version, verdict.pending) == (2, 1)
    desk.keeper.catch_up()
    (verdict,) = desk.audit.verify().tickets
    assert (verdict.sealed_version, verdict.pending) == (3, 0)


def test_keeper_does_not_seal_a_broken_link(desk: Desk) -> None:
    reference, positions = desk.ticket()
    edited = desk.state(positions[3]).replace(b'"actor":"agent.sara"', b'"actor":"agent.omar"')
    assert edited != desk.state(positions[3])
    desk.sql("UPDATE supportdesk_events SET state = :s WHERE id = :id", s=edited, id=positions[3])
    desk.keeper.catch_up()
    verdict = desk.verdict(reference)
    assert verdict.sealed_version == 3
    assert verdict.first_bad is not None and verdict.first_bad.position == positions[3]


def test_keeper_catch_up_is_idempotent(desk: Desk) -> None:
    desk.ticket()
    assert desk.keeper.catch_up() == 4
    assert desk.keeper.catch_up() == 0
    assert SealKeeper(desk.container.desk, KEY).catch_up() == 0
    assert desk.audit.verify().intact


def test_seals_signed_with_another_key_do_not_verify(desk: Desk) -> None:
    reference, _ = desk.ticket()
    desk.keeper.catch_up()
    other = Audit(
        desk.container.desk,
        desk.container.sla,
        desk.container.calendar.timezone,
        AuditKey(b"somebody else's key, not ours..."),
    )
    result = other.verify()
    assert not result.intact
    assert result.problems == ["the seal keeper's watermark is not signed by the audit key"]
