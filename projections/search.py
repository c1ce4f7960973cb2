"""Search: tickets by a piece of their reference, their requester's email, or their words.

`search_tickets` keeps one row per ticket: its reference (also without dashes, for pieces of
it), the requester's email in lower case, when it was submitted, the queue's filters that
change seldom (category, course, owner; kept by the queue's own rules), and the distinct
normalised words (projections/search_text.py) of everything written on it: subject,
description, the requester's name, the course, follow-ups, responses, internal notes,
escalation and forwarding notes, extension and reopening reasons, resolution summaries.

Each database matches the words with its own full-text index:

- PostgreSQL: `vector`, a tsvector of the words as quoted lexemes (no positions: no phrase
  search), in a GIN index; pieces of references through a pg_trgm GIN index on `symbols`,
  or a plain LIKE over every row when the extension cannot be created.
- SQLite: `search_fts`, a contentless FTS5 table whose rowid is `fts_key` (the reference's
  symbols as a number, stable where SQLite's own rowids are not), kept by triggers on the
  rows' inserts, updates and deletes, so the delete-and-insert of `TicketRows` keeps it exact.

Results are the queue's rows (`queue_tickets`), newest first; the status and SLA filters are
the queue's, on its open tickets; without them closed tickets are found too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY, TSVECTOR
from sqlalchemy.engine import Connection, Engine

from domain.personal import ERASED
from domain.reference import ALPHABET
from domain.sla import SlaPolicy
from domain.status import Status
from domain.ticket import Ticket
from projections.cursor import encode_cursor, past_cursor
from projections.queue import UNASSIGNED, QueueFilter, filtered, queue_table, sla_state
from projections.readmodel import TicketRows
from projections.rows import Instant, Row, utc
from projections.search_text import Terms, compact_reference, snippet, words
from projections.ticket_events import (
    EVERY_TICKET_EVENT,
    OPEN_STATUSES,
    details_after,
    status_value_after,
)

log = logging.getLogger(__name__)

MAX_WORDS_BYTES = 256 * 1024
"""The most bytes of words kept per ticket, each word's UTF-8 bytes and one for a separator.
Words are kept in the order they were first written, so a conversation longer than this keeps
its subject, description and earlier messages, and later messages add only the words that
still fit. A tsvector of them stays under PostgreSQL's 1 MB: each distinct word costs its bytes
plus a 4-byte entry, and n words count at least 2n bytes here, so it needs at most
3 × 256 KiB."""

metadata = sa.MetaData()
search_table = sa.Table(
    "search_tickets",
    metadata,
    sa.Column("ticket_id", sa.Uuid, primary_key=True),
    sa.Column("reference", sa.String(16), nullable=False),
    sa.Column("symbols", sa.String(16), nullable=False),
    sa.Column("fts_key", sa.BigInteger, nullable=False),
    sa.Column("requester_email", sa.Text, nullable=False),
    sa.Column("submitted_at", Instant, nullable=False),
    sa.Column("category", sa.String(32)),
    sa.Column("course", sa.Text),
    sa.Column("assignee", sa.String(100)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("is_open", sa.Boolean, nullable=False),
    # The words are kept once, where this database's index reads them: `words` (space-separated)
    # on SQLite, for search_fts; `vector` on PostgreSQL. The other column is NULL.
    sa.Column("words", sa.Text),
    sa.Column("vector", TSVECTOR().with_variant(sa.Text(), "sqlite")),
)
sa.Index("search_tickets_newest", search_table.c.submitted_at, search_table.c.reference)
sa.Index("search_tickets_by_email", search_table.c.requester_email)
# Open tickets are a few of all: a search within a status or an SLA state walks only them.
for _name, *_columns in (
    ("open_newest", "submitted_at", "reference"),
    ("open_by_status", "status", "submitted_at", "reference"),
):
    sa.Index(
        f"search_tickets_{_name}",
        *(search_table.c[column] for column in _columns),
        postgresql_where=search_table.c.is_open,
        sqlite_where=search_table.c.is_open,
    )
# The filters, which PostgreSQL combines with the words' index (a BitmapAnd), or walks newest
# first within (category, owner: see `search_statements`). Course names are free text: a hash
# index takes values of any length, where a B-tree refuses long ones.
sa.Index(
    "search_tickets_by_category",
    search_table.c.category,
    search_table.c.submitted_at,
    search_table.c.reference,
)
sa.Index("search_tickets_by_course", search_table.c.course, postgresql_using="hash")
sa.Index(
    "search_tickets_by_assignee",
    search_table.c.assignee,
    search_table.c.submitted_at,
    search_table.c.reference,
)
sa.Index("search_tickets_by_words", search_table.c.vector, postgresql_using="gin").ddl_if(
    dialect="postgresql"
)
sa.Index("search_tickets_by_fts_key", search_table.c.fts_key, unique=True).ddl_if(dialect="sqlite")

_TRIGRAM_INDEX = "search_tickets_by_symbols"
FTS_TABLE = "search_fts"
_SQLITE_FTS = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "words, content='', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER IF NOT EXISTS search_tickets_fts_insert AFTER INSERT ON search_tickets "
    f"BEGIN INSERT INTO {FTS_TABLE} (rowid, words) VALUES (new.fts_key, new.words); END",
    "CREATE TRIGGER IF NOT EXISTS search_tickets_fts_delete AFTER DELETE ON search_tickets "
    f"BEGIN INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, words) "
    "VALUES ('delete', old.fts_key, old.words); END",
    "CREATE TRIGGER IF NOT EXISTS search_tickets_fts_update AFTER UPDATE ON search_tickets "
    f"BEGIN INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, words) "
    "VALUES ('delete', old.fts_key, old.words); "
    f"INSERT INTO {FTS_TABLE} (rowid, words) VALUES (new.fts_key, new.words); END",
]


def _texts(domain_event: Ticket.Event) -> list[str | None]:
    """What the event adds to the ticket's conversation, in words someone may search for."""
    match domain_event:
        case Ticket.FollowUpReceived():
            return [domain_event.subject, domain_event.message]
        case Ticket.Responded():
            return [domain_event.message]
        case Ticket.NoteAdded():
            return [domain_event.text]
        case Ticket.Resolved():
            return [domain_event.summary]
        case Ticket.DeadlineExtended() | Ticket.Reopened():
            return [domain_event.reason]
        case Ticket.Escalated():
            return [domain_event.note]
        case Ticket.ForwardedToManagement():
            return [domain_event.department, domain_event.note]
        case Ticket.DetailsSupplied():
            return [domain_event.course]
    return []


class SearchProjection(TicketRows):
    """Keeps `search_tickets` (and on SQLite its FTS5 index) from every ticket event."""

    name = "search"
    tables = (search_table,)
    topics = EVERY_TICKET_EVENT

    @property
    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def fold(self, row: Row | None, domain_event: Ticket.Event) -> Row | None:
        if isinstance(domain_event, Ticket.Submitted):
            return self._submitted(domain_event)
        if row is None:
            return None
        changed = details_after(dict(row), domain_event)  # category and course, as the queue
        changed["status"] = status_value_after(row["status"], domain_event)
        changed["is_open"] = changed["status"] in OPEN_STATUSES
        match domain_event:
            case Ticket.Assigned():
                changed["assignee"] = domain_event.assignee
            case Ticket.Unassigned():
                changed["assignee"] = None
            case Ticket.RequesterDataErased() | Ticket.FieldRedacted():
                # The words cannot be told apart by whose they were: only the course stays
                # searchable, with the reference (P7.3).
                if isinstance(domain_event, Ticket.RequesterDataErased):
                    changed["requester_email"] = ERASED
                changed.update(self._document(_new_words([], [changed["course"]])))
                return changed
        kept = _stored_words(row)
        added = _new_words(kept, _texts(domain_event))
        if added:
            changed.update(self._document([*kept, *added]))
        return row if changed == row else changed  # unchanged: not written again

    def _submitted(self, submitted: Ticket.Submitted) -> Row:
        texts = [submitted.subject, submitted.description, submitted.requester_name]
        return {
            "ticket_id": submitted.originator_id,
            "reference": submitted.reference,
            "symbols": compact_reference(submitted.reference),
            "fts_key": fts_key(submitted.reference, submitted.originator_id),
            "requester_email": submitted.requester_email.lower(),
            "submitted_at": utc(submitted.timestamp),
            "category": submitted.category,
            "course": submitted.course,
            "assignee": None,
            "status": Status.NEW.value,
            "is_open": True,
            **self._document(_new_words([], [*texts, submitted.course])),
        }

    def _document(self, kept: list[str]) -> Row:
        """The words, once, in the column this database's index reads."""
        if self._postgres:
            return {"words": None, "vector": tsvector_literal(kept)}
        return {"words": " ".join(kept), "vector": None}

    # ---- tables beyond the row table -------------------------------------------------------

    def create_tables(self) -> None:
        """The row table, and the index of words and reference pieces of this database."""
        fresh = not sa.inspect(self.engine).has_table(search_table.name)
        super().create_tables()
        if self._postgres:
            create_reference_index(self.engine)
            return
        with self.engine.begin() as connection:
            if fresh:  # an index left without its rows would name tickets no longer there
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")
            for statement in _SQLITE_FTS:
                connection.exec_driver_sql(statement)

    def drop_tables(self, connection: Connection) -> None:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FTS_TABLE}")  # triggers go with rows
        super().drop_tables(connection)


def _stored_words(row: Row) -> list[str]:
    """The words a row holds: `words` on SQLite, the lexemes of `vector` on PostgreSQL (which
    writes them back quoted and sorted)."""
    if row["words"] is not None:
        return list(row["words"].split())
    return [lexeme[1:-1] for lexeme in (row["vector"] or "").split()]


def _new_words(kept: list[str], texts: list[str | None]) -> list[str]:
    """The words of `texts` not yet among `kept`, as many as fit under the cap."""
    known = set(kept)
    size = sum(len(word.encode()) + 1 for word in kept)
    added: list[str] = []
    for text in texts:
        for word in words(text or ""):
            if word in known:
                continue
            cost = len(word.encode()) + 1
            if size + cost > MAX_WORDS_BYTES:
                continue  # a shorter word may still fit
            known.add(word)
            added.append(word)
            size += cost
    return added


def tsvector_literal(kept: list[str]) -> str:
    """The words as a tsvector literal of quoted lexemes, taken as they are: no parser or
    dictionary of PostgreSQL's changes them. Words hold letters and digits only, so nothing
    needs escaping, neither here nor in COPY's text format."""
    return " ".join(f"'{word}'" for word in kept)


_SYMBOL_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}


def fts_key(reference: str, ticket_id: uuid.UUID) -> int:
    """A number for the ticket, unique as references are: their symbols read in base 32.

    SQLite's FTS5 names rows by number; its implicit rowids may change in a VACUUM, these do
    not. A reference not in canonical form falls back to 63 bits of the ticket id.
    """
    symbols = compact_reference(reference)
    if symbols.startswith("CM") and set(symbols[2:]) <= _SYMBOL_VALUE.keys():
        value = 0
        for symbol in symbols[2:]:
            value = value * 32 + _SYMBOL_VALUE[symbol]
        return value
    return (ticket_id.int >> 65) | (1 << 62)  # above any reference's 40 bits


def create_reference_index(engine: Engine) -> bool:
    """pg_trgm's index on the compact references, which answers LIKE '%piece%' without
    reading every row; whether it is there. Without the extension, pieces are still found,
    more slowly, and the warning says why."""
    statements = [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        f"CREATE INDEX IF NOT EXISTS {_TRIGRAM_INDEX} ON search_tickets "
        "USING gin (symbols gin_trgm_ops)",
    ]
    for statement in statements:
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql(statement)
        except sa.exc.DBAPIError as error:
            if _has_trigram_index(engine):
                return True  # another process created it meanwhile
            log.warning(
                "search: no trigram index on references (%s failed: %s); pieces of references "
                "are found by reading every row",
                statement.split(" IF ")[0],
                str(error.orig).strip(),
            )
            return False
    return True


def _has_trigram_index(engine: Engine) -> bool:
    with engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT 1 FROM pg_indexes WHERE tablename = 'search_tickets' AND indexname = %(n)s",
            {"n": _TRIGRAM_INDEX},
        )
        return found.first() is not None


# ---- reading ---------------------------------------------------------------------------------

WALK_ROWS_PER_RESULT = 200
"""How many tickets, newest first, are read for each row of a page before the search gives
up walking and reads every match through the indexes instead (see `search_page`)."""


@dataclass(frozen=True)
class SearchPage:
    """One page of tickets found, each row with its `sla` state (None once closed) and
    `snippet`, and the cursor of the next page."""

    rows: list[Row]
    next_cursor: str | None


def search_page(
    engine: Engine,
    policy: SlaPolicy,
    now: datetime,
    wanted: Terms,
    where: QueueFilter,
    per_page: int,
    cursor: str | None = None,
) -> SearchPage:
    """Tickets that match `wanted` within the queue's filters, newest first, a page at a time."""
    if wanted.empty:
        return SearchPage(rows=[], next_cursor=None)
    with engine.begin() as connection:  # the plan's settings hold for this transaction only
        for statement in search_statements(connection, now, wanted, where, per_page, cursor):
            found = [dict(row._mapping) for row in connection.execute(statement)]
            if len(found) > per_page:
                break  # a whole page, and the sign that another follows
    more = len(found) > per_page
    rows = []
    for row in found[:per_page]:
        at, reference = row.pop("found_at"), row.pop("found_reference")
        if row["ticket_id"] is None:
            continue  # not in the queue's table yet, which follows the log on its own
        row["sla"] = sla_state(policy, row, now) if row["is_open"] else None
        row["snippet"] = snippet(row["description"], wanted)
        rows.append(row)
    return SearchPage(rows=rows, next_cursor=encode_cursor(at, reference) if more else None)


def search_statements(
    connection: Connection,
    now: datetime,
    wanted: Terms,
    where: QueueFilter,
    per_page: int,
    cursor: str | None = None,
) -> Iterator[sa.Select[Any]]:
    """The statements of `search_page`, to run in turn until one gives more than a page.

    Words on PostgreSQL: a page newest first is found one of two ways. Walking the tickets
    newest first costs the tickets read until a page matched, which is little for a common
    word and everything for a rare one; reading every match through the word index and
    sorting them costs the matches, which is little for a rare word and most of the table
    for a common one. The planner's statistics cannot tell which (they know nothing of words
    that rarely meet, or of the rarest words), and counting the matches first costs as much
    as reading them. So the walk comes first, over a bounded number of the newest tickets:
    when a page is there, it is the page (no match outside is newer). When it is not, the
    words are rare among the newest tickets, and every match is read through the indexes.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql" and wanted.words:
        yield _walk(now, wanted, where, per_page, cursor, WALK_ROWS_PER_RESULT * (per_page + 1))
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
        connection.exec_driver_sql("SET LOCAL enable_indexonlyscan = off")
    yield search_query(dialect, now, wanted, where, per_page, cursor)


def _walk(
    now: datetime,
    wanted: Terms,
    where: QueueFilter,
    per_page: int,
    cursor: str | None,
    budget: int,
) -> sa.Select[Any]:
    """The page among the newest `budget` tickets within the search rows' filters (see
    above); the queue's own filters (SLA state) are read for the tickets the words found."""
    table = search_table
    recent = (
        sa.select(table.c.ticket_id, table.c.submitted_at, table.c.reference, table.c.vector)
        .add_columns(table.c.symbols)
        .where(*_filters(where, cursor))
        .order_by(table.c.submitted_at.desc(), table.c.reference.desc())
        .limit(budget)
        .subquery("recent")
    )
    hits = sa.select(
        recent.c.ticket_id,
        recent.c.submitted_at.label("found_at"),
        recent.c.reference.label("found_reference"),
    ).where(_found(wanted, "postgresql", recent))
    if _in_queue(where):
        hits = _queue_filters(
            hits.join(queue_table, queue_table.c.ticket_id == recent.c.ticket_id), where, now
        )
    newest = (recent.c.submitted_at.desc(), recent.c.reference.desc())
    return _with_queue_rows(hits.order_by(*newest).limit(per_page + 1).subquery("hits"))


def search_query(
    dialect: str,
    now: datetime,
    wanted: Terms,
    where: QueueFilter,
    per_page: int,
    cursor: str | None = None,
) -> sa.Select[Any]:
    """The queue's rows of one page (and one more: whether another follows), each with the
    `found_at` and `found_reference` that order the page and make its cursor."""
    table = search_table
    found = (table.c.submitted_at.label("found_at"), table.c.reference.label("found_reference"))
    newest = (table.c.submitted_at.desc(), table.c.reference.desc())
    conditions = _search_side(wanted, where, dialect, cursor)
    if _in_queue(where):  # the queue's columns decide which rows count towards the page
        joined = table.join(queue_table, queue_table.c.ticket_id == table.c.ticket_id)
        query: sa.Select[Any] = sa.select(queue_table, *found).select_from(joined)
        query = _queue_filters(query.where(*conditions), where, now)
        return query.order_by(*newest).limit(per_page + 1)
    # A page of rows found, then their queue rows: the queue is read for that page only.
    page = sa.select(table.c.ticket_id, *found).where(*conditions)
    return _with_queue_rows(page.order_by(*newest).limit(per_page + 1).subquery())


def _with_queue_rows(hits: sa.Subquery) -> sa.Select[Any]:
    """The queue's rows of a page of hits (`ticket_id`, `found_at`, `found_reference`)."""
    joined = hits.outerjoin(queue_table, queue_table.c.ticket_id == hits.c.ticket_id)
    return (
        sa.select(queue_table, hits.c.found_at, hits.c.found_reference)
        .select_from(joined)
        .order_by(hits.c.found_at.desc(), hits.c.found_reference.desc())
    )


def _search_side(
    wanted: Terms, where: QueueFilter, dialect: str, cursor: str | None
) -> list[sa.ColumnElement[bool]]:
    """What rows of `search_tickets` qualify: found, within its own filters, after the cursor."""
    return [_found(wanted, dialect, search_table), *_filters(where, cursor)]


def _filters(where: QueueFilter, cursor: str | None) -> list[sa.ColumnElement[bool]]:
    """The filters kept on the search rows, and the cursor."""
    rows = search_table
    conditions: list[sa.ColumnElement[bool]] = []
    if where.status is not None or where.sla is not None:  # the queue's: open tickets only
        conditions.append(rows.c.is_open)
    if where.status is not None:
        conditions.append(rows.c.status == where.status)
    for column in ("category", "course"):
        value = getattr(where, column)
        if value is not None:
            conditions.append(rows.c[column] == value)
    if where.assignee == UNASSIGNED:
        conditions.append(rows.c.assignee.is_(None))
    elif where.assignee is not None:
        conditions.append(rows.c.assignee == where.assignee)
    if cursor is not None:
        conditions.append(
            past_cursor(rows.c.submitted_at, rows.c.reference, cursor, descending=True)
        )
    return conditions


SEARCH_SIDE_FILTERS = frozenset({"category", "course", "assignee"})
QUEUE_SIDE_FILTERS = frozenset({"status", "sla", "escalated"})
"""Every field of `QueueFilter`: the ones kept on the search rows, the ones read in the queue
(a status is also kept on the search rows, with whether the ticket is open, so that a search
within a status walks only the open tickets; the queue's own row still decides)."""


def _in_queue(where: QueueFilter) -> bool:
    return any(getattr(where, name) is not None for name in QUEUE_SIDE_FILTERS)


def _queue_filters(query: Any, where: QueueFilter, now: datetime) -> Any:
    """Narrowed by the queue's state: with a status or SLA state, to the open tickets the queue
    shows, as it does; otherwise closed tickets are found too, as agents look back."""
    if where.status is not None or where.sla is not None:
        kept = {name: getattr(where, name) for name in QUEUE_SIDE_FILTERS}
        return filtered(query, QueueFilter(**kept), now)
    escalated = queue_table.c.escalations > 0
    return query.where(escalated if where.escalated else sa.not_(escalated))


def _found(wanted: Terms, dialect: str, rows: sa.FromClause) -> sa.ColumnElement[bool]:
    """The rows `wanted` finds: by email alone, or by words or a piece of the reference."""
    if wanted.email is not None:
        return rows.c.requester_email == wanted.email
    either: list[sa.ColumnElement[bool]] = []
    if wanted.words:
        either.append(_has_words(wanted, dialect, rows))
    if wanted.fragment is not None:  # symbols of the reference alphabet only: nothing to escape
        either.append(rows.c.symbols.like(f"%{wanted.fragment}%"))
    return sa.or_(*either)


def _has_words(wanted: Terms, dialect: str, rows: sa.FromClause) -> sa.ColumnElement[bool]:
    """Every word of the query, the last one perhaps as a prefix, quoted so that no character
    of it is taken for the syntax of tsquery or of FTS5."""
    *whole, last = wanted.words
    star = "*" if wanted.prefix else ""
    if dialect == "postgresql":
        lexemes = [f"'{word}'" for word in whole] + [f"'{last}'" + (":*" if star else "")]
        query = sa.cast(sa.bindparam("words", " & ".join(lexemes), sa.Text), TSQUERY)
        return rows.c.vector.bool_op("@@")(query)
    phrases = [f'"{word}"' for word in whole] + [f'"{last}"{star}']
    matched: sa.Select[Any] = (
        sa.select(sa.column("rowid"))
        .select_from(sa.table(FTS_TABLE))
        .where(sa.literal_column(FTS_TABLE).match(sa.bindparam("words", " ".join(phrases))))
    )
    return rows.c.fts_key.in_(matched)


def tickets_of_requester(engine: Engine, email: str) -> list[str]:
    """The references of the tickets requested from `email`, oldest first, through the index
    on the address (the learner's right of access)."""
    query = (
        sa.select(search_table.c.reference)
        .where(search_table.c.requester_email == email.strip().lower())
        .order_by(search_table.c.submitted_at, search_table.c.reference)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())
