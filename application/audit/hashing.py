"""The stored log with each event's hash recomputed, on every core of the machine (P7.1).

Decoding and hashing an event costs more than reading it, so worker processes read a long log
in ranges of positions, each on its own connection, decode and hash them, while the verifying
process walks the chains; the pages come back in log order, each event with the little the
walk needs. A short log is hashed in the process itself: starting workers would cost more than
they save.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from eventsourcing.persistence import JSONTranscoder, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from application.audit.records import EventLog, StoredRecord, as_uuid, log_rows, stored_state
from application.audit.seals import log_link
from application.audit.stored_hash import hash_of_stored, instant
from application.audit.stored_hash import stored_state as raw_state
from domain.chain import event_hash, event_type_name

PARALLEL_FROM = 20_000
"""A log of fewer events is hashed by the verifying process alone."""

Checked = list[tuple[StoredRecord, str, str]]
"""A page of the log: each event as the chain's walk reads it, its recomputed hash, and what
it adds to the running digest of the log (`seals.log_link`)."""

PAGE = 2_000
"""Positions a worker reads, decodes and hashes at a time."""

_worker: tuple[Transcoder, Any, Any] | None = None  # each worker's own, built once


def checked_pages(
    log: EventLog, workers: int | None = None, parallel_from: int = PARALLEL_FROM
) -> Iterator[Checked]:
    """The whole log in position order, a page at a time, each event with its recomputed hash."""
    workers = workers or os.cpu_count() or 1
    plain = log.mapper.cipher is None and log.mapper.compressor is None
    database = str(log.engine.url)
    shared = ":memory:" not in database and "mode=memory" not in database  # workers can open it
    if workers < 2 or not plain or not shared or log.last_position() < parallel_from:
        for page in log.pages():
            yield [_checked(record, record.computed_hash()) for record in page]
        return
    yield from _on_every_core(log, workers)


def _on_every_core(log: EventLog, workers: int) -> Iterator[Checked]:
    # Each worker reads its own pages (a range of positions) from the database, decodes and
    # hashes them; this process only walks the chains, in log order.
    url = log.engine.url.render_as_string(hide_password=False)
    setup = (get_topic(type(log.app)), url, log.table.name)
    head = log.last_position()
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_start, initargs=setup
    ) as pool:
        # A few pages ahead of the walk, never the whole log: memory stays bounded.
        ahead: deque[Future[list[tuple[Any, ...]]]] = deque()
        ids: dict[int, UUID] = {}  # each ticket's id built once, however many its events
        for after in range(0, head, PAGE):
            ahead.append(pool.submit(_hash_range, after, min(after + PAGE, head)))
            if len(ahead) > 2 * workers:
                yield _page(ahead.popleft().result(), ids)
        while ahead:
            yield _page(ahead.popleft().result(), ids)


def _checked(record: StoredRecord, computed: str) -> tuple[StoredRecord, str, str]:
    link = log_link(record.position, record.ticket_id, record.version, computed)
    return record, computed, link


class _Missing:
    """Sent for a field the stored event lacks (a class: pickled by name, so compared by `is`)."""


class _Same:
    """Sent for a stored hash equal to the one recomputed: 64 characters fewer to send."""


def _page(hashed: list[tuple[Any, ...]], ids: dict[int, UUID]) -> Checked:
    """A worker's page as the walk reads it: records, hashes, links to the log's digest."""
    page: Checked = []
    for position, number, version, topic, kept, link in hashed:
        computed = link[-64:]
        ticket_id = ids.get(number)
        if ticket_id is None:
            ticket_id = ids[number] = UUID(int=number)
        state = {
            name: value for name, value in zip(_KEPT, kept, strict=True) if value is not _Missing
        }
        if state.get("hash") is _Same:
            state["hash"] = computed
        page.append((StoredRecord(position, ticket_id, version, topic, state), computed, link))
    return page


def _start(application_topic: str, url: str, table_name: str) -> None:
    """A worker's transcoder (the one the application builds for its own events), and its
    own connection to the log."""
    global _worker  # noqa: PLW0603 - one per worker process, built by its initializer
    application: Any = resolve_topic(application_topic)
    transcoder = JSONTranscoder()
    application.register_transcodings(application.__new__(application), transcoder)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    # Untyped columns: the values as the database holds them, converted below.
    columns = ("id", "originator_id", "originator_version", "topic", "state")
    _worker = (transcoder, engine, sa.table(table_name, *(sa.column(c) for c in columns)))


def _hash_range(after: int, to: int) -> list[tuple[Any, ...]]:
    """Read, decode and hash the events after position `after` up to `to`, in a worker; send
    back what the walk reads of each event."""
    assert _worker is not None
    transcoder, engine, table = _worker
    with engine.connect() as connection:
        rows = connection.execute(log_rows(table, after, to)).all()
    hashed = []
    topics: dict[str, str] = {}  # one string per topic: pickled once per page, not per event
    for position, originator_id, version, topic, data in rows:
        ticket_id = as_uuid(originator_id)
        topic = topics.setdefault(topic, topic)
        plain = raw_state(bytes(data))
        computed = None
        if plain is not None:  # hashed from the stored JSON itself, its values never built
            computed = hash_of_stored(event_type_name(topic), str(ticket_id), version, plain)
        if plain is None or computed is None:
            state = stored_state(transcoder, ticket_id, version, bytes(data))
            computed = event_hash(event_type_name(topic), state)
        else:
            state = plain
            if "timestamp" in state:
                state["timestamp"] = instant(state["timestamp"])
        kept = tuple(state.get(name, _Missing) for name in _KEPT)
        if kept[0] == computed:
            kept = (_Same, *kept[1:])
        link = log_link(position, ticket_id, version, computed)
        hashed.append((position, ticket_id.int, version, topic, kept, link))
    return hashed


_KEPT = ("hash", "prev_hash", "timestamp", "reference")
"""What the chain's walk reads of an event, besides where it sits and its hash."""
