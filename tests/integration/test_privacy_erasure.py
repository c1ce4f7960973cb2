"""Erasing a learner (the right to destruction, P7.3): nothing of what they wrote or were sent is
left in the database or the data folder, in any encoding, while the record still verifies and
the reports stay as they were."""

from __future__ import annotations

import base64
import quopri
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.testing import FlaskClient

from application.bootstrap import Container, bootstrap
from application.desk import SupportDesk
from application.privacy.keys import metadata as keys_metadata
from application.users import Role
from domain.categories import Category
from domain.errors import TransitionRefused
from domain.personal import ERASED, REDACTED
from domain.request import Channel
from interfaces.cli.privacy import privacy_group
from interfaces.mail.wiring import mail_broker, mailer, outbox_relay
from interfaces.privacy import eraser
from projections.audit import SealKeeper
from projections.conversation import conversation
from projections.runner import read_models
from tests.builders import caught_up, send_mail, submit
from tests.conftest import FakeClock

EMAIL = "Huda.Private@Example.org"
NAME = "هدى الخاصة"
SECRETS = {
    "subject": "لا يفتح درس الكسور العشرية",
    "description": "Ich komme nicht in die Lektion, Passwort Zeder-Fluss-42",
    "response": "Dear Huda, please try the Maple-Harbour reset link",
    "follow_up": "ما زالت المشكلة قائمة يا فريق الدعم",
    "note": "Huda called twice about Quartz-Lantern",
    "summary": "Huda's account restored via Cobalt-Meadow",
    "suggestion": "Please add Saffron-Orbit quizzes",
}
OTHER = "someone.else@example.org"
OTHER_TEXT = "Another learner has a Velvet-Comet problem"


def forms(text: str) -> list[bytes]:
    """The text as it may lie in a database or a file: raw, base64 and quoted-printable
    (as mail writes them), and JSON's escaped form."""
    raw = text.encode("utf-8")
    found = [raw, base64.b64encode(raw), quopri.encodestring(raw).split(b"=\n")[0]]
    found.append(text.encode("unicode_escape").replace(b"\\x", b"\\u00"))
    if len(raw) > 12:  # base64 of a text within a longer one starts at any of three offsets
        found += [base64.b64encode(raw[i : i + 12]) for i in range(3)]
    return found


def dump(container: Container) -> bytes:
    """The whole database as its dump tool writes it, the key store's tables included."""
    url = container.engine.url
    if url.get_backend_name() == "sqlite":
        parts = []
        for path in (url.database, container.keys.engine.url.database):
            with sqlite3.connect(str(path)) as connection:
                parts.append("\n".join(connection.iterdump()).encode("utf-8"))
        return b"\n".join(parts)
    return subprocess.run(_pg("pg_dump", url), check=True, capture_output=True).stdout


def files(folder: Path) -> Iterator[tuple[Path, bytes]]:
    for path in folder.rglob("*"):
        if path.is_file():
            yield path, path.read_bytes()


def leaks(container: Container, folder: Path) -> list[str]:
    """Where any form of the learner's data is found: in the dump or a file of the folder."""
    wanted = {EMAIL, EMAIL.lower(), NAME, *SECRETS.values()}
    found = []
    dumped = dump(container)
    for text in wanted:
        for form in forms(text):
            if form in dumped:
                found.append(f"dump: {text}")
            found += [f"{path.name}: {text}" for path, data in files(folder) if form in data]
    return sorted(set(found))


def first_ticket(desk: SupportDesk) -> str:
    """The learner's first ticket, with their name, subject and description."""
    return desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=EMAIL,
        requester_name=NAME,
        category=Category.LOGIN,
        course="Fractions 101",
        subject=SECRETS["subject"],
        description=SECRETS["description"],
    ).reference


@pytest.fixture
def learner(container: Container, clock: FakeClock) -> list[str]:
    """Two tickets of the learner, one answered, followed up, noted, mailed and resolved, one a
    suggestion forwarded to management; and a ticket of someone else."""
    desk = container.desk
    first = first_ticket(desk)
    clock.advance(hours=2)
    desk.respond(first, message=SECRETS["response"], actor="agent.sara")
    desk.receive_follow_up(first, message=SECRETS["follow_up"], channel=Channel.WEB_FORM)
    desk.add_note(first, text=SECRETS["note"], actor="agent.sara")
    desk.resolve(first, summary=SECRETS["summary"], actor="agent.sara")
    idea = desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=EMAIL.upper(),
        category=Category.SUGGESTION,
        course="Fractions 101",
        subject="Quizzes",
        description=SECRETS["suggestion"],
    ).reference
    desk.forward_to_management(idea, department="content", note="worth a pilot", actor="agent.sara")
    desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=OTHER,
        category=Category.LOGIN,
        course="Fractions 101",
        subject="Other",
        description=OTHER_TEXT,
    )
    send_mail(container)
    caught_up(container)
    return [first, idea]


def kept_tables(container: Container) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the read models that hold no personal data: SLA, reports, suggestions."""
    rows = {}
    with container.engine.connect() as connection:
        for model in read_models(container):
            if model.name in ("queue", "search", "conversation"):
                continue
            for table in model.tables:
                query = sa.select(table).order_by(*table.primary_key.columns)
                rows[table.name] = [tuple(row) for row in connection.execute(query)]
    return rows


def test_after_erasure_nothing_of_the_learner_is_left_and_the_record_still_verifies(
    container: Container, learner: list[str], tmp_path: Path
) -> None:
    before = kept_tables(container)
    assert leaks(container, tmp_path)  # the check finds what is there

    report = eraser(container).erase(
        EMAIL.lower(), reason="the learner asked", basis="request", actor="dpo"
    )

    assert report.references == sorted(learner) and report.key_destroyed
    assert leaks(container, tmp_path) == []
    caught_up(container)
    assert kept_tables(container) == before  # SLA facts, reports, suggestions register
    SealKeeper(container.desk, container.audit_key).catch_up()
    assert container.audit.verify().intact
    for reference in learner:
        history = container.audit.history(reference)
        erased = history[-1]
        assert erased.type == "RequesterDataErased" and erased.actor == "dpo"
        assert erased.state["basis"] == "request" and erased.state["reason"] == "the learner asked"
        ticket = container.desk.ticket(reference)
        assert ticket.requester_email == ERASED and ticket.description == ERASED
        assert ticket.category is not None and ticket.course == "Fractions 101"
    items = conversation(container.engine, learner[0]).items
    assert {i["text"] for i in items if i["kind"] in ("submitted", "responded")} == {ERASED}
    assert OTHER_TEXT.encode() in dump(container)  # someone else's ticket is untouched


def test_the_erased_tickets_take_no_more_personal_texts_and_an_erasure_runs_again_harmlessly(
    container: Container, learner: list[str]
) -> None:
    eraser(container).erase(learner[0], reason="asked by phone", basis="request", actor="dpo")

    with pytest.raises(TransitionRefused):
        container.desk.respond(learner[0], message="hello?", actor="agent.sara")
    again = eraser(container).erase(EMAIL, reason="asked again", basis="request", actor="dpo")
    assert again.references == sorted(learner) and again.recorded == []
    assert not again.key_destroyed  # gone already
    # The same address writing later is a new requester, with a new key.
    later = submit(container, email=EMAIL)
    assert container.desk.ticket(later).requester_email == EMAIL


def test_a_restored_backup_is_erased_again_from_the_erasure_log(
    container: Container,
    learner: list[str],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    clock: FakeClock,
) -> None:
    """The erasure log lives with the keys, outside the event store's backups: replayed over a
    restored backup, it records the erasures the backup lacks and purges the copies again."""
    backup = backup_event_store(container, tmp_path_factory.mktemp("backups") / "desk.backup")
    eraser(container).erase(EMAIL, reason="asked", basis="request", actor="dpo")
    container.close()
    restore_event_store(container, backup)
    restored = bootstrap(container.settings, clock=clock)
    try:
        assert all(restored.desk.ticket(r).erased_at is None for r in learner)

        marked = eraser(restored).replay(actor="operator")

        assert sorted(marked) == sorted(learner)
        for reference in learner:
            last = restored.audit.history(reference)[-1]
            assert last.type == "RequesterDataErased" and last.state["basis"] == "replay"
        assert leaks(restored, tmp_path) == []
        assert eraser(restored).replay(actor="operator") == []  # once only
    finally:
        restored.close()


def backup_event_store(container: Container, path: Path) -> Path:
    """A backup of the event store's database, as an operator takes it: without the key store."""
    url = container.engine.url
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as source, sqlite3.connect(path) as copy:
            source.backup(copy)
        return path
    keystore = [f"--exclude-table={t}*" for t in keys_metadata.tables]  # and the sequence
    subprocess.run([*_pg("pg_dump", url), "-Fc", *keystore, "-f", str(path)], check=True)
    return path


def restore_event_store(container: Container, backup: Path) -> None:
    url = container.engine.url
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        for leftover in (database.with_name(database.name + s) for s in ("-wal", "-shm")):
            leftover.unlink(missing_ok=True)
        database.write_bytes(backup.read_bytes())
        return
    command = [*_pg("pg_restore", url), "--clean", "--if-exists", str(backup)]
    restored = subprocess.run(command, capture_output=True, text=True)
    assert restored.returncode == 0, restored.stderr


def _pg(tool: str, url: sa.URL) -> list[str]:
    database = ["-d" if tool == "pg_restore" else "", url.database or "postgres"]
    return [
        tool,
        "--no-owner",
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
        *[part for part in database if part],
    ]


def test_only_the_data_protection_officer_may_erase(
    container: Container, learner: list[str], client: FlaskClient
) -> None:
    body = {"email": EMAIL, "reason": "asked", "basis": "request"}
    for role in (Role.AGENT, Role.SUPERVISOR, Role.ANALYST, Role.AUDITOR, Role.INTAKE):
        token = container.users.add(f"x-{role.value}", role)
        answer = client.post(
            "/api/v1/privacy/erase", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 403, role
    assert all(container.desk.ticket(r).erased_at is None for r in learner)
    officer = {"Authorization": f"Bearer {container.users.add('dpo', Role.PRIVACY)}"}

    unknown = client.post("/api/v1/privacy/erase", json=body | {"basis": "whim"}, headers=officer)
    both = client.post(
        "/api/v1/privacy/erase", json=body | {"reference": learner[0]}, headers=officer
    )
    done = client.post("/api/v1/privacy/erase", json=body, headers=officer)

    assert unknown.status_code == 422 and both.status_code == 422
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["references"] == sorted(learner)
    assert EMAIL.lower() not in done.get_data(as_text=True).lower()
    logged = [e for e in container.access_log.entries(limit=100) if e.actor == "dpo"]
    assert [e.action for e in logged] == ["privacy-erase"]


def test_the_command_erases_by_reference_and_says_what_it_did(
    container: Container, learner: list[str], cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        privacy_group, ["erase", learner[1], "--reason", "asked by letter"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert '"key_destroyed": true' in result.output and learner[0] in result.output
    refused = CliRunner().invoke(
        privacy_group, ["erase", "nobody@example.org", "--reason", "x"], env=cli_env
    )
    assert refused.exit_code == 1 and "no ticket" in refused.output


def test_personal_texts_are_stored_sealed_and_hashed_sealed(
    container: Container, learner: list[str]
) -> None:
    """The chain covers the sealed form: the stored event holds no text of the learner, and its
    hash is recomputed from what is stored."""
    history = container.audit.history(learner[0])
    submitted = history[0]
    assert submitted.type == "Submitted"
    state = submitted.state
    assert str(state["subject"]) == SECRETS["subject"]  # read opened while the key lives
    assert state["subject"].sealed.startswith("sealed:1:")
    table = container.desk.recorder.events_table_name  # type: ignore[attr-defined]
    with container.engine.connect() as connection:
        stored = b"".join(
            bytes(state) for (state,) in connection.execute(sa.text(f"SELECT state FROM {table}"))
        )
    assert SECRETS["description"].encode() not in stored and EMAIL.encode() not in stored
    assert SECRETS["subject"].encode("unicode_escape").replace(b"\\x", b"\\u00") not in stored
    SealKeeper(container.desk, container.audit_key).catch_up()
    assert container.audit.verify().intact


def test_a_redacted_text_is_unreadable_everywhere_and_the_rest_stays(
    container: Container, learner: list[str], client: FlaskClient, tmp_path: Path
) -> None:
    agent = {"Authorization": f"Bearer {container.users.add('agent.sara', Role.AGENT)}"}
    analyst = {"Authorization": f"Bearer {container.users.add('ana', Role.ANALYST)}"}
    body = {"version": 1, "field": "description", "reason": "a password in the request"}
    url = f"/api/v1/tickets/{learner[0]}/redactions"

    refused = [
        client.post(url, json=body, headers=analyst),
        client.post(url, json=body | {"field": "requester_email"}, headers=agent),
        client.post(url, json=body | {"field": "course"}, headers=agent),
        client.post(url, json=body | {"version": 99}, headers=agent),
        client.post(url, json=body | {"version": "1"}, headers=agent),
    ]
    done = client.post(url, json=body, headers=agent)
    twice = client.post(url, json=body, headers=agent)

    assert [r.status_code for r in refused] == [403, 422, 422, 422, 422]
    assert done.status_code == 200, done.get_data(as_text=True)
    assert twice.status_code == 409
    ticket = container.desk.ticket(learner[0])
    assert ticket.description == REDACTED and ticket.subject == SECRETS["subject"]
    found = leaks(container, tmp_path)
    assert not [leak for leak in found if SECRETS["description"] in leak]
    assert any(SECRETS["response"] in leak for leak in found)  # the rest stays readable
    items = conversation(container.engine, learner[0]).items
    assert items[0]["text"] == REDACTED and items[0]["subject"] == SECRETS["subject"]
    assert items[-1]["kind"] == "field_redacted" and items[-1]["actor"] == "agent.sara"
    SealKeeper(container.desk, container.audit_key).catch_up()
    assert container.audit.verify().intact


def test_an_email_queued_before_the_erasure_is_not_sent(
    container: Container, learner: list[str], clock: FakeClock, tmp_path: Path
) -> None:
    clock.advance(hours=1)
    container.desk.reopen(learner[0], reason="still locked out", actor="requester")
    container.desk.respond(learner[0], message="Try the Tangerine-Kite link", actor="agent.sara")
    broker = mail_broker(container.settings, "supportdesk.test.erasure")
    relay, sender = outbox_relay(container, broker), mailer(container, broker)
    while relay.relay_once():  # queued, not yet sent
        pass

    eraser(container).erase(EMAIL, reason="asked", basis="request", actor="dpo")
    handled = sender.drain()

    assert handled >= 1
    written = b"".join(path.read_bytes() for path in (tmp_path / "outbox").glob("*.eml"))
    assert b"Tangerine-Kite" not in written and learner[0].encode() not in written
