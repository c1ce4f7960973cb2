"""Processes killed with SIGKILL in the middle of load lose nothing and repeat nothing (P7).

The production shape runs: `serve --workers 2`, the relay, the projection runner, the mailer
and the seal keeper, on PostgreSQL and RabbitMQ, with a real SMTP server in the test. While
requesters submit and agents reply, each background process and a gunicorn worker is killed
with SIGKILL and started again (gunicorn's master replaces its worker). Afterwards every
request answered is recorded once, every receipt email arrived, the read models equal a
rebuild, and the hash chains verify.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from application.bootstrap import Container
from application.mail.outbox import positions_table
from projections.runner import READ_MODELS, build_runners, wait_until
from tests.builders import snapshot
from tests.reliability.conftest import (
    Answer,
    Client,
    Deployment,
    NoAnswer,
    Process,
    SmtpSink,
    audit_verified,
    eventually,
    recorded_events,
    start_projections,
)
from tests.reliability.traffic import Traffic, request_body
from tests.waiting import DEADLINE

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.rabbitmq]

LOAD_SECONDS = 24
SUBMITTERS = 3
AGENTS = 2


def keep_submitting(traffic: Traffic, stop: threading.Event) -> None:
    while not stop.is_set():
        traffic.submit()
        stop.wait(random.uniform(0.05, 0.25))


def keep_replying(traffic: Traffic, stop: threading.Event) -> None:
    while not stop.is_set():
        references = traffic.answered_references()
        if references:
            traffic.reply(random.choice(references[-20:]))
        stop.wait(random.uniform(0.1, 0.3))


def test_sigkill_of_every_process_under_load_loses_nothing_and_repeats_nothing(
    deployment: Deployment, rabbitmq_url: str, smtp_sink: tuple[SmtpSink, str]
) -> None:
    sink, smtp_url = smtp_sink
    deployment.configure(broker_url=rabbitmq_url, smtp_url=smtp_url)
    agent = deployment.token("nora", "agent")
    server = deployment.serve(workers=2)
    background: dict[str, Callable[[], Process]] = {
        "projections": lambda: start_projections(deployment),
        "relay": lambda: deployment.start("relay", "worker", "--only", "relay"),
        "mailer": lambda: deployment.start("mailer", "mailer"),
        "audit-seals": lambda: deployment.start("audit-seals", "worker", "--only", "audit-seals"),
    }
    running = {name: start() for name, start in background.items()}
    traffic = Traffic(server.client, agent, give_up=20)

    stop = threading.Event()
    faults: Counter[str] = Counter()
    with ThreadPoolExecutor(SUBMITTERS + AGENTS) as pool:
        load = [pool.submit(keep_submitting, traffic, stop) for _ in range(SUBMITTERS)]
        load += [pool.submit(keep_replying, traffic, stop) for _ in range(AGENTS)]
        try:
            time.sleep(2)
            for victim in ["projections", "relay", "mailer", "web worker"] * 2:
                if victim == "web worker":
                    before = set(server.workers())
                    Process.kill_pid(random.choice(sorted(before)))
                    # gunicorn's master notices and starts a new worker
                    assert eventually(lambda b=before: len(set(server.workers()) - b) == 1, 30)
                else:
                    running[victim].kill()
                    time.sleep(random.uniform(0.2, 1.0))
                    running[victim] = background[victim]()
                faults[victim] += 1
                time.sleep(LOAD_SECONDS / 8)
        finally:
            stop.set()
            for future in load:
                future.result(timeout=DEADLINE)

    submissions = traffic.submissions
    answered = [s for s in submissions if s.answered]
    assert not traffic.failures, traffic.failures[:5]
    assert len(answered) >= 50, len(answered)

    container = deployment.container()
    events = recorded_events(container)

    # Every answered request made exactly one ticket; no request made two.
    by_key = Counter(
        e.description.rsplit(" ", 1)[-1] for e in events if type(e).__name__ == "Submitted"
    )
    assert all(count == 1 for count in by_key.values()), by_key.most_common(3)
    assert all(by_key[s.key] == 1 for s in answered)
    held = [s for s in submissions if not s.answered]  # still "in flight" when the client gave up

    # Every accepted reply is recorded once, at its position; an unanswered one at most once.
    replies = Counter(
        e.message.rsplit(" ", 1)[-1] for e in events if type(e).__name__ == "Responded"
    )
    for reply in traffic.replies:
        expected = {"accepted": {1}, "unknown": {0, 1}, "refused": {0}}[reply.outcome]
        assert replies[reply.nonce] in expected, reply

    # Every receipt arrived at the SMTP server, and each ticket acknowledged it once (P3.3).
    references = {e.reference for e in events if type(e).__name__ == "Submitted"}
    receipts = {f"<receipt.1.{ref}@captainmama.org>" for ref in references}
    assert sink.wait_for(lambda got: receipts <= {d.message_id for d in got}, 90), (
        len(receipts - {d.message_id for d in sink.received()}),
        deployment.logs(),
    )

    def acknowledged() -> bool:
        done = [e for e in recorded_events(container) if type(e).__name__ == "Acknowledged"]
        return len(done) == len(references)

    assert eventually(acknowledged, 60), deployment.logs()
    events = recorded_events(container)
    acknowledgements = Counter(
        (e.originator_id, e.message_id) for e in events if type(e).__name__ == "Acknowledged"
    )
    assert all(count == 1 for count in acknowledgements.values())

    # Every other email its event caused arrived too: one reply email per recorded reply.
    reference_of = {e.originator_id: e.reference for e in events if type(e).__name__ == "Submitted"}
    responses = {
        f"<response.{e.originator_version}.{reference_of[e.originator_id]}@captainmama.org>"
        for e in events
        if type(e).__name__ == "Responded"
    }
    assert sink.wait_for(lambda got: responses <= {d.message_id for d in got}, 60)

    # An email is sent twice only when the mailer died between the server's 250 and
    # recording it: at most the one message in hand at each kill; a repeat keeps its
    # Message-ID, so the receiving server can recognise it.
    delivered = sink.count_by_message_id()
    repeats = sum(count - 1 for count in delivered.values())
    assert repeats <= faults["mailer"], delivered.most_common(3)

    head = container.desk.recorder.max_notification_id()

    def relayed() -> bool:
        with container.engine.connect() as connection:
            return connection.scalar(sa.select(positions_table.c.position)) == head

    assert eventually(relayed, 30)
    assert wait_until(container, "all", head, 30), deployment.logs()
    running["projections"].stop()
    running["audit-seals"].stop()
    report = audit_verified(deployment)
    assert report["intact"]
    live = snapshot(container)
    runners = build_runners(container)
    for name in READ_MODELS:
        runners[name].rebuild()
    assert snapshot(container) == live

    lost_answers = sum(
        trail.count("lost")
        for trail in [s.statuses for s in submissions] + [r.statuses for r in traffic.replies]
    )
    print(
        f"\n{len(submissions)} submissions ({len(held)} held in flight at the end), "
        f"{lost_answers} answers lost to a kill and retried, "
        f"{len(traffic.replies)} replies {dict(Counter(r.outcome for r in traffic.replies))}; "
        f"faults {dict(faults)}; {len(events)} events, {len(delivered)} emails, "
        f"{repeats} repeated; lost 0"
    )


def test_a_submission_cut_off_by_a_crash_after_recording_is_not_recorded_again(
    deployment: Deployment, postgres_url: str
) -> None:
    """The worker dies after the ticket was recorded but before its key was completed."""
    server = deployment.serve(workers=2)
    container = deployment.container()
    key = uuid.uuid4().hex
    dsn = postgres_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    events_lock, claim_lock, look = (psycopg2.connect(dsn) for _ in range(3))
    look.autocommit = True
    try:
        # Hold the submission inside the desk (after its key was claimed) ...
        first = held_in_flight(server.client, key, events_lock, look)
        # ... then let the ticket be recorded while the key's completion waits, and crash.
        claim_lock.cursor().execute(
            "SELECT 1 FROM supportdesk_idempotency_keys WHERE key = %s FOR UPDATE", (key,)
        )
        events_lock.rollback()
        assert eventually(lambda: tickets_of(container, key) == 1, 10)
        for worker in server.workers():
            Process.kill_pid(worker)
        claim_lock.rollback()
        first.join(30)
        assert eventually(lambda: len(server.workers()) == 2, 30)
        assert eventually(lambda: server.client.get("/health").status == 200, 30)

        # The claim's process was killed with the request: the retry takes it over at once.
        retried = post_with_key(server.client, key)
        assert retried.status == 201, retried.text
        assert tickets_of(container, key) == 1
    finally:
        for connection in (events_lock, claim_lock, look):
            connection.close()


def test_a_submission_killed_in_flight_is_taken_over_by_its_retry_at_once(
    deployment: Deployment, postgres_url: str
) -> None:
    """The worker dies while recording: its claim names a process that has ended, so the
    requester's retry takes it over at once (no 409 for minutes) and records the ticket once."""
    server = deployment.serve(workers=2)
    container = deployment.container()
    key = uuid.uuid4().hex
    dsn = postgres_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    events_lock, look = psycopg2.connect(dsn), psycopg2.connect(dsn)
    look.autocommit = True
    try:
        # Hold the submission inside the desk, after its key was claimed, and kill the workers.
        first = held_in_flight(server.client, key, events_lock, look)
        for worker in server.workers():
            Process.kill_pid(worker)
        events_lock.rollback()  # the dead request's transaction never commits
        first.join(30)
        assert eventually(lambda: len(server.workers()) == 2, 30)
        assert eventually(lambda: server.client.get("/health").status == 200, 30)
        assert tickets_of(container, key) == 0

        began = time.monotonic()
        retried = post_with_key(server.client, key)
        assert retried.status == 201, (retried.status, retried.text)
        assert time.monotonic() - began < 10
        assert tickets_of(container, key) == 1
        assert post_with_key(server.client, key).status == 201  # replayed, not recorded again
        assert tickets_of(container, key) == 1
    finally:
        events_lock.close()
        look.close()


def held_in_flight(client: Client, key: str, events_lock: Any, look: Any) -> threading.Thread:
    """A submission with `key` sent and held inside the desk after its key was claimed: the
    event table is locked (by `events_lock`) until the test lets it go."""
    events_lock.cursor().execute("LOCK TABLE supportdesk_events IN EXCLUSIVE MODE")
    sending = threading.Thread(target=lambda: post_with_key(client, key), daemon=True)
    sending.start()

    def claimed() -> bool:
        with look.cursor() as cursor:
            cursor.execute("SELECT 1 FROM supportdesk_idempotency_keys WHERE key = %s", (key,))
            return cursor.fetchone() is not None

    assert eventually(claimed, 10)
    return sending


def post_with_key(client: Client, key: str) -> Answer:
    try:
        return client.post("/api/v1/tickets", request_body(key), headers={"Idempotency-Key": key})
    except NoAnswer:
        return Answer(0, {}, b"", 0.0)


def tickets_of(container: Container, key: str) -> int:
    """How many tickets the submission with this key made."""
    return sum(
        1
        for e in recorded_events(container)
        if type(e).__name__ == "Submitted" and e.description.endswith(key)
    )
