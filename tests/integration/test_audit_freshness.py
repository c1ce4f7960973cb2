"""Attacks on the record's freshness by someone with SQL access and no audit key (P7.1).

Saved seal rows put back after events were removed or rewritten, an emptied record, and
events backdated at the end of a chain: each was accepted before, and each is named now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from application.audit.access import AccessLog
from application.audit.checkpoints import CheckpointFile
from application.audit.history import Audit
from application.bootstrap import Container
from domain.request import Channel
from projections.audit import SealingRefused, SealKeeper
from tests.builders import KEY, submit_with_replies
from tests.conftest import FakeClock

AUDIT_TABLES = ("supportdesk_audit_seals", "supportdesk_audit_watermark")


@dataclass
class Desk:
    container: Container
    audit: Audit
    checkpoints: CheckpointFile
    engine: Engine
    clock: FakeClock
    accesses: AccessLog

    def keeper(self) -> SealKeeper:
        """A keeper that writes a checkpoint after every page, as one would once a minute."""
        return SealKeeper(
            self.container.desk,
            KEY,
            self.checkpoints,
            checkpoint_every=timedelta(0),
            accesses=self.accesses.count,
        )

    def rows(self, table: str) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(f"SELECT * FROM {table}"))]

    def rows_where(self, table: str, position: int) -> dict[str, Any]:
        with self.engine.connect() as connection:
            row = connection.execute(text(f"SELECT * FROM {table} WHERE id = :p"), {"p": position})
            return dict(row.one()._mapping)

    def put_back(self, saved: dict[str, list[dict[str, Any]]]) -> None:
        with self.engine.begin() as connection:
            for table, rows in saved.items():
                connection.execute(text(f"DELETE FROM {table}"))
                for row in rows:
                    columns = ", ".join(row)
                    values = ", ".join(f":{c}" for c in row)
                    connection.execute(
                        text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row
                    )

    def sql(self, statement: str, **params: object) -> None:
        with self.engine.begin() as connection:
            connection.execute(text(statement), params)


@pytest.fixture
def desk(container: Container, clock: FakeClock, tmp_path: Path) -> Iterator[Desk]:
    checkpoints = CheckpointFile(tmp_path / "elsewhere" / "audit.checkpoints")
    accesses = AccessLog(container.engine, clock, KEY)
    audit = Audit(
        container.desk,
        container.sla,
        container.calendar.timezone,
        KEY,
        checkpoints,
        accesses,
        key_configured=True,
    )
    yield Desk(container, audit, checkpoints, audit.log.engine, clock, accesses)


def test_seal_rows_put_back_after_events_were_removed_do_not_verify(desk: Desk) -> None:
    reference, positions = submit_with_replies(desk.container, desk.clock, replies=1)
    desk.keeper().catch_up()
    saved = {table: desk.rows(table) for table in AUDIT_TABLES}
    # Later the ticket is answered and solved; a checkpoint goes to the file elsewhere.
    desk.clock.advance(minutes=30)
    later = desk.container.desk.respond(reference, message="Try the reset link.", actor="nora")
    desk.container.desk.resolve(reference, summary="Signed in.", actor="nora")
    desk.keeper().catch_up()
    assert desk.audit.verify().intact

    # The attacker removes the answer and the solution, and puts the old seals back.
    desk.sql("DELETE FROM supportdesk_events WHERE id >= :p", p=later.position)
    desk.put_back(saved)

    result = desk.audit.verify()
    assert not result.intact
    assert any("checkpoint" in problem for problem in result.problems), result.problems
    with pytest.raises(SealingRefused, match="rolled back"):
        desk.keeper().catch_up()


def test_a_rewritten_reply_under_seals_put_back_does_not_verify(desk: Desk) -> None:
    reference, positions = submit_with_replies(desk.container, desk.clock, replies=2)
    desk.keeper().catch_up()
    saved = {table: desk.rows(table) for table in AUDIT_TABLES}
    desk.container.desk.respond(reference, message="One more thing.", actor="nora")
    desk.keeper().catch_up()
    # Rewrite the reply at the end of the chain and re-chain nothing: put the old seals back,
    # so that the keeper would seal the rewritten tail as new.
    desk.sql("DELETE FROM supportdesk_events WHERE id > :p", p=positions[-1])
    desk.put_back(saved)
    desk.container.desk.respond(reference, message="Your account is closed.", actor="nora")

    assert not desk.audit.verify().intact
    with pytest.raises(SealingRefused):
        desk.keeper().catch_up()


def test_emptying_every_audit_table_does_not_verify(desk: Desk) -> None:
    submit_with_replies(desk.container, desk.clock)
    desk.keeper().catch_up()
    for table in AUDIT_TABLES:
        desk.sql(f"DELETE FROM {table}")
    assert not desk.audit.verify().intact


def test_an_emptied_record_with_a_configured_key_does_not_verify(desk: Desk) -> None:
    submit_with_replies(desk.container, desk.clock)
    desk.keeper().catch_up()
    for table in ("supportdesk_events", *AUDIT_TABLES):
        desk.sql(f"DELETE FROM {table}")
    result = desk.audit.verify()
    assert not result.intact
    assert result.problems


def test_an_empty_record_with_a_configured_key_and_no_checkpoint_does_not_verify(
    container: Container,
) -> None:
    audit = Audit(
        container.desk, container.sla, container.calendar.timezone, KEY, None, key_configured=True
    )
    assert not audit.verify().intact


def test_an_event_backdated_at_the_end_of_a_chain_is_named(desk: Desk) -> None:
    reference, _ = submit_with_replies(desk.container, desk.clock, replies=2)
    desk.keeper().catch_up()
    desk.clock.advance(days=-3)  # the attacker's clock: a reply "sent" before the request
    desk.container.desk.respond(reference, message="We answered long ago.", actor="nora")
    desk.keeper().catch_up()

    result = desk.audit.verify()
    assert not result.intact
    (broken,) = result.broken
    assert broken.first_bad is not None and "backdated" in broken.first_bad.reason


def test_checkpoints_that_were_edited_do_not_verify(desk: Desk) -> None:
    submit_with_replies(desk.container, desk.clock)
    desk.keeper().catch_up()
    lines = desk.checkpoints.path.read_text().splitlines()
    desk.checkpoints.path.write_text(lines[-1].replace('"position":', '"position":1') + "\n")
    assert not desk.audit.verify().intact


def test_a_class_version_set_back_by_sql_does_not_verify(desk: Desk) -> None:
    # Set back to 1, the upcaster would read a follow-up's sender and verdict as unknown,
    # while the stored fields still hashed as before.
    reference, _ = submit_with_replies(desk.container, desk.clock, replies=0)
    followed = desk.container.desk.receive_follow_up(
        reference,
        message="Any news?",
        channel=Channel.EMAIL,
        sender="x@example.org",
        verified=False,
    )
    desk.keeper().catch_up()
    assert desk.audit.verify().intact
    state = desk.rows_where("supportdesk_events", followed.position)["state"]
    desk.sql(
        "UPDATE supportdesk_events SET state = :s WHERE id = :id",
        s=bytes(state).replace(b'"class_version":2', b'"class_version":1'),
        id=followed.position,
    )
    assert b'"class_version":2' in bytes(state)
    assert not desk.audit.verify().intact


def drop_the_guards(desk: Desk) -> None:
    """What an administrator can do: the append-only triggers go first."""
    if desk.engine.dialect.name == "sqlite":
        for verb in ("update", "delete"):
            desk.sql(f"DROP TRIGGER supportdesk_audit_access_no_{verb}")
    else:
        desk.sql("DROP TRIGGER supportdesk_audit_access_no_change ON supportdesk_audit_access")


def test_an_access_log_entry_rewritten_without_the_triggers_does_not_verify(desk: Desk) -> None:
    submit_with_replies(desk.container, desk.clock)
    desk.accesses.record(actor="mona", role="auditor", action="history", reference="CM-1")
    desk.keeper().catch_up()
    assert desk.audit.verify().intact
    drop_the_guards(desk)
    desk.sql("UPDATE supportdesk_audit_access SET actor = 'someone else'")
    result = desk.audit.verify()
    assert any("altered or forged" in problem for problem in result.problems), result.problems


def test_access_log_entries_removed_without_the_triggers_do_not_verify(desk: Desk) -> None:
    submit_with_replies(desk.container, desk.clock)
    for reference in ("CM-1", "CM-2"):
        desk.accesses.record(actor="mona", role="auditor", action="history", reference=reference)
    desk.keeper().catch_up()
    drop_the_guards(desk)
    desk.sql("DELETE FROM supportdesk_audit_access WHERE reference = 'CM-2'")
    result = desk.audit.verify()
    assert any("entries were removed" in problem for problem in result.problems), result.problems
