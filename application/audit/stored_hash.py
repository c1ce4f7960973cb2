"""An event's hash straight from its stored JSON, without building its Python values.

`domain.chain.hashed_document` defines the hashed text from an event's decoded state. Verifying
a long log decodes every event only to hash it, and building its datetimes and UUIDs, then
turning them back into text, took most of that time. Here the stored JSON is read as plain
values and each value of a registered type is written straight in the canonical form: the same
text, for the types the desk's events store (instants, ids, decimals), read and written by
orjson. Anything else (another type, a float, an integer beyond 64 bits) is left to the
decoding path (`None`), so the two can only ever agree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson

_HEX = frozenset("0123456789abcdef")


class _Unknown(Exception):
    """A stored value of a type this module does not write."""


def _instant(text: str) -> str:
    if text.endswith("+00:00"):
        return text  # stored by isoformat() of a UTC instant: already its canonical form
    return datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _uuid(text: str) -> str:
    if len(text) == 32 and _HEX.issuperset(text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return str(UUID(text))


def _decimal(text: str) -> str:
    return str(Decimal(text))


_TYPES: dict[str, Callable[[str], str]] = {
    "datetime_iso": _instant,
    "uuid_hex": _uuid,
    "decimal_str": _decimal,
}


def _canonical(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            write = _TYPES.get(value["_type_"])
            if write is None:
                raise _Unknown(value["_type_"])
            return write(value["_data_"])
        return {k: _canonical(v) for k, v in value.items()}
    if kind is list:
        return [_canonical(v) for v in value]
    if kind is float:
        # orjson writes some floats otherwise than `json`, and reads integers beyond 64 bits
        # as floats: such an event is hashed by the decoding path.
        raise _Unknown("float")
    return value


def stored_state(data: bytes) -> dict[str, Any] | None:
    """The stored JSON as plain values (a dict); None when it is not a JSON object, or holds
    what orjson does not read as `json` does (a lone surrogate, NaN)."""
    try:
        state = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return state if type(state) is dict else None


def hash_of_stored(
    event_type: str, ticket_id: str, version: int, state: dict[str, Any]
) -> str | None:
    """The hash `domain.chain.event_hash` gives the event whose stored JSON is `state` (plain
    values, as `stored_state` reads them); None when a value's type is not one written here."""
    try:
        content = {
            k: _canonical(v)
            for k, v in state.items()
            if k != "hash" and not (k == "class_version" and v == 1)
        }
    except _Unknown:
        return None
    content["originator_id"] = ticket_id
    content["originator_version"] = version
    try:
        # The bytes of `json.dumps(…, sort_keys=True, ensure_ascii=False, separators=(",",
        # ":"))`: the same escapes for every code point, keys in the same order.
        document = orjson.dumps({"type": event_type, "state": content}, option=_SORTED)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits
        return None
    return hashlib.sha256(document).hexdigest()


_SORTED = orjson.OPT_SORT_KEYS


def instant(value: Any) -> datetime | None:
    """A stored instant (`{"_type_": "datetime_iso", …}`) as a datetime; None otherwise."""
    if type(value) is dict and value.get("_type_") == "datetime_iso":
        return datetime.fromisoformat(value["_data_"])
    return None
