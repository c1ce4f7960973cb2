"""Reading a ticket's conversation on PostgreSQL: one ticket with 200 messages among many.

`figures(tiny)` gives the table's rows; `python -m bench.conversation_bench [--tiny]` prints
them. Each run works in a database it creates and drops.

- The read model's read, `conversation(engine, reference)`: 200 items with their texts, next
  to a primary-key read of one item of the same table.
- The API's answer, `GET /api/v1/tickets/<ref>/conversation` through the Flask test client
  (token, query, read-model position, JSON), next to `GET /api/v1/tickets/<ref>`, the
  ticket's current state from the event store, in the same client.

Each round reads each of the four once in turn, so a machine slowing down between rounds
slows them all; a figure's samples are its p50 or p95 in each round. Target: p95 ≤ 10 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy as sa

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from application.users import Role
from bench.measure import Figure, describe, p95, scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity
from domain.template import TemplateUse
from domain.ticket import Ticket
from interfaces.web import create_app
from projections.conversation import conversation, conversation_table
from projections.runner import build_runners

START = datetime(2026, 1, 4, 6, 0, tzinfo=UTC)  # a Sunday, 09:00 in Riyadh
MESSAGES = 200
TARGET = "p95 ≤ 10 ms"
SENTENCES = (
    "The lesson page stays blank after the latest update.",
    "تظهر رسالة خطأ عند فتح الدرس بعد التحديث الأخير.",
    "Please clear the browser's cache and sign in again.",
    "جرّبي إعادة تعيين كلمة المرور من الرابط المرسل إلى بريدك.",
)


@dataclass(frozen=True)
class Sizes:
    """How big a run is."""

    other_tickets: int
    reads: int  # per round, of each of the four
    rounds: int


FULL = Sizes(other_tickets=5_000, reads=300, rounds=5)
TINY = Sizes(other_tickets=50, reads=30, rounds=2)


def figures(tiny: bool) -> list[Figure]:
    """p50 and p95 of the conversation's read and of its API answer, beside their references."""
    found = run(TINY if tiny else FULL)
    rows: list[Figure] = []
    for percentile in ("p50", "p95"):
        target = TARGET if percentile == "p95" else ""
        key = Figure(f"one item by primary key, {percentile}", "ms", found[f"key_{percentile}"])
        ticket = Figure(
            f"GET /tickets/<ref> (event store), {percentile}", "ms", found[f"ticket_{percentile}"]
        )
        rows += [
            Figure(
                f"conversation, {MESSAGES} items, read, {percentile}",
                "ms",
                found[f"read_{percentile}"],
                key,
                target,
            ),
            key,
            Figure(
                f"GET conversation, {MESSAGES} items, {percentile}",
                "ms",
                found[f"api_{percentile}"],
                ticket,
                target,
            ),
            ticket,
        ]
    return rows


def run(sizes: Sizes) -> dict[str, list[float]]:
    """Each measurement's p50 and p95 in each round, in ms, by name."""
    with scratch_postgres("conversation_bench") as dsn, TemporaryDirectory() as tmp:
        container = bootstrap(Settings(database_url=sqlalchemy_url(dsn), data_dir=Path(tmp)))
        try:
            reference = fill(container, sizes.other_tickets)
            return measure(container, reference, sizes)
        finally:
            container.close()


# ---- the log ---------------------------------------------------------------------------------


def _text(rng: random.Random) -> str:
    """A message of a few words to a few thousand characters, Arabic and English."""
    length = rng.choice((60, 300, 300, 1_200, 1_200, 4_000))
    sentences: list[str] = []
    while sum(map(len, sentences)) < length:
        sentences.append(rng.choice(SENTENCES))
    return " ".join(sentences)


def _request(rng: random.Random, at: datetime, container: Container) -> Ticket:
    return Ticket.submit(
        reference=Reference.generate(rng),
        channel=Channel.EMAIL,
        requester_email=f"learner{rng.randrange(10**6)}@example.org",
        category=Category.LOGIN,
        course="Positive Parenting 101",
        subject="The lesson page stays blank",
        description=_text(rng),
        language=rng.choice(("ar", "en")),
        at=at,
        sla=container.sla,
    )


def long_ticket(container: Container, rng: random.Random, messages: int) -> Ticket:
    """A ticket of `messages` items: follow-ups, replies (some canned) and internal notes,
    among a receipt, ownership, a classification, an extension and an escalation."""
    at = START
    ticket = _request(rng, at, container)
    ticket.acknowledge(message_id="<receipt@desk>", actor="system:mailer", at=at)
    ticket.assign(assignee="agent.sara", actor="agent.sara", at=at)
    ticket.classify(complexity=Complexity.COMPLEX, actor="agent.sara", at=at, sla=container.sla)
    ticket.extend_deadline(
        resolution_due=ticket.resolution_due + timedelta(days=3),
        reason="Waiting for the platform team",
        actor="agent.sara",
        at=at,
    )
    ticket.escalate(reason=EscalationReason.AGENT, actor="agent.sara", at=at, note="Third time")
    canned = TemplateUse("clear-cache", 2)
    while ticket.version < messages:
        at += timedelta(minutes=rng.uniform(5, 120))
        draw = rng.random()
        if draw < 0.4:
            ticket.receive_follow_up(
                message=_text(rng),
                channel=Channel.EMAIL,
                at=at,
                sender=ticket.requester_email,
                subject=f"Re: [{ticket.reference}] The lesson page stays blank",
            )
        elif draw < 0.75:
            use = canned if rng.random() < 0.3 else None
            ticket.respond(message=_text(rng), actor="agent.sara", at=at, template=use)
        else:
            ticket.add_note(text=_text(rng), actor="agent.omar", at=at)
    return ticket


def fill(container: Container, other_tickets: int, seed: int = 11) -> str:
    """Record the long ticket among `other_tickets` tickets of ten items each, and bring the
    conversation up to date; the long ticket's reference."""
    rng = random.Random(seed)
    target = long_ticket(container, rng, MESSAGES)
    batch = [target]
    for n in range(other_tickets):
        at = START + timedelta(minutes=n)
        ticket = _request(rng, at, container)
        ticket.acknowledge(message_id=f"<r{n}@desk>", actor="system:mailer", at=at)
        for step in range(4):
            at += timedelta(minutes=30)
            ticket.respond(message=_text(rng), actor="agent.sara", at=at)
            if step % 2:
                ticket.receive_follow_up(message=_text(rng), channel=Channel.EMAIL, at=at)
            else:
                ticket.add_note(text=_text(rng), actor="agent.omar", at=at)
        batch.append(ticket)
        if len(batch) == 100:
            container.desk.save(*batch)
            batch.clear()
    if batch:
        container.desk.save(*batch)
    build_runners(container)["conversation"].catch_up()
    return target.reference


# ---- reading ---------------------------------------------------------------------------------


def measure(container: Container, reference: str, sizes: Sizes) -> dict[str, list[float]]:
    """p50 and p95 (ms) of each of the four reads, per round."""
    engine = container.engine
    app = create_app(container=container)
    client = app.test_client()
    token = container.users.add("bench-agent", Role.AGENT)
    headers = {"Authorization": f"Bearer {token}"}
    ticket_id = Reference.parse(reference).ticket_id
    table = conversation_table
    one_item = sa.select(table).where(table.c.ticket_id == ticket_id, table.c.version == 1)

    def by_key() -> None:
        with engine.connect() as connection:
            connection.execute(one_item).one()

    def read() -> None:
        if len(conversation(engine, reference).documents) != MESSAGES:
            raise RuntimeError("the conversation lacks items")

    def api() -> None:
        answer = client.get(f"/api/v1/tickets/{reference}/conversation", headers=headers)
        if answer.status_code != 200 or len(answer.get_json()["items"]) != MESSAGES:
            raise RuntimeError(f"GET conversation answered {answer.status_code}")

    def ticket() -> None:
        answer = client.get(f"/api/v1/tickets/{reference}", headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"GET ticket answered {answer.status_code}")

    reads: dict[str, Callable[[], None]] = {
        "key": by_key,
        "read": read,
        "api": api,
        "ticket": ticket,
    }
    for action in reads.values():  # warm the pool, the caches and the code paths
        for _ in range(5):
            action()
    found: dict[str, list[float]] = {f"{name}_{p}": [] for name in reads for p in ("p50", "p95")}
    for _ in range(sizes.rounds):
        times: dict[str, list[float]] = {name: [] for name in reads}
        for _ in range(sizes.reads):
            for name, action in reads.items():
                began = time.perf_counter()
                action()
                times[name].append((time.perf_counter() - began) * 1000)
        for name, samples in times.items():
            found[f"{name}_p50"].append(statistics.median(samples))
            found[f"{name}_p95"].append(p95(samples))
    return found


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="bench.conversation_bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="small sizes: proves it runs")
    describe(figures(parser.parse_args().tiny))


if __name__ == "__main__":
    main()
