"""Files sent with a request, a follow-up or a response: kept sealed outside the record, named
by it, checked by `audit verify`, forgotten with their requester."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from application.attachments.blobs import blobs_table
from application.attachments.inspection import Kept, inspect_all
from application.bootstrap import Container
from application.privacy.keys import subject_of_sealed
from application.users import Role
from domain.attachment import Refusal
from domain.categories import Category
from domain.personal import ERASED, Personal
from domain.request import Channel
from interfaces.cli.audit import audit_group
from interfaces.privacy import eraser
from projections.audit import SealKeeper
from projections.conversation import conversation
from tests.builders import caught_up
from tests.integration.test_desk_pages import PASSWORD, signed_in
from tests.integration.test_privacy_erasure import dump, forms
from tests.unit.test_attachment_inspection import image, photo_with_location

CERTIFICATE = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% Huda Certificate-Quartz-77\n%%EOF"
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 64


def files(*named: tuple[str, bytes]) -> tuple[list[Kept], list[Any]]:
    return inspect_all(named)


def submit_with_files(container: Container) -> str:
    kept, refused = files(
        ("screen.jpg", photo_with_location()),
        ("شهادة الحضور.pdf", CERTIFICATE),
        ("setup.png", EXECUTABLE),
    )
    return container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="huda@example.org",
        category=Category.ATTENDANCE_CERTIFICATE,
        course="Fractions 101",
        subject="My certificate has the wrong name",
        description="Attached: the certificate and the error page.",
        files=kept,
        refused=refused,
    ).reference


def key_of(container: Container, reference: str) -> tuple[str, bytes]:
    email = container.desk.ticket(reference).requester_email
    assert isinstance(email, Personal)
    subject = subject_of_sealed(email.sealed)
    assert subject is not None
    key = container.keys.key(subject)
    assert key is not None
    return subject, key


def stored_anywhere(container: Container, folder: Path, data: bytes) -> bool:
    everything = dump(container) + b"".join(
        p.read_bytes() for p in folder.rglob("*") if p.is_file()
    )
    return data in everything


def verify(container: Container, cli_env: dict[str, str]) -> Any:
    return CliRunner().invoke(audit_group, ["verify"], env=cli_env)


def test_a_request_keeps_its_files_sealed_and_names_those_refused(
    container: Container, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    reference = submit_with_files(container)

    ticket = container.desk.ticket(reference)
    assert [f["media_type"] for f in ticket.files] == ["image/jpeg", "application/pdf"]
    history = container.audit.history(reference)
    assert [r.type for r in history] == ["Submitted", "FilesAttached"]
    attached = history[1].state
    assert attached["message_version"] == 1 and attached["refused"] == ["kind_not_kept"]
    certificate = ticket.file(hashlib.sha256(CERTIFICATE).hexdigest())
    assert certificate is not None and certificate["size"] == len(CERTIFICATE)
    # Kept sealed: neither the bytes nor the names lie anywhere in the clear.
    assert not stored_anywhere(container, tmp_path, b"Certificate-Quartz-77")
    assert not any(stored_anywhere(container, tmp_path, f) for f in forms("شهادة الحضور.pdf"))
    store = container.desk.attachments
    assert store is not None
    assert store.open(*key_of(container, reference), certificate["sha256"]) == CERTIFICATE

    caught_up(container)
    items = conversation(container.engine, reference).items
    files_item = next(i for i in items if i["kind"] == "files_attached")
    assert files_item["visibility"] == "requester" and files_item["of_version"] == 1
    assert [f["name"] for f in files_item["files"]] == ["screen.jpg", "شهادة الحضور.pdf"]
    assert files_item["refused"] == [{"name": "setup.png", "reason": "kind_not_kept"}]

    SealKeeper(container.desk, container.audit_key).catch_up()
    result = verify(container, cli_env)
    assert result.exit_code == 0, result.output
    assert "files: 2 checked against their events' hashes, 0 of erased requesters" in result.output


def test_a_follow_up_and_a_response_bring_their_files(container: Container) -> None:
    reference = container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="huda@example.org",
        category=Category.LOGIN,
        course="Fractions 101",
        subject="Cannot sign in",
        description="The page says error 500.",
    ).reference
    screenshot, _ = files(("error.png", image("PNG")))
    corrected, _ = files(("certificate.pdf", CERTIFICATE))

    container.desk.receive_follow_up(
        reference, message="Here it is", channel=Channel.WEB_FORM, files=screenshot
    )
    container.desk.respond(reference, message="Corrected", actor="agent.sara", files=corrected)

    history = container.audit.history(reference)
    assert [r.type for r in history] == [
        "Submitted",
        "FollowUpReceived",
        "FilesAttached",
        "Responded",
        "FilesAttached",
    ]
    assert history[2].actor == "requester" and history[4].actor == "agent.sara"
    assert [f["message_version"] for f in container.desk.ticket(reference).files] == [2, 4]


def test_an_erased_requester_s_files_are_gone_and_the_record_still_verifies(
    container: Container, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    reference = submit_with_files(container)
    caught_up(container)
    store = container.desk.attachments
    assert store is not None
    subject, _key = key_of(container, reference)
    assert len(store.blobs.addresses([subject])) == 2

    report = eraser(container).erase(reference, reason="asked", basis="request", actor="dpo")

    assert report.files_removed == 2 and store.blobs.addresses([subject]) == []
    items = conversation(container.engine, reference).items
    files_item = next(i for i in items if i["kind"] == "files_attached")
    assert {f["name"] for f in files_item["files"] + files_item["refused"]} == {ERASED}
    SealKeeper(container.desk, container.audit_key).catch_up()
    result = verify(container, cli_env)
    assert result.exit_code == 0, result.output
    assert "0 checked against their events' hashes, 2 of erased requesters" in result.output


def test_a_file_changed_where_it_is_kept_is_named_by_audit_verify(
    container: Container, cli_env: dict[str, str]
) -> None:
    reference = submit_with_files(container)
    SealKeeper(container.desk, container.audit_key).catch_up()
    store = container.desk.attachments
    assert store is not None
    subject, _ = key_of(container, reference)
    address = store.blobs.addresses([subject])[0]
    sealed = store.blobs.get(address)
    assert sealed is not None
    changed = sealed[:-1] + bytes([sealed[-1] ^ 1])
    if store.in_database:
        with container.engine.begin() as connection:
            connection.execute(
                blobs_table.update().where(blobs_table.c.address == address).values(data=changed)
            )
    else:
        path = next(Path(container.settings.data_dir).rglob(address))
        path.write_bytes(changed)

    result = verify(container, cli_env)

    assert result.exit_code == 1
    assert "is missing or was changed where files are kept" in result.output


def test_files_sent_to_a_ticket_recorded_before_sealing_share_its_texts_key(
    container: Container, cli_env: dict[str, str]
) -> None:
    desk = container.desk
    vault, desk.vault = desk.vault, None  # a release that kept texts as written
    reference = desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="huda@example.org",
        category=Category.ATTENDANCE_CERTIFICATE,
        course="Fractions 101",
        subject="My certificate has the wrong name",
        description="Here it is.",
    ).reference
    desk.vault = vault
    kept, _ = files(("certificate.pdf", CERTIFICATE))
    desk.receive_follow_up(
        reference, message="The certificate, attached.", channel=Channel.WEB_FORM, files=kept
    )

    follow_up, attached = container.audit.history(reference)[-2:]
    texts = [follow_up.state["message"], attached.state["names"]]
    assert all(isinstance(text, Personal) for text in texts)
    subjects = {subject_of_sealed(text.sealed) for text in texts}
    assert len(subjects) == 1 and None not in subjects
    SealKeeper(desk, container.audit_key).catch_up()
    result = verify(container, cli_env)
    assert result.exit_code == 0, result.output
    assert "1 checked against their events' hashes" in result.output

    report = eraser(container).erase(reference, reason="asked", basis="request", actor="dpo")
    assert report.files_removed == 1


@pytest.mark.postgres
def test_on_postgresql_the_files_are_written_with_their_event_or_not_at_all(
    postgres_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = postgres_container
    assert container.desk.attachments is not None and container.desk.attachments.in_database

    def fails(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the database went away while the event was written")

    monkeypatch.setattr(container.desk, "save", fails)
    with pytest.raises(RuntimeError):
        submit_with_files(container)
    with container.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(blobs_table)).scalar() == 0


def test_the_api_and_the_console_list_a_message_s_files_and_those_refused(
    container: Container, app: Flask, bearer: Callable[[Role], dict[str, str]]
) -> None:
    reference = submit_with_files(container)
    caught_up(container)

    answer = app.test_client().get(
        f"/api/v1/tickets/{reference}/conversation", headers=bearer(Role.AGENT)
    )

    assert answer.status_code == 200, answer.get_data(as_text=True)
    item = next(i for i in answer.get_json()["items"] if i["kind"] == "files_attached")
    assert item["of_version"] == 1
    assert [(f["name"], f["media_type"]) for f in item["files"]] == [
        ("screen.jpg", "image/jpeg"),
        ("شهادة الحضور.pdf", "application/pdf"),
    ]
    assert item["files"][1]["sha256"] == hashlib.sha256(CERTIFICATE).hexdigest()
    assert item["refused"] == [{"name": "setup.png", "reason": "kind_not_kept"}]

    container.users.add("sara", Role.AGENT)
    container.signin.set_password("sara", PASSWORD)
    page = signed_in(app, "sara").get(f"/desk/tickets/{reference}").get_data(as_text=True)
    assert "شهادة الحضور.pdf" in page and "setup.png" in page
    assert Refusal.KIND_NOT_KEPT.explained("ar") in page
