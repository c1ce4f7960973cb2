"""`supportdesk sla due` and `calendar holidays` agree with the day-by-day walk (P4, P5)."""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from interfaces.cli import cli
from tests.builders import ADDED, REMOVED, walk_add_in_riyadh

ENV = {
    "SUPPORTDESK_HOLIDAYS_ADD": ADDED.isoformat(),
    "SUPPORTDESK_HOLIDAYS_REMOVE": REMOVED.isoformat(),
}
FIRST = datetime(2026, 1, 1, tzinfo=UTC)
LAST = datetime(2027, 12, 20, tzinfo=UTC)


def test_sla_due_agrees_with_the_walk_on_thousands_of_random_instants() -> None:
    rng = random.Random(4)
    runner = CliRunner()
    span = (LAST - FIRST).total_seconds()
    for _ in range(2000):
        start = (FIRST + timedelta(seconds=rng.randrange(int(span)))).astimezone(
            rng.choice([UTC, ZoneInfo("Asia/Riyadh"), ZoneInfo("America/New_York")])
        )
        hours = rng.choice([1, 8, 24, 40, 0.5, rng.randrange(1, 200)])
        result = runner.invoke(
            cli, ["sla", "due", "--from", start.isoformat(), "--hours", str(hours)], env=ENV
        )
        assert result.exit_code == 0, result.output
        printed = datetime.fromisoformat(result.output.strip())
        assert printed == walk_add_in_riyadh(start, hours), (start, hours)
        assert printed.utcoffset() == timedelta(hours=3)  # printed in the calendar's offset


def test_sla_due_reads_an_instant_without_offset_in_the_calendars_zone() -> None:
    result = CliRunner().invoke(cli, ["sla", "due", "--from", "2026-11-05T16:30", "--hours", "24"])
    assert result.output.strip() == "2026-11-10T16:30:00+03:00"


def test_calendar_holidays_lists_the_holidays_in_effect_with_overrides() -> None:
    result = CliRunner().invoke(cli, ["calendar", "holidays", "--year", "2026"], env=ENV)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "2026-09-23  National Day Holiday" in lines
    assert any(line.startswith(ADDED.isoformat()) for line in lines)
    removed = CliRunner().invoke(cli, ["calendar", "holidays", "--year", "2027"], env=ENV)
    assert REMOVED.isoformat() not in removed.output


@pytest.mark.parametrize(
    "arguments",
    [
        ["sla", "due", "--from", "yesterday", "--hours", "8"],
        ["sla", "due", "--from", "2026-11-05T10:00+03:00", "--hours", "-1"],
        ["sla", "due", "--hours", "8"],
        ["calendar", "holidays", "--year", "twenty"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_give_one_line_and_exit_status_2(arguments: list[str]) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", "from interfaces.cli import main; main()", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1
    assert completed.stderr.startswith("supportdesk: error:")
