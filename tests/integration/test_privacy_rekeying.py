"""Tickets recorded before texts were sealed: their texts are sealed after the fact, so their
requesters can be erased, and the record still verifies against everything signed before."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from application.audit.records import EventLog
from application.audit.rekeyings import RekeyBook, Statement, entries_table, statements_table
from application.bootstrap import Container, bootstrap
from application.privacy.keys import SealingTranscoder, Vault, subject_of_sealed
from domain.categories import Category
from domain.chain import event_hash, event_type_name
from domain.personal import ERASED, Personal
from domain.reference import Reference
from domain.request import Channel
from interfaces.cli.audit import audit_group
from interfaces.cli.privacy import privacy_group
from interfaces.privacy import eraser, rekeyer
from projections.audit import SealKeeper
from projections.conversation import conversation
from tests.builders import caught_up, send_mail
from tests.conftest import FakeClock
from tests.integration.test_privacy_erasure import (
    EMAIL,
    NAME,
    OTHER_TEXT,
    SECRETS,
    backup_event_store,
    first_ticket,
    forms,
    leaks,
    restore_event_store,
)


def keeper(container: Container) -> SealKeeper:
    """The seal keeper, writing a checkpoint outside the database every time it seals."""
    return SealKeeper(
        container.desk, container.audit_key, container.checkpoints, checkpoint_every=timedelta(0)
    )


@pytest.fixture
def legacy(container: Container, clock: FakeClock) -> list[str]:
    """Two tickets recorded by a release that kept texts as written, sealed and checkpointed
    then; after the upgrade, the learner's ticket is resolved with a sealed summary."""
    desk = container.desk
    vault, desk.vault = desk.vault, None  # the release before texts were sealed
    first = first_ticket(desk)
    clock.advance(hours=2)
    desk.respond(first, message=SECRETS["response"], actor="agent.sara")
    desk.receive_follow_up(first, message=SECRETS["follow_up"], channel=Channel.WEB_FORM)
    desk.add_note(first, text=SECRETS["note"], actor="agent.sara")
    other = desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="someone.else@example.org",
        category=Category.LOGIN,
        course="Fractions 101",
        subject="Other",
        description=OTHER_TEXT,
    ).reference
    send_mail(container)
    keeper(container).catch_up()
    desk.vault = vault  # the upgrade
    clock.advance(hours=1)
    desk.resolve(first, summary=SECRETS["summary"], actor="agent.sara")
    keeper(container).catch_up()
    send_mail(container)
    caught_up(container)
    assert len(list(container.checkpoints)) == 2
    return [first, other]


def stored_events(container: Container) -> bytes:
    """Every stored event's bytes, as the event store holds them."""
    table = EventLog(container.desk).table
    with container.engine.connect() as connection:
        return b"\n".join(bytes(s) for (s,) in connection.execute(sa.select(table.c.state)))


def in_the_clear(container: Container) -> list[str]:
    stored = stored_events(container)
    texts = [EMAIL, NAME, OTHER_TEXT, *SECRETS.values()]
    return [text for text in texts if any(form in stored for form in forms(text))]


def events_of(container: Container, reference: str) -> int:
    return len(container.audit.history(reference))


def test_texts_as_written_are_sealed_and_the_record_verifies_against_earlier_checkpoints(
    container: Container, legacy: list[str], cli_env: dict[str, str]
) -> None:
    first, other = legacy
    assert in_the_clear(container)  # the check finds what is there
    before = {r: container.desk.ticket(r) for r in legacy}
    conversation_before = conversation(container.engine, first).items

    report = rekeyer(container).rekey(actor="ops")

    assert sorted(report.rekeyed) == sorted(legacy) and not report.refused
    # Every event of both tickets changed: the first holds texts, the rest link to it anew.
    assert report.events == events_of(container, first) + events_of(container, other)
    assert in_the_clear(container) == []
    for reference in legacy:  # read as before
        ticket = container.desk.ticket(reference)
        for name in ("requester_email", "requester_name", "subject", "description"):
            assert getattr(ticket, name) == getattr(before[reference], name)
    assert container.desk.ticket(first).resolution_summary == SECRETS["summary"]
    # The newer, sealed texts and the texts sealed now share the ticket's one key.
    subjects = {
        subject_of_sealed(value.sealed)
        for record in container.audit.history(first)
        for value in record.state.values()
        if isinstance(value, Personal)
    }
    assert len(subjects) == 1

    verification = container.audit.verify()  # against both checkpoints made before
    assert verification.intact, verification.problems
    assert verification.rekeyed_events == report.events
    check = rekeyer(container).check()
    assert (check.checked, check.forgotten, check.mismatched) == (report.events, 0, [])
    assert rekeyer(container).rekey(actor="ops").rekeyed == []  # nothing is left to seal

    caught_up(container)
    assert conversation(container.engine, first).items == conversation_before
    container.desk.add_note(first, text="after the re-keying", actor="agent.sara")
    keeper(container).catch_up()  # the keeper seals on, over rewritten events
    assert container.audit.verify().intact
    assert len(list(container.checkpoints)) == 3

    runner = CliRunner()
    result = runner.invoke(audit_group, ["verify"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert f"re-keyed {report.events} events" in result.output
    assert f"former hashes computed again: {report.events}" in result.output


def test_a_learner_recorded_before_sealing_is_erased_whole(
    container: Container, legacy: list[str], tmp_path: Any
) -> None:
    first, other = legacy

    report = eraser(container).erase(
        EMAIL, reason="the learner asked", basis="request", actor="dpo"
    )

    assert report.rekeyed == [first] and report.key_destroyed and not report.left_in_the_clear
    found = leaks(container, tmp_path)
    assert not [f for f in found if any(t in f for t in (EMAIL, NAME, *SECRETS.values()))]
    assert OTHER_TEXT.encode() in stored_events(container)  # only the learner's tickets
    keeper(container).catch_up()
    assert container.audit.verify().intact
    assert container.desk.ticket(first).description == ERASED
    check = rekeyer(container).check()
    # The four events that held texts as written are past checking; the others rewritten only
    # to link anew (their sealed summary included) still give back their former hashes.
    assert check.forgotten == 4 and check.mismatched == []
    assert check.checked + check.forgotten == events_of(container, first) - 1


def test_an_event_appended_by_a_process_that_read_the_chain_before_is_accepted(
    container: Container, legacy: list[str]
) -> None:
    first = legacy[0]
    container.desk.ticket(first)  # cached with its chain as it was
    rekeyer(container).rekey(actor="ops")

    container.desk.add_note(first, text="written from the old head", actor="agent.sara")

    newest = container.audit.history(first)[-1]
    assert newest.prev_hash == _former(container, first, newest.version - 1)
    assert newest.prev_hash != container.audit.history(first)[-2].state["hash"]
    keeper(container).catch_up()
    verification = container.audit.verify(first)
    assert verification.intact and verification.tickets[0].sealed_version == newest.version
    assert container.audit.verify().intact


def _former(container: Container, reference: str, version: int) -> str:
    ticket_id = Reference.parse(reference).ticket_id
    with container.engine.connect() as connection:
        return str(
            connection.execute(
                sa.select(entries_table.c.former_hash)
                .where(entries_table.c.ticket_id == str(ticket_id))
                .where(entries_table.c.version == version)
            ).scalar_one()
        )


def test_changed_statements_and_entries_do_not_verify(
    container: Container, legacy: list[str]
) -> None:
    rekeyer(container).rekey(actor="ops")
    with container.engine.begin() as connection:
        connection.execute(sa.update(statements_table).values(actor="someone else"))
    problems = container.audit.verify().problems
    assert any("is not signed by the audit key" in p for p in problems)

    with container.engine.begin() as connection:
        connection.execute(sa.update(statements_table).values(actor="ops"))
        connection.execute(
            sa.update(entries_table)
            .where(entries_table.c.version == 1)
            .values(former_hash="0" * 64)
        )
    verification = container.audit.verify()
    assert not verification.intact
    assert any("entries of the re-keying statement" in p for p in verification.problems)


def test_a_ticket_whose_chain_does_not_verify_is_not_rewritten(
    container: Container, legacy: list[str]
) -> None:
    first, other = legacy
    log = EventLog(container.desk)
    transcoder = container.desk.mapper.transcoder
    assert isinstance(transcoder, SealingTranscoder)
    ticket_id = Reference.parse(other).ticket_id
    with container.engine.begin() as connection:
        position, stored = connection.execute(
            sa.select(log.table.c.id, log.table.c.state)
            .where(log.table.c.originator_id == ticket_id)
            .where(log.table.c.originator_version == 1)
        ).one()
        state = transcoder.inner.decode(bytes(stored))
        state["course"] = "Geometry 201"  # edited behind the desk's back
        connection.execute(
            sa.update(log.table)
            .where(log.table.c.id == position)
            .values(state=transcoder.inner.encode(state))
        )

    report = rekeyer(container).rekey(actor="ops")

    assert report.rekeyed == [first]
    assert "chain does not verify" in report.refused[other]
    assert OTHER_TEXT.encode() in stored_events(container)  # left for an auditor to see


def test_a_rewriting_that_changed_a_text_is_caught_by_computing_former_hashes_again(
    container: Container, legacy: list[str], cli_env: dict[str, str]
) -> None:
    """Even by someone holding the audit key, who signs a statement over the change."""
    first = legacy[0]
    report = rekeyer(container).rekey(actor="ops")
    log = EventLog(container.desk)
    transcoder = container.desk.mapper.transcoder
    assert isinstance(transcoder, SealingTranscoder)
    ticket_id = Reference.parse(first).ticket_id
    head = events_of(container, first)
    with container.engine.begin() as connection:
        position, stored, topic = connection.execute(
            sa.select(log.table.c.id, log.table.c.state, log.table.c.topic)
            .where(log.table.c.originator_id == ticket_id)
            .where(log.table.c.originator_version == head)
        ).one()
        state = transcoder.inner.decode(bytes(stored))
        subject = state["summary"].split(":")[2]
        key = container.keys.key(subject)
        assert key is not None
        state["summary"] = Vault(container.keys).sealer(subject, key)("Nothing found")
        full = {**state, "originator_id": ticket_id, "originator_version": head}
        state["hash"] = event_hash(event_type_name(topic), full)
        connection.execute(
            sa.update(log.table)
            .where(log.table.c.id == position)
            .values(state=transcoder.inner.encode(state))
        )
        connection.execute(
            sa.update(entries_table)
            .where(entries_table.c.ticket_id == str(ticket_id))
            .where(entries_table.c.version == head)
            .values(hash=state["hash"])
        )
    _sign_again(container, report.statements[0])

    assert container.audit.history(first)[-1].state["summary"] == "Nothing found"
    check = rekeyer(container).check()
    assert check.mismatched == [f"{ticket_id} version {head}"]
    result = CliRunner().invoke(audit_group, ["verify"], env=cli_env)
    assert result.exit_code == 1
    assert "no longer gives back its former hash" in result.output
    result = CliRunner().invoke(privacy_group, ["rekey", "--check"], env=cli_env)
    assert result.exit_code == 1 and str(ticket_id) in result.output


def _sign_again(container: Container, statement: str) -> None:
    """What a holder of the audit key could do: sign a statement over changed entries."""
    book = RekeyBook(container.engine)
    entries = book.grouped()[statement]
    made = next(s for s in book.statements() if s.statement == statement)
    signed = Statement.make(container.audit_key, statement, made.made_at, made.actor, entries)
    with container.engine.begin() as connection:
        connection.execute(
            sa.update(statements_table)
            .where(statements_table.c.statement == statement)
            .values(entries_digest=signed.entries_digest, mac=signed.mac)
        )


def test_the_command_seals_what_is_left_and_says_what_it_did(
    container: Container, legacy: list[str], cli_env: dict[str, str]
) -> None:
    runner = CliRunner()
    result = runner.invoke(privacy_group, ["rekey"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert sorted(legacy) == sorted(json.loads(result.output)["rekeyed"])
    result = runner.invoke(privacy_group, ["rekey", "--check"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert '"mismatched": []' in result.output


def test_a_store_the_seal_keeper_has_not_read_yet_is_rekeyed_and_then_sealed(
    container: Container,
) -> None:
    desk = container.desk
    vault, desk.vault = desk.vault, None
    reference = first_ticket(desk)
    desk.vault = vault

    assert rekeyer(container).rekey(actor="ops").rekeyed == [reference]

    assert in_the_clear(container) == []
    keeper(container).catch_up()
    verification = container.audit.verify()
    assert verification.intact and verification.rekeyed_events == events_of(container, reference)


def test_commands_running_during_a_rekeying_are_kept_and_the_record_verifies(
    container: Container, clock: FakeClock
) -> None:
    desk = container.desk
    vault, desk.vault = desk.vault, None
    references = [
        desk.submit(
            channel=Channel.WEB_FORM,
            requester_email=f"early{n}@example.org",
            category=Category.LOGIN,
            course="Fractions 101",
            subject="Cannot sign in",
            description=f"{SECRETS['description']} {n}",
        ).reference
        for n in range(40)
    ]
    keeper(container).catch_up()
    desk.vault = vault
    stop = threading.Event()
    noted: list[str] = []

    def agent() -> None:
        n = 0
        while not stop.is_set() or n < 20:
            reference = references[n % len(references)]
            desk.add_note(reference, text=f"note {n}", actor="agent.sara")
            noted.append(reference)
            n += 1

    working = threading.Thread(target=agent)
    working.start()
    try:
        while not noted:  # the agent is at work before the rewriting starts (20-40 notes
            time.sleep(0.01)  # land while it runs, here)
        report = rekeyer(container, batch=7).rekey(actor="ops")
    finally:
        stop.set()
        working.join(timeout=60)

    assert sorted(report.rekeyed) == sorted(references) and not report.refused
    assert in_the_clear(container) == []
    for reference in set(noted):
        kinds = [r.type for r in container.audit.history(reference)]
        assert kinds.count("NoteAdded") == noted.count(reference)
    keeper(container).catch_up()
    verification = container.audit.verify()
    assert verification.intact, (verification.problems, verification.broken)
    assert rekeyer(container).check().mismatched == []


def test_a_restored_backup_of_texts_as_written_is_sealed_as_it_is_erased_again(
    container: Container,
    legacy: list[str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    clock: FakeClock,
) -> None:
    first = legacy[0]
    backup = backup_event_store(container, tmp_path_factory.mktemp("backups") / "desk.backup")
    eraser(container).erase(EMAIL, reason="asked", basis="request", actor="dpo")
    container.close()
    restore_event_store(container, backup)
    restored = bootstrap(container.settings, clock=clock)
    try:
        assert SECRETS["description"].encode() in stored_events(restored)

        assert eraser(restored).replay(actor="operator") == [first]

        assert [t for t in in_the_clear(restored) if t != OTHER_TEXT] == []
        assert restored.desk.ticket(first).description == ERASED
        keeper(restored).catch_up()
        verification = restored.audit.verify(first)
        assert verification.intact and verification.rekeyed_events
    finally:
        restored.close()
