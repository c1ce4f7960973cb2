"""`supportdesk audit`: verify, seal, export and history from the command line (P7.1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from application.bootstrap import Container
from interfaces.cli.audit import audit_group
from tests.builders import AUDIT_KEY_SETTING, submit_with_replies
from tests.conftest import FakeClock

Run = Callable[..., Result]


@pytest.fixture
def run(cli_env: dict[str, str]) -> Run:
    env = {**cli_env, "SUPPORTDESK_AUDIT_KEY": AUDIT_KEY_SETTING}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(audit_group, list(args), env=env, catch_exceptions=False)

    return invoke


def test_verify_exits_0_only_when_everything_verifies(
    run: Run, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 2)
    unsealed = run("verify")
    assert unsealed.exit_code == 1
    assert "the seal keeper has not run" in unsealed.stdout

    assert run("seal").stdout.strip() == "read 3 events"
    clean = run("verify")
    assert clean.exit_code == 0, clean.stdout
    assert "checked 1 tickets, 3 events" in clean.stdout
    assert ": intact" in clean.stdout

    with container.engine.begin() as connection:
        connection.execute(text("DELETE FROM supportdesk_events WHERE id = 3"))
    broken = run("verify")
    assert broken.exit_code == 1
    assert f"BROKEN    {reference} at position 3, version 3" in broken.stdout
    assert "newest events were removed" in broken.stdout
    as_json = json.loads(run("verify", "--json", "--reference", reference).stdout)
    assert as_json["intact"] is False
    assert as_json["tickets"][0]["first_bad"]["version"] == 3


def test_export_writes_json_lines_and_resumes_by_position(
    run: Run, container: Container, clock: FakeClock, tmp_path: Path
) -> None:
    for _ in range(3):
        submit_with_replies(container, clock, 1)
    whole = run("export")
    assert whole.exit_code == 0
    lines = [json.loads(line) for line in whole.stdout.splitlines()]
    assert [e["position"] for e in lines] == [1, 2, 3, 4, 5, 6]
    assert "exporting" in whole.stderr
    part = run("export", "--from", "3", "--to", "5")
    assert [json.loads(line)["position"] for line in part.stdout.splitlines()] == [3, 4, 5]
    target = tmp_path / "log.jsonl"
    assert run("export", "--from", "5", "--output", str(target)).stdout == ""
    assert [json.loads(line) for line in target.read_text().splitlines()] == lines[4:]


def test_history_prints_a_timeline_and_the_state_then(
    run: Run, container: Container, clock: FakeClock
) -> None:
    reference, _ = submit_with_replies(container, clock, 3)
    timeline = run("history", reference)
    assert timeline.exit_code == 0
    rows = [line for line in timeline.stdout.splitlines() if line.startswith("  v")]
    assert len(rows) == 4
    assert "2026-11-01 10:00:00" in rows[0] and "Submitted" in rows[0]
    assert "agent.sara" in rows[1] and "message=reply 1" in rows[1]

    then = run("history", reference, "--as-of", "2026-11-01T11:30")  # Riyadh time
    rows = [line for line in then.stdout.splitlines() if line.startswith("  v")]
    assert len(rows) == 2
    assert "(version 2)" in then.stdout
    assert "SLA breached then    no" in then.stdout

    missing = run("history", "CM-0000-0000")
    assert missing.exit_code == 1


def test_cli_looks_are_logged(run: Run, container: Container, clock: FakeClock) -> None:
    reference, _ = submit_with_replies(container, clock, 1)
    run("history", reference)
    listing = run("access-log").stdout.splitlines()
    assert "history" in listing[0] and reference in listing[0]
    assert listing[0].split()[1].startswith("cli:")
