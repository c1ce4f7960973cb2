"""Replicas of a single-writer worker on the shared PostgreSQL: one leads, the others stand by
and take over when the leader ends or stops renewing; a deposed leader's writes are refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.bootstrap import Container
from application.runtime import leadership
from application.runtime.leadership import Led
from application.storage.holders import this_process
from application.storage.leases import LEASE, Deposed, Lease, leaders, leases_table
from projections.audit import SealKeeper
from tests.builders import submit
from tests.waiting import eventually

pytestmark = pytest.mark.postgres

HOST_GONE = "another-host/123/456"  # a holder on another machine: only its lease's age tells


@pytest.fixture
def engine(postgres_container: Container) -> Engine:
    return postgres_container.engine


def age(engine: Engine, name: str, by: timedelta) -> None:
    """Make the lease look `by` older, as if its holder had stopped renewing that long ago."""
    with engine.begin() as connection:
        connection.execute(
            leases_table.update()
            .where(leases_table.c.name == name)
            .values(renewed_at=leases_table.c.renewed_at - by)
        )


def test_one_replica_holds_the_lease_and_the_other_stands_by(engine: Engine) -> None:
    first, second = Lease(engine, "relay", "node-a/1/1"), Lease(engine, "relay", HOST_GONE)
    assert first.acquire() and first.epoch == 1
    assert not second.acquire() and second.epoch is None
    assert first.acquire() and first.renew()  # holding it again is renewing it
    (leader,) = leaders(engine)
    assert (leader.name, leader.holder, leader.epoch, leader.live) == (
        "relay",
        "node-a/1/1",
        1,
        True,
    )


def test_a_lease_not_renewed_in_time_passes_with_a_new_epoch_and_fences_the_old_leader(
    engine: Engine,
) -> None:
    old, new = Lease(engine, "relay", HOST_GONE), Lease(engine, "relay", "node-b/2/2")
    assert old.acquire()
    age(engine, "relay", LEASE - timedelta(seconds=1))
    assert not new.acquire()  # not yet expired
    age(engine, "relay", timedelta(seconds=2))
    assert new.acquire() and new.epoch == 2

    # The old leader learns it at its next renewal, and any write it fences is refused.
    with pytest.raises(Deposed), engine.begin() as connection:
        old.fence(connection)
    assert not old.renew() and old.epoch is None
    new.fence()  # the new leader's writes go through
    assert [(x.holder, x.epoch) for x in leaders(engine)] == [("node-b/2/2", 2)]


def test_the_lease_of_a_process_of_this_host_that_ended_is_taken_at_once(engine: Engine) -> None:
    # pid 1's start time never matches this name: the holder is a process that has ended.
    ended = Lease(engine, "sla-watch", f"{this_process().split('/')[0]}/1/no-such-start")
    assert ended.acquire()
    taker = Lease(engine, "sla-watch")  # named as this process
    assert taker.holder == this_process()
    assert taker.acquire() and taker.epoch == 2


def test_a_fenced_write_holds_off_a_takeover_until_it_commits(engine: Engine) -> None:
    leader, taker = Lease(engine, "audit-seals", HOST_GONE), Lease(engine, "audit-seals", "n/3/3")
    assert leader.acquire()
    age(engine, "audit-seals", LEASE * 2)
    took: list[bool] = []
    with engine.begin() as connection:
        leader.fence(connection)  # the write's transaction now holds the row
        thread = threading.Thread(target=lambda: took.append(taker.acquire()))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not took  # the takeover waits for the write
    thread.join(10)
    assert took == [True]
    with pytest.raises(Deposed):
        leader.fence()


def test_a_released_lease_is_taken_at_the_next_look(engine: Engine) -> None:
    first, second = Lease(engine, "relay", HOST_GONE), Lease(engine, "relay", "n/4/4")
    assert first.acquire()
    first.release()
    assert second.acquire() and second.epoch == 2


class Counting:
    """A worker that counts its rounds while it runs, and writes through its fence."""

    def __init__(self) -> None:
        self.rounds = 0
        self.fence: leadership.Fence | None = None

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.05):
            if self.fence is not None:
                self.fence(None)
            self.rounds += 1


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leadership, "RENEW_EVERY", 0.1)
    monkeypatch.setattr(leadership, "LOOK_EVERY", 0.1)


class Replica:
    """A led worker's replica running in a thread until stopped (its lease then released)."""

    def __init__(self, led: Led) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=led.run, args=(self.stopping,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)


@contextmanager
def running(led: Led) -> Iterator[Replica]:
    replica = Replica(led)
    try:
        yield replica
    finally:
        replica.stop()


@pytest.mark.usefixtures("quick")
def test_of_two_replicas_one_works_and_the_other_takes_over_when_it_stops(engine: Engine) -> None:
    a, b = Counting(), Counting()
    first = Led(a, Lease(engine, "relay", "node-a/1/1"))
    second = Led(b, Lease(engine, "relay", "node-b/2/2"))
    assert a.fence is not None  # the led worker's writes are fenced by its lease
    with running(first) as one, running(second) as other:
        eventually(lambda: a.rounds > 3 or b.rounds > 3, "one replica working")
        leading, standing, replica = (a, b, one) if a.rounds else (b, a, other)
        time.sleep(0.5)
        assert standing.rounds == 0  # standing by while the other leads

        replica.stop()  # the leader stops and releases its lease
        before = leading.rounds
        eventually(lambda: standing.rounds > 3, "the standby taking over")
        assert leading.rounds == before
        assert [x.epoch for x in leaders(engine)] == [2]


@pytest.mark.usefixtures("quick")
def test_a_leader_whose_lease_was_taken_stops_working(engine: Engine) -> None:
    worker = Counting()
    led = Led(worker, Lease(engine, "relay", "node-a/1/1"))
    with running(led):
        eventually(lambda: worker.rounds > 0, "the only replica leading")
        with engine.begin() as connection:  # another node takes it over (its lease expired)
            connection.execute(
                leases_table.update().values(holder="node-b/2/2", epoch=leases_table.c.epoch + 1)
            )
        time.sleep(0.5)
        stopped = worker.rounds
        time.sleep(0.5)
        assert worker.rounds == stopped  # standing by now


def test_a_deposed_seal_keeper_writes_no_seal(postgres_container: Container) -> None:
    container = postgres_container
    keeper = SealKeeper(container.desk, container.audit_key)
    lease = Lease(container.engine, "audit-seals", HOST_GONE)
    assert lease.acquire()
    keeper.fence = lease.fence
    submit(container)
    assert keeper.catch_up() > 0
    sealed = keeper.book.watermark()
    age(container.engine, "audit-seals", LEASE * 2)
    assert Lease(container.engine, "audit-seals", "n/5/5").acquire()
    submit(container)
    with pytest.raises(Deposed):
        keeper.catch_up()
    assert keeper.book.watermark() == sealed


def test_the_leases_table_is_made_with_the_others(engine: Engine) -> None:
    assert sa.inspect(engine).has_table(leases_table.name)
