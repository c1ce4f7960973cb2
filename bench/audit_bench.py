"""Audit throughput on PostgreSQL: verifying and exporting a store of 100,000 events.

Run with `python -m bench.audit_bench` (`--tiny` for a quick run whose figures mean nothing).
Targets: verification and export at 20,000 events/s or more each, and verification (which
hashes on every core) at 90 % or more of reading the log alone (paging `select_notifications`),
measured in the same run, next to verification in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from application.audit.chain import ChainVerifier
from application.audit.history import Audit
from application.audit.seals import AuditKey
from application.bootstrap import Container, bootstrap
from application.settings import Settings
from bench.measure import scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.reference import Reference
from domain.request import Channel
from domain.ticket import Ticket
from projections.audit import SealKeeper

KEY = AuditKey(b"a benchmark key, never used for real records")
TARGET = 20_000.0
EVENTS_PER_TICKET = 10
TICKETS_PER_SAVE = 100


def fill(container: Container, events: int) -> int:
    """Record `events` events (tickets of ten) straight through the application; tickets made."""
    tickets = max(1, events // EVENTS_PER_TICKET)
    at = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
    batch: list[Ticket] = []
    for n in range(tickets):
        ticket = Ticket.submit(
            reference=Reference.generate(),
            channel=Channel.WEB_FORM,
            requester_email=f"learner{n}@example.org",
            category=Category.LOGIN,
            course="Positive Parenting 101",
            subject="Cannot sign in",
            description="The sign-in page rejects my password after the update.",
            language="en",
            at=at,
            sla=container.sla,
        )
        for reply in range(EVENTS_PER_TICKET - 1):
            ticket.respond(
                message=f"Reply {reply}: please try again.",
                actor="agent.sara",
                at=at + timedelta(minutes=reply + 1),
            )
        batch.append(ticket)
        if len(batch) == TICKETS_PER_SAVE:
            container.desk.save(*batch)
            batch.clear()
    if batch:
        container.desk.save(*batch)
    return tickets


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def measure_read(audit: Audit) -> float:
    """Events/s of paging through the log alone, decoding nothing."""
    began, count, after = time.perf_counter(), 0, None
    while page := audit.log.recorder.select_notifications(after, 1000, inclusive_of_start=False):
        count += len(page)
        after = page[-1].id
    return _rate(count, time.perf_counter() - began)


def measure_export(audit: Audit) -> float:
    """Events/s of the JSON-lines export, written to the null device."""
    began, count = time.perf_counter(), 0
    with open(os.devnull, "w", encoding="utf-8") as sink:
        for entry in audit.export():
            sink.write(json.dumps(entry, ensure_ascii=False) + "\n")
            count += 1
    return _rate(count, time.perf_counter() - began)


def measure_verify(audit: Audit, workers: int | None = None) -> tuple[float, int]:
    """Events/s of verifying the whole store (on every core, or in `workers` processes), and
    the events it checked."""
    result = ChainVerifier(audit.log, KEY, workers=workers).verify_store()
    if not result.intact:
        raise RuntimeError(f"the benchmark store does not verify: {result.problems}")
    return result.events_per_second, result.events_checked


def _summary(samples: list[float]) -> dict[str, Any]:
    return {
        "samples": samples,
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "unit": "events/s",
    }


def run(events: int = 100_000, repeat: int = 3, tiny: bool = False) -> dict[str, Any]:
    """Verify and export throughput (events/s) on a scratch PostgreSQL database."""
    if tiny:
        events, repeat = 1_000, 1
    with scratch_postgres("audit_bench") as dsn, TemporaryDirectory() as tmp:
        container = bootstrap(Settings(database_url=sqlalchemy_url(dsn), data_dir=Path(tmp)))
        try:
            began = time.perf_counter()
            tickets = fill(container, events)
            fill_seconds = time.perf_counter() - began
            audit = Audit(container.desk, container.sla, container.calendar.timezone, KEY)
            began = time.perf_counter()
            sealed = SealKeeper(container.desk, KEY).catch_up()
            seal_rate = _rate(sealed, time.perf_counter() - began)
            reads, exports, verifies, alone = [], [], [], []
            checked = 0
            for _ in range(repeat):  # interleaved, so drift on a shared machine hits them all
                reads.append(measure_read(audit))
                exports.append(measure_export(audit))
                rate, checked = measure_verify(audit)
                verifies.append(rate)
                alone.append(measure_verify(audit, workers=1)[0])
        finally:
            container.close()
    return {
        "events": checked,
        "tickets": tickets,
        "fill_seconds": fill_seconds,
        "seal": _summary([seal_rate]),
        "read": _summary(reads),
        "export": {**_summary(exports), "target": TARGET, "met": min(exports) >= TARGET},
        "verify": {**_summary(verifies), "target": TARGET, "met": min(verifies) >= TARGET},
        "verify_one_process": _summary(alone),
        "tiny": tiny,
    }


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="bench.audit_bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="1,000 events, once")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    figures = run(events=args.events, repeat=args.repeat, tiny=args.tiny)
    print(f"store: {figures['events']:,} events in {figures['tickets']:,} tickets (PostgreSQL)")
    for name in ("verify", "export", "read", "seal"):
        figure = figures[name]
        target = f"  target ≥ {figure['target']:,.0f}" if "target" in figure else ""
        print(
            f"{name:<8} median {figure['median']:>10,.0f} events/s "
            f"(min {figure['min']:,.0f}, max {figure['max']:,.0f}){target}"
        )


if __name__ == "__main__":
    main()
