"""A minute of mixed traffic at a steady rate against `serve --workers 2` on PostgreSQL.

Requesters submit and look up their requests, agents reply, escalate, read tickets and the
queue (half of the queue reads asking for their own latest write, and retrying once when told
to, as the API documents), while the projection runner follows the log in its own process.
Every request succeeds, the web workers' memory stays flat, and the read models are caught up
within a second of the last write.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from projections.runner import wait_until
from tests.reliability.conftest import Client, Deployment, NoAnswer, rss_kib, start_projections
from tests.reliability.traffic import request_body
from tests.waiting import join

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RATE = 50  # requests a second
SECONDS = 60
WARM_UP = 10  # memory is compared from here to the end
LOAD_DEADLINE = 3 * SECONDS  # the planned load has ended long before, however slow the machine
MIX = {"submit": 10, "status": 10, "respond": 7, "escalate": 5, "read": 8, "queue": 10}
EXPECTED = {
    "submit": 201,
    "status": 200,
    "respond": 200,
    "escalate": 200,
    "read": 200,
    "queue": 200,
}


class Desk:
    """The tickets made so far and the newest write's position, shared by the senders."""

    def __init__(self) -> None:
        self.tickets: list[tuple[str, str]] = []  # (reference, requester email)
        self.position = 0
        self.retried = 0  # read-your-writes reads told to retry (503, Retry-After) and retried
        self.lock = threading.Lock()

    def made(self, answer: Any, email: str) -> None:
        body = answer.json()
        with self.lock:
            self.tickets.append((body["reference"], email))
            self.position = max(self.position, body["position"])

    def wrote(self, position: int) -> None:
        with self.lock:
            self.position = max(self.position, position)

    def any_ticket(self, rng: random.Random) -> tuple[str, str]:
        with self.lock:
            return rng.choice(self.tickets)


def send(kind: str, client: Client, desk: Desk, tokens: dict[str, str], rng: random.Random) -> Any:
    if kind == "submit":
        body = request_body(uuid.uuid4().hex)
        answer = client.post("/api/v1/tickets", body, headers={"Idempotency-Key": uuid.uuid4().hex})
        if answer.status == 201:
            desk.made(answer, body["email"])
        return answer
    reference, email = desk.any_ticket(rng)
    if kind == "status":
        return client.post("/api/v1/status", {"reference": reference, "email": email})
    if kind in ("respond", "escalate"):
        body = {"message": "Looking into it"} if kind == "respond" else {"note": "Please look"}
        answer = client.post(f"/api/v1/tickets/{reference}/{kind}", body, token=tokens["agent"])
        if answer.status == 200:
            desk.wrote(answer.json()["position"])
        return answer
    if kind == "read":
        return client.get(f"/api/v1/tickets/{reference}", token=tokens["agent"])
    role = rng.choice(["agent", "analyst"])
    query = f"?after={desk.position}" if rng.random() < 0.5 else ""  # read-your-writes
    answer = client.get(f"/api/v1/queue{query}", token=tokens[role])
    # A read model more than 2 s behind the write asked for answers 503 with Retry-After, as
    # documented; a client does as told, once. A second refusal counts as an error: the read
    # model stayed behind, or the answer never came.
    if query and answer.status == 503 and "retry-after" in answer.headers:
        time.sleep(min(float(answer.headers["retry-after"]), 2.0))
        with desk.lock:
            desk.retried += 1
        answer = client.get(f"/api/v1/queue{query}", token=tokens[role])
    return answer


def test_a_minute_of_mixed_traffic_without_an_error_with_flat_memory(
    deployment: Deployment,
) -> None:
    tokens = {role: deployment.token(f"load-{role}", role) for role in ("agent", "analyst")}
    server = deployment.serve(workers=2)
    start_projections(deployment)
    client = server.client
    desk = Desk()
    for _ in range(10):
        body = request_body(uuid.uuid4().hex)
        desk.made(client.post("/api/v1/tickets", body), body["email"])

    rng = random.Random(7)
    plan = [kind for kind, weight in MIX.items() for _ in range(weight)]
    assert len(plan) == RATE
    schedule = [kind for _ in range(SECONDS) for kind in rng.sample(plan, len(plan))]
    workers = server.workers()
    memory: dict[str, dict[int, int]] = {}
    latencies: dict[str, list[float]] = defaultdict(list)
    outcomes: Counter[tuple[str, int | str]] = Counter()
    lateness: list[float] = []
    lock = threading.Lock()
    started = time.monotonic() + 0.5

    def planned(number: int, kind: str) -> None:
        at = started + number / RATE
        time.sleep(max(0.0, at - time.monotonic()))
        lateness.append(time.monotonic() - at)
        try:
            answer = send(kind, client, desk, tokens, random.Random(number))
            result: int | str = answer.status
            seconds = answer.seconds
        except NoAnswer as error:
            result, seconds = f"no answer: {error}", 0.0
        with lock:
            outcomes[kind, result] += 1
            latencies[kind].append(seconds)

    def watch_memory() -> None:
        time.sleep(max(0.0, started + WARM_UP - time.monotonic()))
        memory["warm"] = {pid: rss_kib(pid) for pid in workers}

    watcher = threading.Thread(target=watch_memory)
    watcher.start()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(planned, range(len(schedule)), schedule, timeout=LOAD_DEADLINE))
    finished = time.monotonic()
    memory["end"] = {pid: rss_kib(pid) for pid in workers}
    join(watcher, "the memory watcher")

    head = deployment.container().desk.recorder.max_notification_id()
    caught_up = wait_until(deployment.container(), "all", head, 1.0)
    errors = {key: n for key, n in outcomes.items() if key[1] != EXPECTED[key[0]]}
    growth = {pid: memory["end"][pid] / memory["warm"][pid] - 1 for pid in workers}
    counted = requests_counted(client)
    print(
        f"\n{len(schedule)} requests in {finished - started:.1f} s "
        f"({len(schedule) / (finished - started):.1f}/s), errors {errors}; "
        f"p50/p99 ms: "
        + ", ".join(
            f"{kind} {statistics.median(v) * 1000:.0f}/{percentile(v, 0.99) * 1000:.0f}"
            for kind, v in latencies.items()
        )
        + f"; {desk.retried} queue reads retried after a 503"
        + f"; latest start {max(lateness) * 1000:.0f} ms late; worker RSS KiB "
        f"{memory['warm']} → {memory['end']}; read models caught up: {caught_up}"
    )
    assert not errors, errors
    assert set(server.workers()) == set(workers)  # no worker died or was recycled
    assert all(g < 0.10 for g in growth.values()), growth
    assert caught_up, deployment.logs()
    assert finished - started < SECONDS + 5  # the desk kept up with the rate
    # Both workers' requests are counted together in /metrics.
    assert counted["POST /api/v1/tickets 201"] == outcomes["submit", 201] + 10
    assert counted["GET /api/v1/queue 200"] == outcomes["queue", 200]
    assert counted["GET /api/v1/queue 503"] == desk.retried


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def requests_counted(client: Client) -> Counter[str]:
    """`/metrics`: requests answered, by method, route and status, over all workers."""
    counted: Counter[str] = Counter()
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "supportdesk_http_requests_total":
                labels = sample.labels
                counted[f"{labels['method']} {labels['route']} {labels['status']}"] += int(
                    sample.value
                )
    return counted
