"""Fifty agents acting on one ticket at once, through the HTTP API on PostgreSQL (P7.1).

Every accepted command is exactly one event, at the position and version its answer names;
every refused command (409, 412) left nothing behind; the hash chain verifies; the read models
followed the contention live and agree with a rebuild from the log.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from projections.runner import READ_MODELS, build_runners, wait_until
from tests.builders import snapshot
from tests.reliability.conftest import (
    Answer,
    Client,
    Deployment,
    audit_verified,
    start_projections,
)
from tests.waiting import DEADLINE

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

THREADS = 50
ROUNDS = 10
AGENTS = ("amal", "badr", "dana", "faris", "huda")

# command → (path, body carrying the request's nonce, or None for a command without text)
COMMANDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "respond": lambda nonce: {"message": f"Reply {nonce}"},
    "resolve": lambda nonce: {"summary": f"Solved {nonce}"},
    "reopen": lambda nonce: {"reason": f"Not solved {nonce}"},
    "escalate": lambda nonce: {"reason": "agent", "note": f"Escalated {nonce}"},
    "classify": lambda nonce: {"complexity": random.Random(nonce).choice(["simple", "complex"])},
}
EVENT_OF = {
    "respond": "Responded",
    "resolve": "Resolved",
    "reopen": "Reopened",
    "escalate": "Escalated",
    "classify": "Classified",
}


@dataclass(frozen=True)
class Attempt:
    """One command sent, and what came back."""

    round: int
    command: str
    actor: str
    nonce: str
    if_match: int | None
    answer: Answer


def attempt(
    client: Client, ref: str, tokens: dict[str, str], round_: int, seed: int, version: int
) -> Attempt:
    rng = random.Random(seed)
    command = rng.choice(list(COMMANDS))
    actor = rng.choice(AGENTS)
    nonce = uuid.UUID(int=rng.getrandbits(128)).hex
    if_match = version if rng.random() < 0.3 else None
    headers = {"If-Match": f'"{if_match}"'} if if_match is not None else {}
    answer = client.post(
        f"/api/v1/tickets/{ref}/{command}",
        COMMANDS[command](nonce),
        token=tokens[actor],
        headers=headers,
    )
    return Attempt(round_, command, actor, nonce, if_match, answer)


def test_conflicting_commands_leave_one_event_per_acceptance_and_none_per_refusal(
    deployment: Deployment,
) -> None:
    tokens = {name: deployment.token(name, "agent") for name in AGENTS}
    auditor = deployment.token("aziz", "auditor")
    server = deployment.serve(workers=2)
    projections = start_projections(deployment)
    keeper = deployment.start("audit-seals", "worker", "--only", "audit-seals")
    client = server.client

    submitted = client.post(
        "/api/v1/tickets",
        {
            "email": "learner@example.org",
            "category": "login",
            "course": "Python 101",
            "subject": "Cannot sign in",
            "description": "The password is refused.",
            "language": "en",
        },
    )
    assert submitted.status == 201, submitted.text
    ref = submitted.json()["reference"]

    attempts: list[Attempt] = []
    with ThreadPoolExecutor(THREADS) as pool:
        for round_ in range(ROUNDS):
            version = int(
                client.get(f"/api/v1/tickets/{ref}", token=tokens["amal"]).json()["version"]
            )
            start = threading.Barrier(THREADS, timeout=DEADLINE)

            def go(
                seed: int,
                round_: int = round_,
                version: int = version,
                start: threading.Barrier = start,
            ) -> Attempt:
                start.wait()  # all fifty leave together
                return attempt(client, ref, tokens, round_, seed, version)

            attempts += pool.map(
                go, range(round_ * THREADS, (round_ + 1) * THREADS), timeout=DEADLINE
            )

    statuses = Counter(a.answer.status for a in attempts)
    assert set(statuses) <= {200, 409, 412}, (
        statuses,
        [a.answer.text for a in attempts if a.answer.status not in (200, 409, 412)][:3],
    )
    accepted = [a for a in attempts if a.answer.status == 200]
    refused = [a for a in attempts if a.answer.status != 200]
    assert accepted and refused, statuses

    history = client.get(f"/api/v1/tickets/{ref}/history", token=auditor)
    assert history.status == 200, history.text
    events = history.json()["events"]
    by_position = {e["position"]: e for e in events}
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert len(by_position) == len(events)

    # Each acceptance: one event, where its answer says, of its kind, by its agent, with its text.
    for a in accepted:
        body = a.answer.json()
        event = by_position[body["position"]]
        assert event["version"] == body["version"]
        assert a.answer.headers["etag"] == f'"{body["version"]}"'
        assert event["type"].endswith(EVENT_OF[a.command]), (event["type"], a.command)
        assert event["actor"] == a.actor
        if a.command != "classify":
            assert a.nonce in str(event["data"])
        if a.if_match is not None:
            assert event["version"] == a.if_match + 1  # acted on exactly the version it named
    assert len({a.answer.json()["position"] for a in accepted}) == len(accepted)

    # Each refusal: nothing recorded; and nothing recorded that no one was told was accepted.
    recorded = " ".join(str(e["data"]) for e in events)
    for a in refused:
        assert a.nonce not in recorded, a
        assert a.answer.headers["content-type"] == "application/problem+json"
        if a.answer.status == 412:
            assert a.if_match is not None
    kinds = Counter(e["type"].rsplit(".", 1)[-1] for e in events[1:])
    assert kinds == Counter(EVENT_OF[a.command] for a in accepted)

    # Of those that named the same version, at most one got through in each round.
    for round_ in range(ROUNDS):
        pinned = [a for a in accepted if a.round == round_ and a.if_match is not None]
        assert len(pinned) <= 1, pinned

    report = audit_verified(deployment)
    assert report["events_checked"] == len(events) and report["intact"]

    container = deployment.container()
    head = container.desk.recorder.max_notification_id()
    assert wait_until(container, "all", head, 30), deployment.logs()
    projections.stop()
    keeper.stop()
    live = snapshot(container)
    runners = build_runners(container)
    for name in READ_MODELS:
        runners[name].rebuild()
    assert snapshot(container) == live

    print(
        f"\n{len(attempts)} commands by {THREADS} threads in {ROUNDS} rounds: "
        f"{dict(statuses)}; {len(events)} events checked; lost 0"
    )
