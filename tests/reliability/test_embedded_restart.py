"""The embedded desk (`make run`: SQLite, one process) killed twice under load.

Each request cut off by a kill is retried with its key once the desk is back: the retry takes
the dead request's claim over at once (its process has ended), so no learner is told "409 …
still in flight" about a request no process is running, and every key gets its one ticket.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.reliability.conftest import Deployment, Process, Server, deployment_env, recorded_events
from tests.reliability.traffic import Submission, Traffic
from tests.waiting import DEADLINE

pytestmark = pytest.mark.slow

SUBMITTERS = 4
KILLS = 2


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Deployment]:
    """The embedded shape: no database URL, so SQLite in the data folder, one process."""
    built = Deployment(tmp_path, deployment_env(tmp_path))
    try:
        yield built
    finally:
        built.close()


def kill(server: Server) -> None:
    for pid in [*server.workers(), server.process.pid]:
        Process.kill_pid(pid)
    server.process.popen.wait()


def test_every_request_cut_off_by_a_kill_gets_its_ticket_when_retried(
    embedded: Deployment,
) -> None:
    server = embedded.serve(workers=1)
    traffic = Traffic(server.client, embedded.token("nora", "agent"), give_up=60)
    answered_at: dict[str, float] = {}
    restarted_at: list[float] = []
    stop = threading.Event()

    def keep_submitting() -> None:
        while not stop.is_set():
            submission = traffic.submit()
            if submission.answered:
                answered_at[submission.key] = time.monotonic()

    with ThreadPoolExecutor(SUBMITTERS) as pool:
        load = [pool.submit(keep_submitting) for _ in range(SUBMITTERS)]
        try:
            for _ in range(KILLS):
                time.sleep(3)
                kill(server)
                server = embedded.serve(workers=1)  # once it answers /health
                restarted_at.append(time.monotonic())
                traffic.client = server.client
            time.sleep(3)
        finally:
            stop.set()
            for future in load:
                future.result(timeout=DEADLINE + 60)

    submissions = traffic.submissions
    assert not traffic.failures, traffic.failures[:5]
    assert all(s.answered for s in submissions), [s for s in submissions if not s.answered]
    cut_off: list[Submission] = [s for s in submissions if "lost" in s.statuses]
    assert cut_off, "no request was in flight at a kill"
    # No retry was told to wait for a request that died with the desk.
    assert not [s for s in submissions if 409 in s.statuses]

    events = recorded_events(embedded.container())
    tickets = Counter(
        e.description.rsplit(" ", 1)[-1] for e in events if type(e).__name__ == "Submitted"
    )
    assert all(tickets[s.key] == 1 for s in submissions), tickets.most_common(3)
    assert sum(tickets.values()) == len(submissions)

    def after_restart(submission: Submission) -> float:
        done = answered_at[submission.key]
        return done - max(t for t in restarted_at if t <= done)

    waits = sorted(after_restart(s) for s in cut_off)
    print(
        f"\n{len(submissions)} requests, {len(cut_off)} cut off by {KILLS} kills; each had its "
        f"ticket {waits[len(waits) // 2]:.2f} s (median), {waits[-1]:.2f} s (most) after the "
        "restarted desk answered"
    )
