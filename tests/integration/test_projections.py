"""The read models on a real database: live processing, rebuild, waiting, the SLA cases (P5, P6)."""

from __future__ import annotations

import random
import threading
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from eventsourcing.persistence import Tracking

from application.bootstrap import Container
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.sla import SlaState
from projections.queue import QueueFilter, queue_page
from projections.readmodel import ReadModel, TrackingConflict
from projections.reports import sla_report
from projections.runner import (
    Runner,
    build_runners,
    positions,
    read_models,
    tracking_view,
    wait_until,
)
from projections.sla import overdue_candidates, sla_table
from projections.suggestions import suggestions_page
from tests.builders import act_at_random, caught_up, riyadh, snapshot, submit
from tests.conftest import FakeClock
from tests.waiting import join


def test_live_processing_in_small_batches_gives_the_tables_of_a_rebuild(
    container: Container, clock: FakeClock
) -> None:
    rng = random.Random(5)
    runners = {
        model.name: Runner(container.desk, model, batch_size=3) for model in read_models(container)
    }
    for runner in runners.values():
        runner.read_model.create_tables()
    for _ in range(4):
        act_at_random(container, clock, rng, 40)
        for runner in runners.values():
            runner.catch_up()
    live = snapshot(container)
    assert len(live["queue_tickets"]) > 20 and live["suggestions"]
    for runner in build_runners(container).values():
        runner.rebuild()
    assert snapshot(container) == live


def test_two_runners_of_one_read_model_apply_each_event_once(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(8), 120)
    build_runners(container)  # every table, for the snapshot
    (first, second) = (
        Runner(container.desk, read_models(container)[0], batch_size=4) for _ in range(2)
    )
    threads = [threading.Thread(target=runner.catch_up) for runner in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a runner catching up")
    together = snapshot(container)["queue_tickets"]
    first.rebuild()
    assert snapshot(container)["queue_tickets"] == together


def test_runner_follows_new_events_until_stopped(container: Container) -> None:
    runner = build_runners(container)["queue"]
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,))
    thread.start()
    try:
        reference = submit(container)
        position = container.desk.respond(reference, message="hi", actor="sara").position
        assert wait_until(container, "queue", position, timeout=10)
        page = queue_page(
            container.engine, container.sla, container.desk.clock(), QueueFilter(), 10
        )
        assert [(r["reference"], r["last_actor"]) for r in page.rows] == [(reference, "sara")]
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_stopped_runner_finishes_its_batch_and_leaves_the_backlog(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(4), 30)
    runner = build_runners(container)["sla"]
    runner.batch_size = 5
    stop = threading.Event()
    apply_batch = runner.read_model.apply_batch

    def apply_then_stop(connection: sa.Connection, events: list[Any]) -> None:
        apply_batch(connection, events)
        stop.set()  # as SIGTERM would, in the middle of a backlog

    runner.read_model.apply_batch = apply_then_stop  # type: ignore[method-assign]
    runner.run(stop)  # returns instead of following the log
    first_five = container.desk.recorder.select_notifications(start=None, limit=5)
    assert positions(container)["sla"] == first_five[-1].id


def test_waiting_for_a_position_nobody_applies_times_out(container: Container) -> None:
    build_runners(container)
    position = container.desk.respond(submit(container), message="hi", actor="sara").position
    assert not wait_until(container, "all", position, timeout=0.05)
    for runner in build_runners(container).values():
        runner.catch_up()
    assert wait_until(container, "all", position, timeout=0.05)


# ---- SLA states against hand-computed cases (P4, P5, P6) -------------------------------------


def queue_state(container: Container, reference: str, now: datetime) -> SlaState:
    """The ticket's state as the queue shows it, and as its `sla` filter finds it."""
    engine, sla = container.engine, container.sla
    (row,) = [
        r
        for r in queue_page(engine, sla, now, QueueFilter(), 1000).rows
        if r["reference"] == reference
    ]
    shown: SlaState = row["sla"]
    for state in SlaState:
        found = queue_page(engine, sla, now, QueueFilter(sla=state), 1000).rows
        assert (reference in [r["reference"] for r in found]) == (state is shown)
    return shown


def sla_row(container: Container, reference: str) -> Any:
    with container.engine.connect() as connection:
        return connection.execute(
            sa.select(sla_table).where(sla_table.c.reference == reference)
        ).one()


def test_request_on_thursday_at_1630(container: Container, clock: FakeClock) -> None:
    clock.now = riyadh(11, 5, 16, 30)
    reference = submit(container)
    caught_up(container)
    # 24 business hours: Thu 0.5, Sun 8, Mon 8, Tue 7.5; at risk after 18 (Tue 10:30).
    assert sla_row(container, reference).first_response_due == riyadh(11, 10, 16, 30)
    assert queue_state(container, reference, riyadh(11, 10, 10, 29)) is SlaState.ON_TRACK
    assert queue_state(container, reference, riyadh(11, 10, 10, 30)) is SlaState.AT_RISK
    assert queue_state(container, reference, riyadh(11, 10, 16, 30)) is SlaState.BREACHED
    assert overdue_candidates(container.engine, riyadh(11, 10, 16, 29)) == []
    assert overdue_candidates(container.engine, riyadh(11, 10, 16, 30)) == [reference]


def test_request_on_the_eve_of_a_holiday(container: Container, clock: FakeClock) -> None:
    clock.now = riyadh(9, 22, 15)  # Tuesday; Wednesday 23 September is National Day
    reference = submit(container)
    caught_up(container)
    # Tue 2 h, (Wed holiday), Thu 8 h, Sun 8 h: 18 h at Sun 17:00; due Mon 28 at 15:00.
    assert sla_row(container, reference).first_response_due == riyadh(9, 28, 15)
    assert queue_state(container, reference, riyadh(9, 23, 12)) is SlaState.ON_TRACK
    assert queue_state(container, reference, riyadh(9, 27, 16, 59)) is SlaState.ON_TRACK
    assert queue_state(container, reference, riyadh(9, 27, 17)) is SlaState.AT_RISK
    assert queue_state(container, reference, riyadh(9, 28, 15)) is SlaState.BREACHED


def test_extended_ticket_is_judged_on_its_new_deadline(
    container: Container, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)  # Sunday
    reference = submit(container)
    container.desk.respond(reference, message="Looking into it", actor="sara")
    clock.now = riyadh(11, 3, 9)
    container.desk.extend_deadline(
        reference, resolution_due=riyadh(11, 12, 17), reason="needs the vendor", actor="sara"
    )
    caught_up(container)
    # 79 business hours from Sun 1 10:00 to Thu 12 17:00; 75 % (59.25 h) on Tue 10 at 13:15.
    assert queue_state(container, reference, riyadh(11, 4, 12)) is SlaState.ON_TRACK
    assert queue_state(container, reference, riyadh(11, 10, 13, 14)) is SlaState.ON_TRACK
    assert queue_state(container, reference, riyadh(11, 10, 13, 15)) is SlaState.AT_RISK
    assert queue_state(container, reference, riyadh(11, 12, 17)) is SlaState.BREACHED
    row = sla_row(container, reference)
    assert (row.extensions, row.resolution_due) == (1, riyadh(11, 12, 17))
    assert (row.first_response_outcome, row.resolution_outcome) == ("met", "pending")


def test_escalated_ticket_is_flagged_and_not_offered_to_the_watcher_again(
    container: Container, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)
    reference = submit(container)
    clock.now = riyadh(11, 4, 10, 5)  # both deadlines (Wed 10:00) passed unanswered
    caught_up(container)
    assert overdue_candidates(container.engine, clock.now) == [reference]
    first_response_due = sla_row(container, reference).first_response_due
    container.desk.escalate(
        reference,
        reason=EscalationReason.FIRST_RESPONSE_OVERDUE,
        actor="system:sla-watch",
        deadline=first_response_due,
    )
    caught_up(container)
    assert overdue_candidates(container.engine, clock.now) == [reference]  # resolution left
    container.desk.escalate(
        reference,
        reason=EscalationReason.RESOLUTION_OVERDUE,
        actor="system:sla-watch",
        deadline=sla_row(container, reference).resolution_due,
    )
    caught_up(container)
    assert overdue_candidates(container.engine, clock.now) == []
    row = sla_row(container, reference)
    assert (row.escalations, row.first_response_outcome, row.resolution_outcome) == (
        2,
        "breached",
        "breached",
    )
    (queued,) = queue_page(
        container.engine, container.sla, clock.now, QueueFilter(sla=SlaState.BREACHED), 10
    ).rows
    assert (queued["escalations"], queued["escalation_level"]) == (2, "supervisory_management")
    assert queued["last_actor"] is None  # the watcher is a system actor, not an agent


def test_ticket_resolved_late(container: Container, clock: FakeClock) -> None:
    clock.now = riyadh(11, 1, 10)
    reference = submit(container, Category.CONTENT_LOADING)
    clock.now = riyadh(11, 2, 10)
    container.desk.respond(reference, message="Checking", actor="sara")
    clock.now = riyadh(11, 5, 12)  # due Wed 4 at 10:00
    container.desk.resolve(reference, summary="Cache cleared", actor="sara")
    caught_up(container)
    row = sla_row(container, reference)
    # First response after 8 h (Sun 7, Mon 1); solution after 34 h (7 + 8 + 8 + 8 + 3).
    assert (row.first_response_hours, row.first_response_outcome) == (8.0, "met")
    assert (row.resolution_hours, row.resolution_outcome) == (34.0, "breached")
    assert row.watch_due is None
    report = sla_report(container.engine, clock.now, "category")
    (line,) = report.lines
    assert line.group == "content_loading"
    assert (line.first_response.met, line.first_response.met_percent) == (1, 100.0)
    assert (line.resolution.breached, line.resolution.median_hours, line.breaches) == (1, 34.0, 1)
    assert queue_page(container.engine, container.sla, clock.now, QueueFilter(), 10).rows == []


# ---- reports and suggestions -------------------------------------------------------------------


def test_report_counts_unanswered_deadlines_as_breached_once_passed(
    container: Container, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)
    fast, slow, late = (submit(container, Category.LOGIN, course) for course in ("A", "A", "B"))
    clock.now = riyadh(11, 1, 12)
    container.desk.respond(fast, message="Hello", actor="sara")
    clock.now = riyadh(11, 2, 16)
    container.desk.respond(slow, message="Hello", actor="sara")
    caught_up(container)
    before = sla_report(container.engine, riyadh(11, 3, 9), "course")
    after = sla_report(container.engine, riyadh(11, 4, 10), "course")
    assert [(line.group, line.tickets) for line in before.lines] == [("A", 2), ("B", 1)]
    # Hours to first response: 2 and 14; median 8, p90 12.8 (interpolated, as PostgreSQL does).
    a_line = before.lines[0].first_response
    assert (a_line.median_hours, a_line.p90_hours) == (8.0, pytest.approx(12.8))
    assert before.total.first_response.breached == 0
    assert after.total.first_response.breached == 1 and after.lines[1].breaches == 2
    assert after.total.first_response.met_percent == pytest.approx(66.7)
    assert late not in str(after)
    weekly = sla_report(container.engine, riyadh(11, 4, 10), "week", start=riyadh(11, 1, 0))
    assert [(line.group, line.tickets) for line in weekly.lines] == [("2026-W44", 3)]
    assert sla_report(container.engine, riyadh(11, 4, 10), "week", end=riyadh(11, 1, 0)).lines == []


def test_suggestions_register_lists_referrals_newest_first(
    container: Container, clock: FakeClock
) -> None:
    first = submit(container, Category.SUGGESTION)
    clock.advance(hours=1)
    second = submit(container, Category.SUGGESTION)
    submit(container, Category.LOGIN)
    container.desk.forward_to_management(first, department="product", note="nice", actor="sara")
    caught_up(container)
    page, cursor = suggestions_page(container.engine, per_page=1)
    assert [row["reference"] for row in page] == [second] and cursor is not None
    page, cursor = suggestions_page(container.engine, per_page=1, cursor=cursor)
    assert [(row["reference"], row["department"]) for row in page] == [(first, "product")]
    assert cursor is None
    forwarded, _ = suggestions_page(container.engine, per_page=10, forwarded=True)
    assert [row["reference"] for row in forwarded] == [first]


def test_details_stated_in_a_later_reply_reach_every_read_model(
    container: Container, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)
    idea, problem = submit(container, None, None), submit(container, None, None)
    complete = submit(container, Category.SUGGESTION, "C1")
    caught_up(container)
    now = riyadh(11, 1, 12)
    unknown = queue_page(container.engine, container.sla, now, QueueFilter(), 9).rows
    assert {row["reference"]: row["category"] for row in unknown} == {
        idea: None,
        problem: None,
        complete: "suggestion",
    }
    listed, _ = suggestions_page(container.engine, per_page=9)
    assert [row["reference"] for row in listed] == [complete]  # the others may be anything

    container.desk.supply_details(idea, category=Category.SUGGESTION, course="Lesson 4")
    container.desk.supply_details(problem, category=Category.CONTENT_LOADING, course=None)
    container.desk.supply_details(problem, category=None, course="Lesson 5")
    caught_up(container)
    videos = queue_page(
        container.engine, container.sla, now, QueueFilter(category="content_loading"), 9
    )
    assert [(row["reference"], row["course"]) for row in videos.rows] == [(problem, "Lesson 5")]
    by_course = queue_page(container.engine, container.sla, now, QueueFilter(course="Lesson 4"), 9)
    assert [row["reference"] for row in by_course.rows] == [idea]
    listed, _ = suggestions_page(container.engine, per_page=9)
    assert {(row["reference"], row["course"]) for row in listed} == {
        (idea, "Lesson 4"),
        (complete, "C1"),
    }
    categories = sla_report(container.engine, now, "category")
    assert [(line.group, line.tickets) for line in categories.lines] == [
        ("content_loading", 1),
        ("suggestion", 2),
    ]
    courses = sla_report(container.engine, now, "course")
    assert [line.group for line in courses.lines] == ["C1", "Lesson 4", "Lesson 5"]
    with container.engine.connect() as connection:
        query = sa.select(sla_table.c.reference, sla_table.c.category)
        stored = {reference: category for reference, category in connection.execute(query)}
    assert stored == {idea: "suggestion", problem: "content_loading", complete: "suggestion"}


def test_queue_pages_follow_the_due_order_and_filters(
    container: Container, clock: FakeClock
) -> None:
    references = []
    for hour in range(5):
        clock.now = riyadh(11, 1, 10 + hour)
        references.append(submit(container, Category.LOGIN if hour % 2 else Category.OTHER))
    container.desk.resolve(references[2], summary="done", actor="sara")
    caught_up(container)
    now = riyadh(11, 1, 16)
    seen, cursor = [], None
    while True:
        page = queue_page(container.engine, container.sla, now, QueueFilter(), 2, cursor)
        seen += [row["reference"] for row in page.rows]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [references[i] for i in (0, 1, 3, 4)]
    logins = queue_page(container.engine, container.sla, now, QueueFilter(category="login"), 9)
    assert [row["reference"] for row in logins.rows] == [references[1], references[3]]
    nothing = queue_page(container.engine, container.sla, now, QueueFilter(course="none"), 9)
    assert nothing.rows == [] and nothing.next_cursor is None


# ---- the runner is generic: any read model with tables and `apply` ----------------------------

_counts = sa.Table(
    "test_event_counts",
    sa.MetaData(),
    sa.Column("topic", sa.String(100), primary_key=True),
    sa.Column("events", sa.Integer, nullable=False),
)


class EventCounts(ReadModel):
    """How many events of each type the log holds: the smallest read model."""

    name = "test_event_counts"
    tables = (_counts,)

    def apply(self, connection: sa.Connection, domain_event: Any) -> None:
        topic = type(domain_event).__qualname__
        updated = connection.execute(
            _counts.update().where(_counts.c.topic == topic).values(events=_counts.c.events + 1)
        )
        if not updated.rowcount:
            connection.execute(_counts.insert().values(topic=topic, events=1))


def test_any_read_model_with_tables_and_apply_can_be_run(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(1), 30)
    model = EventCounts(tracking_view(container))
    runner = Runner(container.desk, model, batch_size=7)
    model.create_tables()
    head = container.desk.recorder.max_notification_id()
    assert runner.catch_up() == head and runner.position() == head
    with container.engine.connect() as connection:
        counted = dict(connection.execute(sa.select(_counts.c.topic, _counts.c.events)).all())
    assert sum(counted.values()) == head and counted["Ticket.Submitted"] == 10

    reference = submit(container)
    (submitted,) = container.desk.events.get(container.desk.ticket(reference).id)
    model.process_event(submitted, Tracking("supportdesk", head + 1))  # the library's contract
    assert model.position() == head + 1
    with container.engine.connect() as connection:
        assert (
            connection.scalar(
                sa.select(_counts.c.events).where(_counts.c.topic == "Ticket.Submitted")
            )
            == 11
        )
    with pytest.raises(TrackingConflict):  # applied once only
        model.commit([submitted], after=head, upto=head + 1)


def test_tables_left_by_a_version_with_other_columns_are_replayed_from_the_first_event(
    container: Container, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    act_at_random(container, clock, random.Random(3), 30)
    caught_up(container)
    current = snapshot(container)
    with container.engine.begin() as connection:  # the table as an older version made it
        connection.execute(sa.text("DROP INDEX suggestions_by_submission"))
        connection.execute(sa.text("ALTER TABLE suggestions DROP COLUMN category_unknown"))
    (model,) = [m for m in read_models(container) if m.name == "suggestions"]
    assert model.outdated_tables() == ["suggestions"]
    assert [m.name for m in read_models(container) if m.outdated_tables()] == ["suggestions"]

    runners = build_runners(container)
    assert positions(container)["suggestions"] == 0 and not model.outdated_tables()
    assert "suggestions" in caplog.text and "replaying" in caplog.text
    runners["suggestions"].catch_up()
    assert snapshot(container) == current
