"""`supportdesk topology check`: the processes that share the database, the leaders of the
single-writer workers, and how far every follower of the log is behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from application.bootstrap import Container
from application.storage.leases import LEASE, Lease, leases_table
from interfaces.cli.topology import topology_check
from projections.runner import build_runners
from tests.builders import submit


def env_of(container: Container, data_dir: Path) -> dict[str, str]:
    return {
        "SUPPORTDESK_DATABASE_URL": container.settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(data_dir),
    }


def check(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    answer = CliRunner().invoke(topology_check, ["--json"], env=env)
    return answer.exit_code, json.loads(answer.output)


def test_it_names_each_leader_and_every_lag_and_fails_without_a_leader(
    postgres_container: Container, tmp_path: Path
) -> None:
    container = postgres_container
    cli_env = env_of(container, tmp_path)
    for _ in range(3):
        submit(container)
    build_runners(container)["queue"].catch_up()
    container.announce("worker: relay, queue")

    code, report = check(cli_env)
    assert code == 1 and report["leaderless"] == ["audit-seals", "relay", "sla-watch"]
    (me,) = [p for p in report["processes"] if p["live"]]
    assert me["role"] == "worker: relay, queue"
    head = report["log_head_position"]
    assert head == container.desk.recorder.max_notification_id()
    assert report["lag_events"]["read model queue"] == 0
    assert report["lag_events"]["read model search"] == head  # not caught up here
    assert report["lag_events"]["seal keeper"] == head

    leases = [Lease(container.engine, name, f"node-{name}/1/1") for name in report["leaderless"]]
    assert all(lease.acquire() for lease in leases)
    code, report = check(cli_env)
    assert code == 0 and report["leaderless"] == []
    assert report["leaders"]["relay"]["holder"] == "node-relay/1/1"

    with container.engine.begin() as connection:  # the relay's leader stopped renewing
        connection.execute(
            leases_table.update()
            .where(leases_table.c.name == "relay")
            .values(renewed_at=leases_table.c.renewed_at - 2 * LEASE)
        )
    code, report = check(cli_env)
    assert code == 1 and report["leaderless"] == ["relay"]
    text = CliRunner().invoke(topology_check, [], env=cli_env).output
    assert "relay        NO LEADER" in text and "sla-watch    node-sla-watch/1/1" in text


def test_the_embedded_shape_is_one_process_with_its_lags(
    sqlite_container: Container, tmp_path: Path
) -> None:
    submit(sqlite_container)
    code, report = check(env_of(sqlite_container, tmp_path))
    assert code == 0 and report["shape"] == "embedded" and report["processes"] == []
    assert report["lag_events"]["read model queue"] == report["log_head_position"] > 0
