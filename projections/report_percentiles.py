"""The SLA report's median and p90 business hours: sorted, or read by rank (P5, P7.2).

Both clocks' percentiles are found by group and over all of a report's tickets. The database
sorts the hours of the tickets in scope (`sorted_percentiles`), or, on PostgreSQL over a large
scope, the values at the percentiles' ranks are read from indexes that keep each group's hours
in order (`ranked_percentiles`): the same figures, without sorting a million values.
"""

from __future__ import annotations

import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from projections.percentile import interpolated, percentile
from projections.report_counts import within

CLOCKS = ("first_response", "resolution")
"""The clocks a report gives figures for; `<clock>_hours` is a column of the tickets table."""

_FRACTIONS = (0.5, 0.9)

Percentiles = tuple[float | None, float | None]
Found = tuple[dict[Any, Percentiles], Percentiles]  # by group, and over all


@dataclass(frozen=True)
class Scope:
    """The tickets a report covers (submitted in [start, end)) and the column it groups by."""

    tickets: sa.Table
    group: sa.Column[Any]
    start: datetime | None
    end: datetime | None

    def conditions(self) -> list[Any]:
        """The scope as SQLAlchemy conditions on the tickets table."""
        return within(self.tickets.c.submitted_at, self.start, self.end)


def sorted_percentiles(connection: Connection, scope: Scope) -> dict[str, Found]:
    """Median and p90 of both clocks' hours, by group and over all, by the database's sort."""
    conditions = scope.conditions()
    figures = [
        percentile(scope.tickets.c[f"{prefix}_hours"], fraction)
        for prefix in CLOCKS
        for fraction in _FRACTIONS
    ]
    by_group = connection.execute(
        sa.select(scope.group, *figures).where(*conditions).group_by(scope.group)
    ).all()
    overall = connection.execute(sa.select(*figures).where(*conditions)).one()
    return {
        prefix: (
            {row[0]: (row[1 + 2 * i], row[2 + 2 * i]) for row in by_group},
            (overall[2 * i], overall[1 + 2 * i]),
        )
        for i, prefix in enumerate(CLOCKS)
    }


def ranked_percentiles(
    engine: Engine, connection: Connection, scope: Scope, known: dict[str, dict[Any, int]]
) -> dict[str, Found]:
    """Both clocks' percentiles read by rank at once, on two connections in one snapshot.

    Walking index entries is the report's main cost, and a server process walks for one
    connection only: the second clock on a second connection puts another core to work.
    The second connection adopts the first one's snapshot, so both read the same tickets
    as the counts did. `known` holds, per clock, each group's count of known hours.
    """
    snapshot = str(connection.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one())
    if not re.fullmatch(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?", snapshot):
        raise ValueError(f"unexpected snapshot name {snapshot!r}")
    first, second = CLOCKS

    def ranked(on: Connection, prefix: str) -> Found:
        return _at_ranks(on, scope.tickets.c[f"{prefix}_hours"], scope, known[prefix])

    def in_snapshot(prefix: str) -> Found:
        with engine.connect() as other:
            other.execution_options(isolation_level="REPEATABLE READ")
            # The first statement of the transaction, as PostgreSQL requires; a name checked
            # above, since this statement takes no parameters.
            other.execute(sa.text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            return ranked(other, prefix)

    with ThreadPoolExecutor(1, thread_name_prefix="report") as helper:
        later = helper.submit(in_snapshot, second)
        found = {first: ranked(connection, first)}
        found[second] = later.result()
    return found


def _at_ranks(
    connection: Connection, hours: sa.Column[Any], scope: Scope, known: dict[Any, int]
) -> Found:
    """The same percentiles, exact, from the values at their ranks (PostgreSQL).

    A group's values in order are a stretch of its index on (group, hours), so the value at
    rank k is k entries into it, or n - k from its end: no sort of a million values, which took
    most of a report's second, and at most half a group read for its median, a tenth for its
    p90. The group sizes come from the counts, read in the same snapshot.
    """
    column, group, table = hours.name, scope.group.name, scope.tickets.name
    conditions, parameters = _scope_sql(scope)
    at_rank = (
        f"SELECT {column} FROM {table} WHERE {{match}} AND {column} IS NOT NULL"
        f"{conditions} ORDER BY {column} {{direction}} OFFSET {{skip}} LIMIT 2"
    )
    sizes = {g: n for g, n in [*known.items(), (_ALL, sum(known.values()))] if n}
    plan = {(g, f): _reading(_rank(f, n), n) for g, n in sizes.items() for f in _FRACTIONS}
    values: dict[tuple[Any, float], list[float]] = {}
    for direction in ("ASC", "DESC"):
        named = [
            (g, f, skip)
            for (g, f), (way, skip, _) in plan.items()
            if way == direction and g is not None and g is not _ALL
        ]
        if named:
            found = connection.execute(
                sa.text(
                    "SELECT w.grouped, w.fraction, ARRAY("
                    + at_rank.format(
                        match=f"{group} = w.grouped", direction=direction, skip="w.skip"
                    )
                    + ") FROM unnest(CAST(:groups AS text[]), CAST(:fractions AS float8[]),"
                    " CAST(:skips AS bigint[])) AS w(grouped, fraction, skip)"
                ),
                {
                    **parameters,
                    "groups": [g for g, _, _ in named],
                    "fractions": [f for _, f, _ in named],
                    "skips": [skip for _, _, skip in named],
                },
            )
            values.update({(g, f): v for g, f, v in found})
        for key, match in ((None, f"{group} IS NULL"), (_ALL, "TRUE")):
            wanted = [
                (f, skip)
                for (g, f), (way, skip, _) in plan.items()
                if g is key and way == direction
            ]
            if wanted:
                statement = ", ".join(
                    f"ARRAY({at_rank.format(match=match, direction=direction, skip=skip)})"
                    for _, skip in wanted
                )
                row = connection.execute(sa.text(f"SELECT {statement}"), parameters).one()
                values.update({(key, f): v for (f, _), v in zip(wanted, row, strict=True)})

    def figures(g: Any, n: int) -> Percentiles:
        median, p90 = (
            interpolated(sorted(values[g, f])[_rank(f, n) - plan[g, f][2] :], f, n)
            for f in _FRACTIONS
        )
        return median, p90

    by_group = {g: figures(g, n) for g, n in sizes.items() if g is not _ALL}
    return by_group, figures(_ALL, sizes[_ALL]) if _ALL in sizes else (None, None)


def _reading(low: int, count: int) -> tuple[str, int, int]:
    """How to read the values at ranks `low` and `low + 1` of `count`: from the nearer end.

    (direction, entries to skip, rank of the first value read once sorted)
    """
    if low <= count - 1 - low:
        return "ASC", low, low
    skip = max(0, count - 2 - low)
    return "DESC", skip, count - 2 - skip


_ALL = object()  # the key of the percentiles over all groups


def _rank(fraction: float, count: int) -> int:
    """The 0-based rank of the lower of the two values a percentile interpolates between."""
    return math.floor(fraction * (count - 1))


def _scope_sql(scope: Scope) -> tuple[str, dict[str, Any]]:
    conditions, parameters = "", {}
    if scope.start is not None:
        conditions += " AND submitted_at >= :start"
        parameters["start"] = scope.start
    if scope.end is not None:
        conditions += " AND submitted_at < :end"
        parameters["end"] = scope.end
    return conditions, parameters
