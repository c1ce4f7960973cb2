"""The SLA report's counts, added up per day as tickets change (P5, P6, P7.2).

Counting a year of tickets row by row took a report a good part of its time. The reports
projection adds each ticket's contribution to `reports_daily`, one row per grouping value and
day of submission (and takes back the ticket's former contribution), in the transaction that
writes the ticket's row, so the sums are exact and applied once. A report adds up the whole
days of its scope here; the part-days at its edges, and the deadlines still open that have
passed by now, it counts from `reports_tickets`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

from domain.deadlines import Outcome, outcome
from projections.rows import Row

GROUPINGS = ("category", "course", "channel", "week")

# What a ticket adds to its days: "late" is a deadline met after it passed; a deadline still
# open counts as breached once passed, which only a report's instant can tell.
ROLLED = (
    "tickets",
    "escalations",
    "first_response_met",
    "first_response_late",
    "first_response_known",
    "resolution_met",
    "resolution_late",
    "resolution_known",
)

metadata = sa.MetaData()
daily_table = sa.Table(
    "reports_daily",
    metadata,
    sa.Column("dimension", sa.String(8), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),  # of submission, in UTC
    sa.Column("missing", sa.Boolean, primary_key=True),  # the ticket has no value (NULL)
    sa.Column("value", sa.Text, primary_key=True),  # "" when missing
    *(sa.Column(name, sa.Integer, nullable=False) for name in ROLLED),
)

_KEY = ("dimension", "day", "missing", "value")
_UPSERT = (
    f"INSERT INTO reports_daily ({', '.join((*_KEY, *ROLLED))}) VALUES %s"
    f" ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{name} = reports_daily.{name} + EXCLUDED.{name}" for name in ROLLED)
)
_DELETE_ROWS = 2_000  # keys a statement: well under PostgreSQL's 65,535 parameters


def _contribution(row: Row, sign: int) -> tuple[int, ...]:
    def met_late(done: str, due: str) -> tuple[int, int]:
        ended = outcome(row[due], row[done])
        return sign * (ended is Outcome.MET), sign * (ended is Outcome.BREACHED)

    return (
        sign,
        sign * row["escalations"],
        *met_late("first_response_at", "first_response_due"),
        sign * (row["first_response_hours"] is not None),
        *met_late("resolved_at", "resolution_due"),
        sign * (row["resolution_hours"] is not None),
    )


def roll_up(connection: Connection, before: Iterable[Row], after: Iterable[Row]) -> None:
    """Take back what the `before` rows added to their days, add what the `after` rows add."""
    deltas: dict[tuple[str, date, bool, str], tuple[int, ...]] = {}
    for sign, rows in ((-1, before), (1, after)):
        for row in rows:
            added = _contribution(row, sign)
            day = row["submitted_at"].astimezone(UTC).date()
            for dimension in GROUPINGS:
                value = row[dimension]
                key = (dimension, day, value is None, value or "")
                known = deltas.get(key)
                deltas[key] = added if known is None else tuple(map(operator.add, known, added))
    changes = [
        {"dimension": d, "day": day, "missing": m, "value": v, **dict(zip(ROLLED, t, strict=True))}
        for (d, day, m, v), t in deltas.items()
        if any(t)
    ]
    if changes and connection.dialect.name == "postgresql":
        # The driver's executemany sends a statement a row: one multi-row statement instead.
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            execute_values(cursor, _UPSERT, [tuple(c.values()) for c in changes], page_size=5000)
        finally:
            cursor.close()
    elif changes:
        statement = sqlite.insert(daily_table)
        upsert = statement.on_conflict_do_update(
            index_elements=list(daily_table.primary_key.columns),
            set_={name: daily_table.c[name] + statement.excluded[name] for name in ROLLED},
        )
        connection.execute(upsert, changes)
    # A ticket moved to another value (details supplied later) may leave a day with none:
    # such rows go, so the table is the same whether built live or by a rebuild.
    emptied = [key for key, t in deltas.items() if t[0] < 0]
    primary = sa.tuple_(*daily_table.primary_key.columns)
    for i in range(0, len(emptied), _DELETE_ROWS):
        connection.execute(
            sa.delete(daily_table).where(
                primary.in_(emptied[i : i + _DELETE_ROWS]), daily_table.c.tickets == 0
            )
        )


def counts_query(
    tickets: sa.Table, group_by: str, start: datetime | None, end: datetime | None, now: datetime
) -> sa.Select[Any]:
    """Per group: tickets, escalations, met and breached (as of `now`) and known hours."""
    submitted, group = tickets.c.submitted_at, tickets.c[group_by]
    first, last = _ceil_day(start), _floor_day(end)
    if first is not None and last is not None and first >= last:
        # Not one whole day: count rows.
        parts = [_counted(tickets, group, now).where(*within(submitted, start, end))]
    else:
        days = daily_table.c.day
        whole = within(submitted, first, last)
        edges = [
            *([sa.and_(*within(submitted, start, first))] if first is not None else []),
            *([sa.and_(*within(submitted, last, end))] if last is not None else []),
        ]
        parts = [
            _summed(group_by).where(
                *([days >= first.date()] if first is not None else []),
                *([days < last.date()] if last is not None else []),
            ),
            _overdue(tickets, group, now).where(*whole),
            *([_counted(tickets, group, now).where(sa.or_(*edges))] if edges else []),
        ]
    every = sa.union_all(*parts).subquery()
    figures = [
        sa.func.sum(every.c[name]).label(name) for name in ("tickets", "escalations", *_FIGURES)
    ]
    return (
        sa.select(every.c.grouped, *figures)
        .group_by(every.c.grouped)
        .order_by(sa.nulls_last(every.c.grouped))
    )


_FIGURES = tuple(
    f"{prefix}_{figure}"
    for prefix in ("first_response", "resolution")
    for figure in ("met", "breached", "known")
)
_CLOCKS = (
    ("first_response", "first_response_due", "first_response_at", "first_response_hours"),
    ("resolution", "resolution_due", "resolved_at", "resolution_hours"),
)


def within(column: sa.Column[Any], start: datetime | None, end: datetime | None) -> list[Any]:
    """Conditions for `start <= column < end`; a bound that is None is left out."""
    return [
        *([column >= start] if start is not None else []),
        *([column < end] if end is not None else []),
    ]


def _summed(group_by: str) -> sa.Select[Any]:
    d = daily_table.c
    return sa.select(
        sa.case((d.missing, sa.null()), else_=d.value).label("grouped"),
        d.tickets,
        d.escalations,
        *(
            column
            for prefix, *_ in _CLOCKS
            for column in (
                d[f"{prefix}_met"],
                d[f"{prefix}_late"].label(f"{prefix}_breached"),
                d[f"{prefix}_known"],
            )
        ),
    ).where(d.dimension == group_by)


def _counted(tickets: sa.Table, group: sa.Column[Any], now: datetime) -> sa.Select[Any]:
    """Each ticket row as the figures it adds (for the part-days at a scope's edges)."""
    c = tickets.c
    columns: list[Any] = [group.label("grouped"), sa.literal(1).label("tickets"), c.escalations]
    for prefix, due, done, hours in _CLOCKS:
        # `domain.deadlines.outcome` as of `now`, in SQL: the database counts the rows.
        met = sa.and_(c[done].is_not(None), c[done] <= c[due])
        breached = sa.or_(
            sa.and_(c[done].is_not(None), c[done] > c[due]),
            sa.and_(c[done].is_(None), c[due] <= now),
        )
        columns += [
            sa.case((met, 1), else_=0).label(f"{prefix}_met"),
            sa.case((breached, 1), else_=0).label(f"{prefix}_breached"),
            sa.case((c[hours].is_not(None), 1), else_=0).label(f"{prefix}_known"),
        ]
    return sa.select(*columns)


def _overdue(tickets: sa.Table, group: sa.Column[Any], now: datetime) -> sa.Select[Any]:
    """Deadlines still open that have passed by `now`: breaches the days cannot hold."""
    c = tickets.c
    zero = sa.literal(0)
    columns: list[Any] = [group.label("grouped"), zero.label("tickets"), zero.label("escalations")]
    for prefix, due, done, _ in _CLOCKS:
        overdue = sa.and_(c[done].is_(None), c[due] <= now)
        columns += [
            zero.label(f"{prefix}_met"),
            sa.case((overdue, 1), else_=0).label(f"{prefix}_breached"),
            zero.label(f"{prefix}_known"),
        ]
    return sa.select(*columns).where(open_deadlines(tickets))


def open_deadlines(tickets: sa.Table) -> Any:
    """Tickets with a deadline still open: few, so the tickets table keeps a partial index."""
    return sa.or_(tickets.c.first_response_at.is_(None), tickets.c.resolved_at.is_(None))


def _ceil_day(instant: datetime | None) -> datetime | None:
    if instant is None:
        return None
    day = _floor_day(instant)
    assert day is not None
    return day if day == instant else day + timedelta(days=1)


def _floor_day(instant: datetime | None) -> datetime | None:
    if instant is None:
        return None
    return datetime.combine(instant.astimezone(UTC).date(), time(), tzinfo=UTC)
