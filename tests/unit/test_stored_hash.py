"""The hash read straight from an event's stored JSON is the hash of its decoded state."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import JSONTranscoder

from application.audit.stored_hash import hash_of_stored, instant, stored_state
from application.desk import SupportDesk
from domain.chain import event_hash

TICKET = uuid.UUID("0b9c6a8e-3f59-4b8e-9a44-5d1f2b7c9e10")


@pytest.fixture(scope="module")
def transcoder() -> JSONTranscoder:
    built = JSONTranscoder()
    SupportDesk.register_transcodings(SupportDesk.__new__(SupportDesk), built)
    return built


def both(transcoder: JSONTranscoder, state: dict[str, Any]) -> tuple[str | None, str]:
    """The hash from the stored JSON, and the hash of the decoded state, as verify computed it."""
    data = transcoder.encode(state)
    plain = stored_state(data)
    assert plain is not None
    fast = hash_of_stored("Ticket.Responded", str(TICKET), 7, plain)
    decoded = dict(transcoder.decode(data))
    decoded.update(originator_id=TICKET, originator_version=7)
    return fast, event_hash("Ticket.Responded", decoded)


RIYADH = timezone(timedelta(hours=3))

STATES: list[dict[str, Any]] = [
    {"timestamp": datetime(2026, 11, 1, 7, 0, tzinfo=UTC), "actor": "sara", "hash": "h"},
    {"timestamp": datetime(2026, 11, 1, 7, 0, 0, 120, tzinfo=UTC), "message": "مرحبا"},
    {"due": datetime(2026, 11, 5, 16, 30, tzinfo=RIYADH), "class_version": 1},
    {"due": datetime(2026, 11, 5, 16, 30, tzinfo=RIYADH), "class_version": 2},
    {"template_id": uuid.uuid4(), "ids": [uuid.uuid4(), uuid.uuid4()]},
    {"amount": Decimal("1.50"), "big": 2**63, "small": -(2**63), "none": None, "yes": True},
    {"nested": {"b": [1, {"at": datetime(2030, 1, 1, tzinfo=UTC)}], "a": '\x00\t\n"\\\u2028'}},
    {"_type_": "looks like a type", "other": 1},
    {"emoji": "🙂 \ud7ff", "empty": {}, "list": []},
]


@pytest.mark.parametrize("state", STATES)
def test_the_stored_json_hashes_as_its_decoded_state(
    transcoder: JSONTranscoder, state: dict[str, Any]
) -> None:
    fast, decoded = both(transcoder, state)
    assert fast == decoded


def test_random_states_hash_alike(transcoder: JSONTranscoder) -> None:
    rng = random.Random(11)
    values: list[Any] = [
        lambda: rng.choice(["a", "ب", "", "x" * 50]),
        lambda: rng.randint(-(10**12), 10**12),
        lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.random() * 10**8),
        lambda: datetime(2026, 1, 1, tzinfo=RIYADH) + timedelta(microseconds=rng.randint(0, 9)),
        lambda: uuid.UUID(int=rng.getrandbits(128)),
        lambda: None,
    ]
    for _ in range(300):
        state = {f"k{i}": rng.choice(values)() for i in range(rng.randint(1, 8))}
        fast, decoded = both(transcoder, state)
        assert fast == decoded, state


def test_every_character_hashes_alike(transcoder: JSONTranscoder) -> None:
    characters = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(characters), 4096):
        text = "".join(characters[start : start + 4096])
        state = {"message": text, text[:64]: "key", text[-64:]: "other key"}
        fast, decoded = both(transcoder, state)
        assert fast == decoded, hex(ord(text[0]))


@pytest.mark.parametrize("value", [0.1, 1e16, float("nan"), 2**64, -(2**63) - 1, {"deep": [1.5]}])
def test_what_orjson_would_write_otherwise_is_left_to_decoding(
    transcoder: JSONTranscoder, value: Any
) -> None:
    data = transcoder.encode({"value": value})
    plain = stored_state(data)
    assert plain is None or hash_of_stored("Ticket.Responded", str(TICKET), 1, plain) is None


def test_a_type_it_does_not_write_is_left_to_decoding(transcoder: JSONTranscoder) -> None:
    plain = stored_state(b'{"x":{"_type_":"tuple_as_list","_data_":[1]}}')
    assert plain is not None
    assert hash_of_stored("Ticket.Responded", str(TICKET), 1, plain) is None
    assert stored_state(b"[1, 2]") is None


def test_a_stored_instant_reads_back() -> None:
    at = datetime(2026, 11, 1, 10, 0, tzinfo=RIYADH)
    assert instant({"_type_": "datetime_iso", "_data_": at.isoformat()}) == at
    assert instant("2026-11-01") is None
