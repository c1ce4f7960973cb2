"""Seals and the audit key: signatures that the database alone cannot forge (P7.1)."""

from __future__ import annotations

import dataclasses
import stat
import uuid
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

import pytest

from application.audit.records import StoredRecord, jsonable
from application.audit.seals import (
    KEY_FILE,
    LOG_GENESIS,
    AuditKey,
    Seal,
    Watermark,
    load_audit_key,
    log_digest,
)
from domain.chain import GENESIS, event_hash
from tests.builders import KEY
from tests.waiting import DEADLINE

TICKET = uuid.UUID("5c58b6af-d375-5003-925c-44dbdb9a7199")


def test_a_seal_verifies_only_unchanged_and_under_its_key() -> None:
    seal = Seal.make(KEY, TICKET, "CM-7K3F-Q2XD", 4, "ab" * 32, 17)
    assert seal.is_signed_by(KEY)
    assert not seal.is_signed_by(AuditKey(b"another key, of the same length!"))
    for change in ({"version": 3}, {"position": 16}, {"hash": "cd" * 32}, {"reference": "X"}):
        assert not dataclasses.replace(seal, **change).is_signed_by(KEY)  # type: ignore[arg-type]


def test_a_watermark_verifies_only_unchanged() -> None:
    mark = Watermark.make(KEY, 120, "ab" * 32)
    assert mark.is_signed_by(KEY)
    assert not dataclasses.replace(mark, position=100).is_signed_by(KEY)
    assert not dataclasses.replace(mark, digest="cd" * 32).is_signed_by(KEY)


def test_the_log_digest_depends_on_every_part_and_on_order() -> None:
    first = log_digest(LOG_GENESIS, 1, TICKET, 1, "ab" * 32)
    assert first != log_digest(LOG_GENESIS, 2, TICKET, 1, "ab" * 32)
    assert first != log_digest(LOG_GENESIS, 1, TICKET, 2, "ab" * 32)
    assert first != log_digest(LOG_GENESIS, 1, TICKET, 1, "cd" * 32)
    second = log_digest(first, 2, TICKET, 2, "cd" * 32)
    swapped = log_digest(log_digest(LOG_GENESIS, 2, TICKET, 2, "cd" * 32), 1, TICKET, 1, "ab" * 32)
    assert second != swapped


def test_signature_parts_cannot_be_shifted() -> None:
    assert KEY.sign("seal", "a|b", "c") != KEY.sign("seal", "a", "b|c")
    assert KEY.sign("ab", "c") != KEY.sign("a", "bc")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        AuditKey(b"short")


def test_key_comes_from_configuration(tmp_path: Path) -> None:
    key = load_audit_key("x" * 32, tmp_path)
    assert key.sign("a") == AuditKey(b"x" * 32).sign("a")
    assert not (tmp_path / KEY_FILE).exists()


def test_without_configuration_the_embedded_key_file_is_made_once_and_private(
    tmp_path: Path,
) -> None:
    first = load_audit_key("", tmp_path)
    second = load_audit_key("", tmp_path)
    assert first.fingerprint() == second.fingerprint()
    mode = (tmp_path / KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


class Colour(Enum):
    RED = "red"


def test_jsonable_gives_plain_json_values() -> None:
    at = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    assert jsonable({"at": at, "id": TICKET, "c": Colour.RED, "xs": (1, at)}) == {
        "at": "2026-11-01T07:00:00+00:00",
        "id": str(TICKET),
        "c": "red",
        "xs": [1, "2026-11-01T07:00:00+00:00"],
    }


def test_a_stored_record_separates_envelope_and_data_and_rehashes_its_content() -> None:
    at = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    state = {
        "originator_id": TICKET,
        "originator_version": 2,
        "timestamp": at,
        "actor": "agent.sara",
        "prev_hash": GENESIS,
        "message": "hello",
        "class_version": 2,
    }
    state["hash"] = event_hash("Ticket.Responded", state)
    record = StoredRecord(9, TICKET, 2, "domain.ticket:Ticket.Responded", state)
    assert record.type == "Responded"
    assert record.data == {"message": "hello"}
    assert (record.actor, record.timestamp, record.class_version) == ("agent.sara", at, 2)
    assert record.computed_hash() == record.stored_hash
    changed = StoredRecord(9, TICKET, 2, record.topic, {**state, "message": "bye"})
    assert changed.computed_hash() != changed.stored_hash


def test_processes_starting_together_share_one_embedded_key(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from application.audit.seals import load_audit_key

    with ThreadPoolExecutor(8) as pool:
        keys = list(
            pool.map(
                lambda _: load_audit_key("", tmp_path).fingerprint(), range(16), timeout=DEADLINE
            )
        )
    assert len(set(keys)) == 1
    assert (tmp_path / "audit.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["audit.key"]  # no draft left behind
