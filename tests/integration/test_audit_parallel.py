"""`audit verify` hashing on every core finds exactly what it finds on one (P7.1)."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from dataclasses import astuple

import pytest
import sqlalchemy as sa

from application.audit import hashing
from application.audit.chain import ChainVerifier, Verification
from application.audit.records import EventLog
from application.bootstrap import Container
from projections.audit import SealKeeper
from tests.builders import submit_with_replies
from tests.conftest import FakeClock


def verified(container: Container, workers: int) -> Verification:
    log = EventLog(container.desk)
    # From the first event on, so that a small log takes the path a long one takes.
    verifier = ChainVerifier(log, container.audit_key, workers=workers, parallel_from=0)
    return verifier.verify_store()


def findings(result: Verification) -> tuple[object, ...]:
    verdicts = [astuple(t) for t in result.tickets]
    return result.intact, result.events_checked, result.digest, result.problems, verdicts


def test_every_core_and_one_core_find_the_same(container: Container, clock: FakeClock) -> None:
    for _ in range(12):
        submit_with_replies(container, clock, replies=3)
    SealKeeper(container.desk, container.audit_key).catch_up()

    one, every = verified(container, workers=1), verified(container, workers=2)
    assert one.intact and findings(every) == findings(one)
    assert every.events_checked == 48

    # An event's stored content changed behind the desk's back: both find it, in the same place.
    with container.engine.begin() as connection:
        state = connection.execute(
            sa.text("SELECT state FROM supportdesk_events WHERE id = 7")
        ).scalar_one()
        changed = bytes(state).replace(b'"actor":"agent.sara"', b'"actor":"agent.omar"')
        assert changed != bytes(state)
        connection.execute(
            sa.text("UPDATE supportdesk_events SET state = :state WHERE id = 7"), {"state": changed}
        )
    one, every = verified(container, workers=1), verified(container, workers=2)
    assert not one.intact and findings(every) == findings(one)
    (broken,) = every.broken
    assert broken.first_bad is not None and broken.first_bad.position == 7
    assert "stored content was changed" in broken.first_bad.reason


def test_where_no_worker_process_can_run_the_verifier_hashes_alone(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit_with_replies(container, clock, replies=2)
    SealKeeper(container.desk, container.audit_key).catch_up()

    def no_processes(*args: object) -> None:
        raise BrokenProcessPool("a worker died")

    monkeypatch.setattr(hashing, "_on_every_core", no_processes)
    result = verified(container, workers=2)
    assert result.intact and result.events_checked == 3
