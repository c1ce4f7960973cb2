"""Idempotency keys in the event store's database: claims, replays, crashes, expiry."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from application.bootstrap import Container
from application.storage.holders import STALE_AFTER, has_ended, processes_table, this_process
from application.storage.idempotency import (
    ABANDONED,
    RETENTION,
    Claim,
    IdempotencyStore,
    KeyInFlight,
    KeyReused,
    StoredAnswer,
    fingerprint,
    keys_table,
)
from tests.builders import submit_by_api
from tests.conftest import FakeClock
from tests.waiting import DEADLINE, join


@pytest.fixture
def store(container: Container, clock: FakeClock) -> IdempotencyStore:
    return IdempotencyStore(container.engine, now=clock)


def test_fingerprint_ignores_field_order() -> None:
    assert fingerprint({"a": 1, "b": "x"}) == fingerprint({"b": "x", "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


def test_a_completed_key_replays_its_answer(store: IdempotencyStore) -> None:
    assert isinstance(store.claim("api", "k", "d1"), Claim)
    store.complete("api", "k", 201, {"reference": "CM-7K3F-Q2XP"})

    stored = store.claim("api", "k", "d1")

    assert isinstance(stored, StoredAnswer)
    assert (stored.status_code, stored.body) == (201, {"reference": "CM-7K3F-Q2XP"})
    with pytest.raises(KeyReused):
        store.claim("api", "k", "d2")


def test_keys_of_different_scopes_do_not_meet(store: IdempotencyStore) -> None:
    store.claim("api", "k", "d1")
    assert isinstance(store.claim("form", "k", "d2"), Claim)


def test_a_running_claim_holds_until_abandoned(store: IdempotencyStore, clock: FakeClock) -> None:
    first = store.claim("api", "k", "d1")
    with pytest.raises(KeyInFlight):
        store.claim("api", "k", "d1")

    clock.advance(seconds=ABANDONED.total_seconds() + 1)  # the first request crashed

    # The retry submits under the crashed request's reference: never a second ticket.
    assert store.claim("api", "k", "d1") == first
    with pytest.raises(KeyInFlight):
        store.claim("api", "k", "d1")  # the retry that took over now holds it


def held_by(container: Container, holder: str) -> None:
    """Say that another process holds every claim."""
    with container.engine.begin() as connection:
        connection.execute(keys_table.update().values(holder=holder))


def an_ended_process() -> str:
    """The name of a process of this host that has ended."""
    code = "from application.storage.holders import this_process; print(this_process())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_a_claim_whose_process_ended_is_taken_over_at_once(
    store: IdempotencyStore, container: Container
) -> None:
    """The process was killed with its request: the retry need not wait for the claim to age."""
    first = store.claim("api", "k", "d1")
    held_by(container, an_ended_process())

    assert store.claim("api", "k", "d1") == first  # the same reference: never a second ticket


def test_retry_after_says_how_long_a_running_claim_may_still_last(
    store: IdempotencyStore, container: Container, clock: FakeClock
) -> None:
    store.claim("api", "k", "d1")
    with pytest.raises(KeyInFlight) as here:
        store.claim("api", "k", "d1")
    assert here.value.retry_after == 1  # its process runs here: it is about to answer

    held_by(container, "another-host/4242/777")  # another machine's: it cannot be seen
    with pytest.raises(KeyInFlight) as there:
        store.claim("api", "k", "d1")
    assert there.value.retry_after == ABANDONED.total_seconds()
    clock.advance(seconds=30)
    with pytest.raises(KeyInFlight) as later:
        store.claim("api", "k", "d1")
    assert later.value.retry_after == ABANDONED.total_seconds() - 30
    clock.advance(seconds=ABANDONED.total_seconds() - 29)
    assert isinstance(store.claim("api", "k", "d1"), Claim)


def test_the_api_tells_the_retry_after_of_a_claim_held_elsewhere(
    app: Flask, container: Container
) -> None:
    client = app.test_client()
    first = submit_by_api(client, **{"Idempotency-Key": "cut-off"})
    assert first.status_code == 201
    with container.engine.begin() as connection:  # as if its answer had never been kept
        connection.execute(keys_table.update().values(status_code=None, body=None))
    held_by(container, "another-host/4242/777")

    answer = submit_by_api(client, **{"Idempotency-Key": "cut-off"})

    assert answer.status_code == 409
    assert 60 < int(answer.headers["Retry-After"]) <= ABANDONED.total_seconds()


def test_a_process_is_named_so_that_a_reused_pid_is_another_process() -> None:
    me = this_process()
    host, pid, started = me.split("/")
    assert has_ended(me) is False
    assert has_ended(an_ended_process()) is True
    assert has_ended(f"{host}/{pid}/{int(started) + 1}") is True  # the same pid, started later
    assert has_ended(f"elsewhere/{pid}/{started}") is None


def test_a_process_killed_and_not_yet_reaped_has_ended() -> None:
    code = "import time; from application.storage.holders import this_process; "
    code += "print(this_process(), flush=True); time.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        name = child.stdout.readline().strip()
        assert has_ended(name) is False
        child.kill()
        # Until its parent reaps it, the killed process stays in the table as a zombie.
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        assert has_ended(name) is True


def test_a_released_key_is_taken_over_at_once_under_its_reference(
    store: IdempotencyStore,
) -> None:
    first = store.claim("api", "k", "d1")
    store.release("api", "k")
    with pytest.raises(KeyReused):
        store.claim("api", "k", "d2")  # the failed request may have recorded its ticket
    assert store.claim("api", "k", "d1") == first


def test_keys_are_forgotten_after_retention(store: IdempotencyStore, clock: FakeClock) -> None:
    store.claim("api", "k", "d1")
    store.complete("api", "k", 201, {})

    clock.advance(seconds=RETENTION.total_seconds() + 1)

    assert isinstance(store.claim("api", "k", "d2"), Claim)


def test_concurrent_retries_with_one_key_record_one_ticket(
    app: Flask, container: Container
) -> None:
    barrier = threading.Barrier(4, timeout=DEADLINE)
    answers: list[tuple[int, Any]] = []

    def send() -> None:
        client = app.test_client()
        barrier.wait()
        response = submit_by_api(client, **{"Idempotency-Key": "double-click"})
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        join(thread, "a retry")

    assert container.desk.recorder.max_notification_id() == 1
    created = {body["reference"] for status, body in answers if status == 201}
    assert len(created) == 1
    assert {status for status, _ in answers} <= {201, 409}


@pytest.mark.postgres
def test_a_claim_held_on_another_machine_lives_as_long_as_its_signs_of_life(
    postgres_container: Container, clock: FakeClock
) -> None:
    """Machines sharing PostgreSQL: a claim whose process still beats is running (retry in a
    second); one whose process fell silent is taken over at once."""
    store = IdempotencyStore(postgres_container.engine, now=clock)
    first = store.claim("api", "k", "d1")
    elsewhere = "another-host/4242/777"
    held_by(postgres_container, elsewhere)
    with postgres_container.engine.begin() as connection:
        connection.execute(processes_table.insert().values(holder=elsewhere, beat_at=clock()))
        mine = connection.execute(
            sa.select(processes_table.c.beat_at).where(processes_table.c.holder == this_process())
        ).scalar()
    assert mine is not None  # this process gives signs of life too

    with pytest.raises(KeyInFlight) as running:
        store.claim("api", "k", "d1")
    assert running.value.retry_after == 1

    clock.advance(seconds=STALE_AFTER.total_seconds() + 1)  # it fell silent: it died
    assert store.claim("api", "k", "d1") == first
    store.close()
