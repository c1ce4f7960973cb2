"""Tamper evidence for the record (P7.1).

Each of a ticket's events carries the hash of its predecessor and a hash of its own canonical
content, so an event changed, inserted, reordered or removed after the fact breaks the chain.
The canonical form is independent of how the event store serialises events: a store migration
or a new JSON library must not change any hash. `HashChained` is the aggregate base that
builds every event so.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from domain.personal import Personal, seal_fields

GENESIS = "0" * 64
"""The predecessor hash of a ticket's first event."""


_PLAIN = (str, int, float, bool, type(None))


def _canonical(value: Any) -> Any:
    if type(value) in _PLAIN:  # the common case first: this runs for every field of every event
        return value
    if isinstance(value, Personal):  # the record holds, and hashes, a personal text sealed
        return value.sealed
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, dict | Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items) if isinstance(value, set | frozenset) else items
    return value


def event_hash(event_type: str, state: Mapping[str, Any]) -> str:
    """SHA-256 of an event's canonical content: its type and every field but its own hash.

    A `class_version` above 1 is hashed too: changed back, an upcaster would rewrite the
    event's fields as it reads them while the stored fields still verified. Events of the
    first version store none, so their hashes are what they always were.
    """
    return hashlib.sha256(hashed_document(event_type, state).encode("utf-8")).hexdigest()


def hashed_document(event_type: str, state: Mapping[str, Any]) -> str:
    """The exact text whose SHA-256 is the event's hash (UTF-8): JSON with sorted keys and no
    spaces, instants in UTC. Given to anyone who checks a copy of the record by hand."""
    content = {
        k: v for k, v in state.items() if k != "hash" and not (k == "class_version" and v == 1)
    }
    document = {"type": event_type, "state": _canonical(content)}
    return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def event_type_name(topic_or_class: str | type) -> str:
    """The stable part of an event's type: `Ticket.Responded`, without the module path."""
    if isinstance(topic_or_class, type):
        return topic_or_class.__qualname__
    return topic_or_class.rsplit(":", 1)[-1]


class HashChained(Aggregate):
    """An aggregate whose events each name who acted and link to the one before by hash.

    An event's hash is computed from the fields it is built with, before it is built, so it
    covers exactly what is stored, its id and version included.
    """

    chain_head = GENESIS
    """The hash the next event links to: the last event's, once there is one."""

    class Event(Aggregate.Event):
        """Every event names who acted and extends the aggregate's hash chain."""

        actor: str
        prev_hash: str
        hash: str

        def mutate(self, aggregate: Any) -> Any:
            mutated = super().mutate(aggregate)
            assert mutated is not None
            mutated.chain_head = self.hash  # also on replay, so the next event can link to it
            return mutated

    @classmethod
    def _create(cls, event_class: type[Any], *, id: Any = None, **kwargs: Any) -> Any:  # noqa: A002
        # The id is part of the first event's hash, so it is settled here, not by the library.
        named = inspect.signature(cls.create_id).parameters
        originator_id = cls.create_id(**{k: v for k, v in kwargs.items() if k in named})
        kwargs.update(
            originator_id=originator_id,
            originator_version=cls.INITIAL_VERSION,
            prev_hash=GENESIS,
        )
        kwargs["originator_topic"] = get_topic(cls)
        seal_fields(event_class, kwargs)
        kwargs["hash"] = _hash_of(event_class, kwargs)
        return super()._create(event_class, id=originator_id, **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        kwargs.update(
            originator_id=self.id,
            originator_version=self.version + 1,
            prev_hash=self.chain_head,
        )
        seal_fields(event_class, kwargs)
        kwargs["hash"] = _hash_of(event_class, kwargs)
        super().trigger_event(event_class, **kwargs)


def _hash_of(event_class: type[Any], fields: dict[str, Any]) -> str:
    """The hash of an event about to be built, with the class version the store will record."""
    version = getattr(event_class, "class_version", 1)
    return event_hash(event_type_name(event_class), {**fields, "class_version": version})
