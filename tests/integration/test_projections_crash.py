"""A runner killed with SIGKILL half-way through a batch loses nothing and repeats nothing."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from application.bootstrap import Container
from projections.runner import build_runners, positions
from tests.builders import act_at_random, snapshot
from tests.conftest import FakeClock
from tests.waiting import DEADLINE

BATCH = 30

# The runner in its own process; after two whole batches it applies half of the third, says
# so, and waits to be killed with that half written and the transaction still open.
RUNNER = f"""
import sys, time
from application.bootstrap import bootstrap
from projections.runner import build_runners

runner = build_runners(bootstrap())[sys.argv[1]]
runner.batch_size = {BATCH}
apply_batch, batches = runner.read_model.apply_batch, []

def apply_half_of_the_third(connection, events):
    batches.append(len(events))
    if len(batches) < 3:
        return apply_batch(connection, events)
    apply_batch(connection, events[: len(events) // 2])
    print("mid-batch", flush=True)
    time.sleep(120)

runner.read_model.apply_batch = apply_half_of_the_third
runner.catch_up()
print("finished without being killed", flush=True)
"""


def run_until_killed(container: Container, name: str, data_dir: Path) -> None:
    env = dict(
        os.environ,
        SUPPORTDESK_DATABASE_URL=container.settings.database_url,
        SUPPORTDESK_DATA_DIR=str(data_dir),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    with subprocess.Popen(
        [sys.executable, "-c", RUNNER, name], env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        try:
            assert child.stdout is not None
            said = select.select([child.stdout], [], [], DEADLINE)[0]
            assert said, f"the runner process said nothing in {DEADLINE:g} s"
            assert child.stdout.readline().strip() == "mid-batch"
            os.kill(child.pid, signal.SIGKILL)
        finally:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


@pytest.mark.parametrize("name", ["queue", "sla"])
def test_killed_mid_batch_and_restarted_gives_the_tables_of_a_rebuild(
    container: Container, clock: FakeClock, tmp_path: Path, name: str
) -> None:
    act_at_random(container, clock, random.Random(3), 200)
    runners = build_runners(container)
    log = container.desk.recorder.select_notifications(start=None, limit=10_000)
    assert len(log) > 3 * BATCH

    run_until_killed(container, name, tmp_path)
    assert positions(container)[name] == log[2 * BATCH - 1].id  # two batches, not 2.5

    assert runners[name].catch_up() == len(log) - 2 * BATCH  # the rest, each event once
    after_restart = snapshot(container)
    runners[name].rebuild()
    assert snapshot(container) == after_restart
    with container.engine.connect() as connection:
        table = runners[name].read_model.tables[0]
        assert connection.scalar(sa.select(sa.func.count()).select_from(table))
