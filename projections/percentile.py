"""Percentiles in SQL on both databases: the median and p90 of the SLA report.

PostgreSQL has `percentile_cont`; SQLite has no percentile aggregate, so the same continuous
percentile (linear interpolation between the two nearest values) is registered on its
connection as a Python aggregate. One query serves both.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_SQLITE_NAME = "supportdesk_percentile"


class percentile(FunctionElement[float]):  # noqa: N801 - SQL function names are lower case
    """The continuous percentile `fraction` (0 to 1) of `column` in each group; NULLs ignored."""

    type = sa.Float()
    inherit_cache = True

    def __init__(self, column: sa.ColumnElement[Any], fraction: float) -> None:
        super().__init__(column, sa.literal(fraction, sa.Float()))


@compiles(percentile, "postgresql")
def _percentile_cont(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    column, fraction = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"percentile_cont({fraction}) WITHIN GROUP (ORDER BY {column})"


@compiles(percentile, "sqlite")
def _python_aggregate(element: percentile, compiler: SQLCompiler, **kw: Any) -> str:
    column, fraction = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"{_SQLITE_NAME}({column}, {fraction})"


def continuous_percentile(ordered: list[float], fraction: float) -> float | None:
    """The value at `fraction` of the way through sorted values, interpolated; None if none."""
    if not ordered:
        return None
    low = math.floor(fraction * (len(ordered) - 1))
    return interpolated(ordered[low:], fraction, len(ordered))


def interpolated(from_rank: list[float], fraction: float, count: int) -> float:
    """The percentile of `count` sorted values, given those from the lower rank it needs on.

    The same arithmetic as PostgreSQL's `percentile_cont`, so both give the same float.
    """
    position = fraction * (count - 1)
    low = math.floor(position)
    if math.ceil(position) == low:
        return from_rank[0]
    return from_rank[0] + (from_rank[1] - from_rank[0]) * (position - low)


class _Collector:
    """SQLite aggregate protocol: step once per row, finalize once per group."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.fraction = 0.5

    def step(self, value: float | None, fraction: float) -> None:
        self.fraction = fraction
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return continuous_percentile(sorted(self.values), self.fraction)


def enable_percentiles(connection: Connection) -> None:
    """Make `percentile` usable on this connection (needed on SQLite only)."""
    if connection.dialect.name == "sqlite":
        driver_connection: Any = connection.connection.driver_connection
        driver_connection.create_aggregate(_SQLITE_NAME, 2, _Collector)
