"""Read models on PostgreSQL: rebuild rate, commit→visible latency, queue and report queries.

`run()` returns the figures as a dict; `python -m bench.projections_bench [--tiny]` prints them.
Each run works in a database it creates and drops.

- Rebuild: every read model replayed from the first of N events, next to the rate at which the
  same notifications are merely read (`select_notifications`, the runner's own reading call,
  and a bare SQLAlchemy Core SELECT of the same rows).
- Commit→visible: a runner follows the log in its own process, as a worker does; for each
  command, the time from the command's commit until a query sees the read model's tracking
  row reach the event. The library's own subscription (which sleeps 100 ms between looks) is
  measured alongside: commit until the event reaches the subscriber.
- Queries: the queue's first pages and the SLA report over a million tickets, the read tables
  filled directly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import sqlalchemy as sa

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from bench.measure import WaitedTooLong, scratch_postgres, sqlalchemy_url, wait_for
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.personal import sealing
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity, SlaState
from domain.ticket import Ticket
from projections.queue import UNASSIGNED, QueueFilter, queue_page, queue_table
from projections.report_counts import daily_table, roll_up
from projections.reports import reports_table, sla_report
from projections.rows import insert_rows
from projections.runner import REBUILD_BATCH, build_runners, tracking_view

START = datetime(2026, 1, 4, 6, 0, tzinfo=UTC)  # a Sunday, 09:00 in Riyadh


@dataclass(frozen=True)
class Sizes:
    """How big a run is."""

    events: int
    tickets: int
    latency_samples: int
    query_repeats: int


FULL = Sizes(events=100_000, tickets=1_000_000, latency_samples=300, query_repeats=20)
TINY = Sizes(events=3_000, tickets=20_000, latency_samples=30, query_repeats=3)


def run(tiny: bool = False) -> dict[str, Any]:
    """Measure everything; figures by name (rates in events/s, latencies in ms)."""
    sizes = TINY if tiny else FULL
    figures: dict[str, Any] = {"tiny": tiny, "events": sizes.events, "tickets": sizes.tickets}
    with scratch_postgres("projections_bench") as dsn, TemporaryDirectory() as tmp:
        url = sqlalchemy_url(dsn)
        container = bootstrap(Settings(database_url=url, data_dir=Path(tmp)))
        try:
            figures["events"] = fill_log(container, sizes.events)
            figures.update(rebuild_rates(container))
            figures.update(commit_to_visible(container, url, tmp, sizes.latency_samples))
            figures.update(query_latencies(container, sizes.tickets, sizes.query_repeats))
        finally:
            container.close()
    return figures


# ---- the log ---------------------------------------------------------------------------------


def fill_log(container: Container, events: int, seed: int = 7) -> int:
    """Record about `events` events of plausible ticket lives, interleaved in time as they
    would be in a live desk; how many were recorded."""
    rng = random.Random(seed)
    at = START
    recorded: list[Any] = []
    categories = list(Category)
    while len(recorded) < events:
        at += timedelta(minutes=rng.uniform(1, 9))
        # Texts sealed under a key of the ticket's own, as the desk records them.
        vault = container.desk.vault
        with sealing(vault.sealer(*vault.new_key(at)) if vault is not None else None):
            ticket = _submitted(rng, at, categories, container)
            _live(ticket, at, rng, container)
        recorded.extend(ticket.collect_events())
    recorded.sort(key=lambda event: event.timestamp)  # stable: each ticket's order is kept
    mapper, recorder = container.desk.mapper, container.desk.recorder
    for i in range(0, len(recorded), 1000):
        recorder.insert_events([mapper.to_stored_event(e) for e in recorded[i : i + 1000]])
    return len(recorded)


def _submitted(
    rng: random.Random, at: datetime, categories: list[Category], container: Container
) -> Ticket:
    return Ticket.submit(
        reference=Reference.generate(rng),
        channel=rng.choice(list(Channel)),
        requester_email=f"learner{rng.randrange(10**6)}@example.org",
        category=rng.choice(categories),
        course=f"Course {rng.randrange(200)}",
        subject="Cannot open the lesson",
        description="The lesson page stays blank after the latest update. " * 3,
        language=rng.choice(("ar", "en")),
        at=at,
        sla=container.sla,
    )


def _live(ticket: Ticket, at: datetime, rng: random.Random, container: Container) -> None:
    sla = container.sla
    step = at
    ticket.acknowledge(message_id=f"<{ticket.reference}@desk>", actor="system:mailer", at=step)
    step += timedelta(hours=rng.expovariate(1 / 12))
    if rng.random() < 0.9:
        ticket.respond(message="Please try again.", actor=f"agent{rng.randrange(20)}", at=step)
    if rng.random() < 0.3:
        ticket.classify(complexity=Complexity.COMPLEX, actor="agent1", at=step, sla=sla)
    if rng.random() < 0.1:
        ticket.extend_deadline(
            resolution_due=ticket.resolution_due + timedelta(days=2),
            reason="waiting for the platform team",
            actor="agent2",
            at=step,
        )
    if rng.random() < 0.1:
        ticket.escalate(reason=EscalationReason.AGENT, actor="agent3", at=step, note="urgent")
    step += timedelta(hours=rng.expovariate(1 / 30))
    if ticket.category is Category.SUGGESTION and rng.random() < 0.7:
        ticket.forward_to_management(department="product", note="worth a look", actor="a4", at=step)
    elif rng.random() < 0.85:
        ticket.resolve(summary="Fixed.", actor=f"agent{rng.randrange(20)}", at=step)
        if rng.random() < 0.05:
            ticket.reopen(reason="still blank", actor="requester", at=step, sla=sla)


# ---- reading and rebuilding ------------------------------------------------------------------


def _timed(action: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def read_rates(container: Container, page: int = REBUILD_BATCH) -> dict[str, list[float]]:
    """Notifications per second merely read: as a runner reads them, and by the library's
    `select_notifications` (which builds an ORM object per row)."""
    recorder: Any = container.desk.recorder
    runner = build_runners(container)["queue"]

    def library() -> int:
        read, position = 0, 0
        while batch := recorder.select_notifications(
            start=position, limit=page, inclusive_of_start=False
        ):
            read, position = read + len(batch), batch[-1].id
        return read

    def raw() -> int:
        read, position = 0, 0
        while batch := runner.read_notifications(position, page):
            read, position = read + len(batch), batch[-1].id
        return read

    raw()  # warm the cache, as any rebuild after the first would find it
    return {
        "read_rate_raw": _rates(raw),
        "read_rate_select_notifications": _rates(library),
    }


def _rates(action: Callable[[], int], repeats: int = 3) -> list[float]:
    """Items per second of a few runs: the machine is shared, so the spread is reported too."""
    rates = []
    for _ in range(repeats):
        seconds, count = _timed(action)
        rates.append(count / seconds)
    return rates


def rebuild_rates(container: Container) -> dict[str, list[float]]:
    """Events per second of three rebuilds of each read model, after the raw reading rates."""
    figures = read_rates(container)
    for name, runner in build_runners(container).items():
        figures[f"rebuild_rate_{name}"] = _rates(runner.rebuild)
    return figures


# ---- commit → visible ------------------------------------------------------------------------

_FOLLOWER = """
import signal, sys, threading
from application.bootstrap import bootstrap
from projections.runner import build_runners
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
runner = build_runners(bootstrap())["queue"]
runner.catch_up()
print("ready", flush=True)
runner.run(stop)
"""


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        f"p{int(fraction * 100)}_ms": ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
        for fraction in (0.5, 0.9, 0.99)
    }


def commit_to_visible(
    container: Container, url: str, data_dir: str, samples: int
) -> dict[str, float]:
    """p50/p99 ms from a command's commit until the queue's position shows it (own process)."""
    env = dict(
        os.environ,
        SUPPORTDESK_DATABASE_URL=url,
        SUPPORTDESK_DATA_DIR=data_dir,
        PYTHONPATH=str(Path.cwd()),
    )
    follower = subprocess.Popen(
        [sys.executable, "-c", _FOLLOWER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        _await_ready(follower)
        ours = _visible_latencies(container, samples, follower)
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=30)
    library = _subscription_latencies(container, samples)
    return {
        **{f"commit_to_visible_{k}": v for k, v in _percentiles(ours).items()},
        **{f"library_subscription_delivery_{k}": v for k, v in _percentiles(library).items()},
    }


def _await_ready(follower: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """Wait for the follower process to say it caught up; fail if it dies or stays silent."""
    assert follower.stdout is not None
    if not select.select([follower.stdout], [], [], timeout)[0]:
        raise WaitedTooLong(f"the queue runner process to catch up: silent after {timeout:g} s")
    line = follower.stdout.readline().strip()
    if line != "ready":
        raise WaitedTooLong(
            f"the queue runner process to catch up: it said {line!r} and exited "
            f"with {follower.wait(timeout=30)}"
        )


def _submit(container: Container, i: int) -> int:
    return container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=f"latency{i}@example.org",
        category=Category.LOGIN,
        course="Latency 101",
        subject="Timing",
        description="A request submitted to time the read model.",
    ).position


WARM_UP = 5  # the first events a process applies also build its calendar's year tables


def _pause_between_commands() -> None:
    # Commands arrive apart, as from people at work, and at any phase of a poller's sleep.
    time.sleep(random.uniform(0.0, 0.3))


def _visible_latencies(
    container: Container, samples: int, follower: subprocess.Popen[str]
) -> list[float]:
    table = tracking_view(container).tracking_table
    query = sa.select(table.c.notification_id).where(table.c.application_name == "queue")
    latencies = []
    with container.engine.connect() as connection:

        def applied(position: int) -> bool:
            reached = connection.execute(query).scalar() or 0
            connection.rollback()
            return reached >= position

        def runner_exited() -> BaseException | None:
            code = follower.poll()
            return None if code is None else RuntimeError(f"the runner exited with {code}")

        for i in range(WARM_UP + samples):
            position = _submit(container, i)
            committed = time.perf_counter()
            wait_for(
                lambda: applied(position),  # noqa: B023 (called before the loop moves on)
                f"the queue runner process to apply event {position}",
                failure=runner_exited,
            )
            latencies.append((time.perf_counter() - committed) * 1000)
            connection.rollback()
            _pause_between_commands()
    return latencies[WARM_UP:]


def _subscription_latencies(container: Container, samples: int) -> list[float]:
    recorder: Any = container.desk.recorder
    received: dict[int, float] = {}
    failed: list[BaseException] = []
    subscription = recorder.subscribe(gt=recorder.max_notification_id())

    def follow() -> None:
        try:
            for notification in subscription:
                received[notification.id] = time.perf_counter()
        except BaseException as error:  # read by the waiting loop, which names it
            failed.append(error)

    follower = threading.Thread(target=follow, name="subscription follower")
    with subscription:
        follower.start()
        latencies = []
        for i in range(WARM_UP + samples):
            position = _submit(container, i)
            committed = time.perf_counter()
            wait_for(
                lambda: position in received,  # noqa: B023 (called before the loop moves on)
                f"the library's subscription to deliver event {position}",
                failure=lambda: failed[0] if failed else None,
            )
            latencies.append((received[position] - committed) * 1000)
            _pause_between_commands()
        subscription.stop()
    follower.join(timeout=30)
    if follower.is_alive():
        raise WaitedTooLong("the subscription follower to stop: still running after 30 s")
    return latencies[WARM_UP:]


# ---- queries over a million tickets ------------------------------------------------------------


def query_latencies(container: Container, tickets: int, repeats: int) -> dict[str, list[float]]:
    """Median ms of queue pages and SLA reports, over `tickets` rows filled directly."""
    engine = container.engine
    with engine.begin() as connection:
        connection.execute(sa.delete(queue_table))
        connection.execute(sa.delete(reports_table))
        connection.execute(sa.delete(daily_table))
    _fill(engine, queue_table, _queue_rows(tickets))
    _fill(engine, reports_table, _report_rows(tickets), also=roll_up)
    # VACUUM as autovacuum would after so many inserts: it sets the visibility map, without
    # which an index-only scan of rows just copied in still visits every heap page.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("queue_tickets", "reports_tickets", "reports_daily"):
            connection.execute(sa.text(f"VACUUM ANALYZE {table}"))
    now, sla = NOW, container.sla

    def page(where: QueueFilter, pages: int = 1) -> Callable[[], Any]:
        def read() -> None:
            cursor = None
            for _ in range(pages):
                cursor = queue_page(engine, sla, now, where, 50, cursor).next_cursor

        return read

    def report(group_by: str, days: int | None) -> Callable[[], Any]:
        start = now - timedelta(days=days) if days else None
        return lambda: sla_report(engine, now, group_by, start=start, end=now)

    cases: dict[str, Callable[[], Any]] = {
        "queue_first_page_ms": page(QueueFilter()),
        "queue_page_category_ms": page(QueueFilter(category="login")),
        "queue_page_course_ms": page(QueueFilter(course="Course 17")),
        "queue_page_at_risk_ms": page(QueueFilter(sla=SlaState.AT_RISK)),
        "queue_page_breached_ms": page(QueueFilter(sla=SlaState.BREACHED)),
        "queue_page_on_track_ms": page(QueueFilter(sla=SlaState.ON_TRACK)),
        "queue_page_mine_ms": page(QueueFilter(assignee="agent7")),
        "queue_page_unassigned_ms": page(QueueFilter(assignee=UNASSIGNED)),
        "queue_20_pages_by_cursor_ms": page(QueueFilter(), pages=20),
        "report_by_category_30_days_ms": report("category", 30),
        "report_by_week_90_days_ms": report("week", 90),
        "report_by_course_all_tickets_ms": report("course", None),
        "report_by_category_all_tickets_ms": report("category", None),
    }
    figures: dict[str, list[float]] = {}
    for name, action in cases.items():
        action()
        figures[name] = [
            _timed(action)[0] * 1000 for _ in range(max(1, repeats if "all" not in name else 3))
        ]
    return figures


SPAN = timedelta(days=400)  # the tickets filled directly were submitted over this span
NOW = START + SPAN  # ... up to the instant the queries are asked at


def _queue_rows(count: int, seed: int = 11) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield queue_row(rng, i, START + SPAN * (i / count))


def queue_row(rng: random.Random, i: int, submitted: datetime) -> dict[str, Any]:
    """The queue row of ticket number `i`: half the tickets of the last fortnight before
    `NOW` are open, and one in a hundred older ones."""
    due = submitted + timedelta(days=3)
    is_open = rng.random() < (0.5 if NOW - submitted < timedelta(days=14) else 0.01)
    at_risk = due - timedelta(hours=rng.uniform(6, 18))
    return {
        "ticket_id": f"{i:032x}",
        "reference": f"CM-{i:08d}",
        "version": 3,
        "status": rng.choice(("new", "acknowledged", "in_progress")) if is_open else "resolved",
        "is_open": is_open,
        "category": rng.choice(list(Category)).value,
        "course": f"Course {rng.randrange(200)}",
        "channel": rng.choice(list(Channel)).value,
        "language": "ar",
        "assignee": f"agent{rng.randrange(20)}" if rng.random() < 0.7 else None,
        "last_actor": f"agent{rng.randrange(20)}",
        "requester_email": f"learner{i}@example.org",
        "requester_name": "A learner",
        "subject": "Cannot open the lesson",
        "description": "The lesson page stays blank.",
        "submitted_at": submitted,
        "first_response_due": due,
        "first_response_at_risk": at_risk,
        "responded": True,
        "resolution_started_at": submitted,
        "resolution_due": due,
        "resolution_at_risk": at_risk,
        "next_due": due if is_open else None,
        "at_risk_at": at_risk if is_open else None,
        "escalations": 0,
        "escalation_level": None,
    }


def _report_rows(count: int, seed: int = 13) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        submitted = START + SPAN * (i / count)
        due = submitted + timedelta(days=3)
        answered = submitted + timedelta(hours=rng.expovariate(1 / 20))
        closed = answered + timedelta(hours=rng.expovariate(1 / 30))
        year, week, _ = submitted.isocalendar()
        yield {
            "ticket_id": f"{i:032x}",
            "week": f"{year}-W{week:02d}",
            "category": rng.choice(list(Category)).value,
            "course": f"Course {rng.randrange(200)}",
            "channel": rng.choice(list(Channel)).value,
            "status": "resolved",
            "submitted_at": submitted,
            "first_response_due": due,
            "first_response_at": answered,
            "first_response_hours": rng.expovariate(1 / 10),
            "responses": 1,
            "resolution_started_at": submitted,
            "resolution_due": due,
            "resolved_at": closed,
            "resolution_hours": rng.expovariate(1 / 20),
            "escalations": int(rng.random() < 0.05),
            "extensions": 0,
            "first_response_escalated": False,
            "resolution_escalated_due": None,
        }


def _fill(
    engine: sa.Engine,
    table: sa.Table,
    rows: Iterator[dict[str, Any]],
    also: Callable[[sa.Connection, list[Any], list[dict[str, Any]]], None] | None = None,
) -> None:
    """Fill a table as the read models write, by COPY, 100,000 rows a transaction; `also` is
    the read model's own bookkeeping of the rows it wrote (the reports' per-day counts)."""
    while chunk := list(itertools.islice(rows, 100_000)):
        with engine.begin() as connection:
            insert_rows(connection, table, chunk)
            if also is not None:
                also(connection, [], chunk)


def main(argv: list[str] | None = None) -> int:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(prog="bench.projections_bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="small sizes: proves it runs")
    args = parser.parse_args(argv)
    print(json.dumps(run(tiny=args.tiny), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
