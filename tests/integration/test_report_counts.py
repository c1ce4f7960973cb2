"""The SLA report's figures against a plain recount of the tickets, on SQLite and PostgreSQL.

The report adds up per-day counts and, on PostgreSQL over a large scope, reads percentiles
by rank from indexes: both must give exactly what counting and sorting the rows gives.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from application.bootstrap import Container
from domain.categories import Category
from domain.request import Channel
from projections import reports
from projections.percentile import continuous_percentile
from projections.report_counts import GROUPINGS, ROLLED, daily_table, roll_up
from projections.reports import reports_table, sla_report
from projections.rows import insert_rows
from projections.runner import prepare
from tests.builders import act_at_random, caught_up

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)


def ticket_rows(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Tickets around UTC midnights, some without category or course, some still open."""
    rows = []
    for i in range(count):
        submitted = DAY0 + timedelta(days=rng.randrange(6), hours=rng.choice([0, 1, 23, 12]))
        submitted += timedelta(minutes=rng.uniform(-30, 30))
        due = submitted + timedelta(hours=rng.uniform(10, 40))
        answered = rng.random() < 0.8
        solved = answered and rng.random() < 0.7
        first_at = submitted + timedelta(hours=rng.uniform(1, 30)) if answered else None
        solved_at = first_at + timedelta(hours=rng.uniform(0, 20)) if solved and first_at else None
        rows.append(
            {
                "ticket_id": uuid.UUID(int=i),
                "week": f"2026-W{44 + rng.randrange(2)}",
                "category": rng.choice([*[c.value for c in Category][:3], None]),
                "course": rng.choice(["Course A", "course b", "Ç", None]),
                "channel": rng.choice([c.value for c in Channel]),
                "status": "resolved" if solved else "in_progress",
                "submitted_at": submitted,
                "first_response_due": due,
                "first_response_at": first_at,
                "first_response_hours": rng.choice([1.0, 2.5, rng.uniform(0, 30)])
                if answered
                else None,
                "responses": int(answered),
                "resolution_started_at": submitted,
                "resolution_due": due + timedelta(hours=8),
                "resolved_at": solved_at,
                "resolution_hours": rng.uniform(0, 60) if solved else None,
                "escalations": rng.choice([0, 0, 1, 2]),
                "extensions": 0,
                "first_response_escalated": False,
                "resolution_escalated_due": None,
            }
        )
    return rows


def recount(rows: list[dict[str, Any]], group_by: str, now: datetime) -> dict[Any, tuple]:
    """Every figure of every group (None: the total), by counting and sorting in Python."""
    groups: dict[Any, list[dict[str, Any]]] = {None: rows}
    for row in rows:
        groups.setdefault(("group", row[group_by]), []).append(row)

    def figures(members: list[dict[str, Any]], done: str, due: str, hours: str) -> tuple:
        met = sum(1 for r in members if r[done] is not None and r[done] <= r[due])
        breached = sum(
            1
            for r in members
            if (r[done] is not None and r[done] > r[due]) or (r[done] is None and r[due] <= now)
        )
        known = sorted(r[hours] for r in members if r[hours] is not None)
        return (
            met,
            breached,
            continuous_percentile(known, 0.5),
            continuous_percentile(known, 0.9),
        )

    return {
        key: (
            len(members),
            sum(r["escalations"] for r in members),
            figures(members, "first_response_at", "first_response_due", "first_response_hours"),
            figures(members, "resolved_at", "resolution_due", "resolution_hours"),
        )
        for key, members in groups.items()
    }


def reported(report: reports.SlaReport) -> dict[Any, tuple]:
    def figures(line: reports.ReportLine) -> tuple:
        return (
            line.tickets,
            line.escalations,
            *(
                (d.met, d.breached, d.median_hours, d.p90_hours)
                for d in (line.first_response, line.resolution)
            ),
        )

    return {None: figures(report.total)} | {
        ("group", line.group): figures(line) for line in report.lines
    }


SCOPES = [
    (None, None),
    (DAY0 + timedelta(days=1), DAY0 + timedelta(days=4)),  # whole days
    (DAY0 + timedelta(days=1, hours=5), DAY0 + timedelta(days=3, minutes=10)),  # part-days
    (DAY0 + timedelta(days=2, hours=1), DAY0 + timedelta(days=2, hours=23)),  # within a day
    (DAY0 + timedelta(days=3, hours=12), None),
    (None, DAY0 + timedelta(days=2, seconds=1)),
]


def test_report_equals_a_recount_of_its_tickets(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    recount_matches(container, False, monkeypatch)


@pytest.mark.postgres
def test_report_by_rank_equals_a_recount_of_its_tickets(
    postgres_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Percentiles read by rank rely on PostgreSQL's indexes; SQLite always sorts.
    recount_matches(postgres_container, True, monkeypatch)


def recount_matches(container: Container, by_rank: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reports, "_reads_by_rank", lambda connection, tickets: by_rank)
    prepare(container)
    rows = ticket_rows(random.Random(3), 400)
    with container.engine.begin() as connection:
        insert_rows(connection, reports_table, rows)
        roll_up(connection, [], rows)
    now = DAY0 + timedelta(days=3, hours=2)
    for start, end in SCOPES:
        scoped = [
            r
            for r in rows
            if (start is None or r["submitted_at"] >= start)
            and (end is None or r["submitted_at"] < end)
        ]
        for group_by in GROUPINGS:
            report = sla_report(container.engine, now, group_by, start=start, end=end)
            assert reported(report) == recount(scoped, group_by, now), (start, end, group_by)
            groups = [line.group for line in report.lines]
            assert groups[-1:] != [None] or None not in groups[:-1]  # no value: last


def test_daily_counts_kept_live_equal_a_recount_of_the_tickets(
    container: Container, clock: Any
) -> None:
    prepare(container)
    rng = random.Random(11)
    for _ in range(3):  # several batches, each changing tickets counted in earlier ones
        act_at_random(container, clock, rng, 60)
        caught_up(container)
    with container.engine.connect() as connection:
        tickets = [dict(row._mapping) for row in connection.execute(sa.select(reports_table))]
        kept = {
            (r.dimension, r.day, r.missing, r.value): tuple(r._mapping[n] for n in ROLLED)
            for r in connection.execute(sa.select(daily_table))
        }
    expected: dict[tuple[Any, ...], list[int]] = {}
    for t in tickets:
        added = [
            1,
            t["escalations"],
            *outcome(t["first_response_at"], t["first_response_due"]),
            int(t["first_response_hours"] is not None),
            *outcome(t["resolved_at"], t["resolution_due"]),
            int(t["resolution_hours"] is not None),
        ]
        for dimension in GROUPINGS:
            value = t[dimension]
            key = (dimension, t["submitted_at"].date(), value is None, value or "")
            totals = expected.setdefault(key, [0] * len(ROLLED))
            for i, amount in enumerate(added):
                totals[i] += amount
    assert kept == {key: tuple(totals) for key, totals in expected.items()}
    assert any(totals[3] or totals[6] for totals in expected.values())  # some met late


def test_a_ticket_moved_to_another_value_leaves_no_empty_day_behind(container: Container) -> None:
    prepare(container)
    (row,) = ticket_rows(random.Random(5), 1)
    before = {**row, "category": None, "course": None}
    with container.engine.begin() as connection:
        roll_up(connection, [], [before])
        roll_up(connection, [before], [row | {"category": "login", "course": "C9"}])
        kept = connection.execute(
            sa.select(daily_table.c.dimension, daily_table.c.value, daily_table.c.tickets)
        ).all()
    assert sorted(kept) == sorted(
        [
            ("category", "login", 1),
            ("course", "C9", 1),
            ("channel", row["channel"], 1),
            ("week", row["week"], 1),
        ]
    )


def outcome(done: datetime | None, due: datetime) -> tuple[int, int]:
    return (0, 0) if done is None else (int(done <= due), int(done > due))


@pytest.mark.postgres
def test_both_clocks_read_by_rank_see_the_snapshot_of_the_counts(
    postgres_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = postgres_container
    monkeypatch.setattr(reports, "_reads_by_rank", lambda connection, tickets: True)
    prepare(container)
    rng = random.Random(7)
    rows, late = ticket_rows(rng, 300), ticket_rows(rng, 600)[300:]  # other ids, same days
    with container.engine.begin() as connection:
        insert_rows(connection, reports_table, rows)
        roll_up(connection, [], rows)
    bounded = reports._without_needless_bounds

    def a_writer_commits_after_the_counts(*args: Any) -> Any:
        with container.engine.begin() as writer:
            insert_rows(writer, reports_table, late)
            roll_up(writer, [], late)
        return bounded(*args)

    now = DAY0 + timedelta(days=3, hours=2)
    before_the_writer = recount(rows, "course", now)
    with monkeypatch.context() as patched:
        patched.setattr(reports, "_without_needless_bounds", a_writer_commits_after_the_counts)
        report = sla_report(container.engine, now, "course")
    assert reported(report) == before_the_writer
    assert reported(sla_report(container.engine, now, "course")) == recount(
        rows + late, "course", now
    )
