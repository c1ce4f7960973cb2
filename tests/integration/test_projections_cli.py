"""`supportdesk projections rebuild|status` on the real database."""

from __future__ import annotations

import random

from click.testing import CliRunner, Result

from application.bootstrap import Container
from interfaces.cli.projections import projections_group
from projections.runner import build_runners
from tests.builders import act_at_random, caught_up, snapshot
from tests.conftest import FakeClock


def invoke(container: Container, *args: str) -> Result:
    env = {
        "SUPPORTDESK_DATABASE_URL": container.settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(container.settings.data_dir),
    }
    return CliRunner().invoke(projections_group, list(args), env=env)


def test_rebuild_replays_every_read_model_into_the_same_rows(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(2), 60)
    caught_up(container)
    live = snapshot(container)
    head = container.desk.recorder.max_notification_id()

    result = invoke(container, "rebuild")
    assert result.exit_code == 0, result.output
    for name in ("queue", "sla", "reports", "suggestions"):
        assert f"{name}: {head} events replayed, now at position {head}" in result.output
    assert snapshot(container) == live

    result = invoke(container, "rebuild", "queue")
    assert result.exit_code == 0 and "sla:" not in result.output
    assert snapshot(container) == live


def test_status_shows_how_far_behind_each_read_model_is(
    container: Container, clock: FakeClock
) -> None:
    act_at_random(container, clock, random.Random(3), 10)
    head = container.desk.recorder.max_notification_id()
    build_runners(container)["sla"].catch_up()
    result = invoke(container, "status")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(maxsplit=1) for line in result.output.splitlines())
    assert lines["sla"].split() == ["at", str(head), "behind", "by", "0"]
    assert lines["queue"].split() == ["at", "0", "behind", "by", str(head)]


def test_rebuild_refuses_an_unknown_read_model(container: Container) -> None:
    result = invoke(container, "rebuild", "audit")
    assert result.exit_code == 2 and "audit" in result.output
