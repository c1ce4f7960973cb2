"""A rebuild builds beside the live tables and swaps them in in one transaction, on PostgreSQL
and SQLite: readers never see a half-built read model, and a runner left running carries on."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from application.bootstrap import Container
from projections import runner as runners_module
from projections.rebuild import RebuildRunning, beside
from projections.runner import READ_MODELS, build_runners
from tests.builders import act_at_random, snapshot, submit
from tests.conftest import FakeClock


def rows(container: Container, table: sa.Table) -> int:
    with container.engine.connect() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


def test_readers_see_the_whole_read_model_while_it_is_rebuilt(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_at_random(container, clock, random.Random(5), 80)
    runners = build_runners(container)
    for runner in runners.values():
        runner.catch_up()
    live = snapshot(container)
    monkeypatch.setattr(runners_module, "REBUILD_BATCH", 7)  # many batches, many moments

    for name in READ_MODELS:
        model = runners[name].read_model
        whole = {table.name: rows(container, table) for table in model.tables}
        seen: list[dict[str, Any]] = []

        def look(position: int, model: Any = model, seen: list[Any] = seen) -> None:
            # Between two batches of the replay, as any reader would see it.
            seen.append({table.name: rows(container, table) for table in model.tables})

        runners[name].rebuild(look)
        assert len(seen) > 3, name  # it was looked at half-way, more than once
        assert all(looked == whole for looked in seen), (name, seen[:3])
    assert snapshot(container) == live
    assert not leftovers(container)


def leftovers(container: Container) -> list[str]:
    """What rebuilds left beside the desk's database: schemas, or files."""
    if container.engine.dialect.name == "postgresql":
        with container.engine.connect() as connection:
            schemas = connection.scalars(sa.text("SELECT nspname FROM pg_namespace")).all()
        return [s for s in schemas if s.startswith("supportdesk_rebuild_")]
    folder = Path(str(container.engine.url.database)).parent
    return [p.name for p in folder.iterdir() if ".rebuild-" in p.name and "lock" not in p.name]


def test_a_runner_left_running_goes_on_from_the_rebuilt_tables(
    container: Container, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    act_at_random(container, clock, random.Random(6), 40)
    live_runner = build_runners(container)["queue"]
    live_runner.catch_up()
    monkeypatch.setattr(runners_module, "REBUILD_BATCH", 5)
    arrived: list[str] = []

    def meanwhile(position: int) -> None:
        if not arrived:  # a request arrives during the rebuild, and the live runner applies it
            arrived.append(submit(container))
            live_runner.catch_up()

    build_runners(container)["queue"].rebuild(meanwhile)
    live_runner.catch_up()  # finds the tracking row moved, and goes on from there
    head = container.desk.recorder.max_notification_id()
    assert live_runner.position() == head
    after = snapshot(container)["queue_tickets"]
    build_runners(container)["queue"].rebuild()
    assert snapshot(container)["queue_tickets"] == after
    assert arrived[0] in {row[1] for row in after}  # the request that came meanwhile


def test_a_second_rebuild_of_the_same_read_model_is_refused_while_one_runs(
    container: Container,
) -> None:
    submit(container)
    runners = build_runners(container)
    with beside(runners["search"].read_model):
        with pytest.raises(RebuildRunning):
            runners["search"].rebuild()
        runners["queue"].rebuild()  # another read model's rebuild is not held up
    assert runners["search"].rebuild() >= 1
