"""What operators see of an event set aside (`/metrics`, `projections status`, `quarantine`),
and of an instant beyond the business calendar's years (`sla due`)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result
from flask import Flask

from application.bootstrap import Container
from interfaces.cli import main
from interfaces.cli.projections import projections_group
from projections.runner import build_runners
from tests.builders import attacked_log, scrape
from tests.conftest import FakeClock


def set_aside(container: Container, clock: FakeClock) -> int:
    """The attacked log, followed by every read model: the queue sets one event aside."""
    _, bad = attacked_log(container, clock)
    runners = build_runners(container)
    for _ in range(container.settings.projection_max_attempts - 1):
        with pytest.raises(ValueError):
            runners["queue"].catch_up()
    for runner in runners.values():
        runner.catch_up()
    return bad


def test_metrics_show_the_events_each_read_model_set_aside(
    container: Container, clock: FakeClock, app: Flask
) -> None:
    set_aside(container, clock)
    samples = scrape(app.test_client())
    gauge = "supportdesk_projection_quarantined_events"
    assert samples[(gauge, frozenset({("name", "queue")}))] == 1
    assert samples[(gauge, frozenset({("name", "sla")}))] == 0


def test_quarantine_lists_the_events_and_retry_rebuilds_their_read_models(
    container: Container, clock: FakeClock, cli_env: dict[str, str]
) -> None:
    bad = set_aside(container, clock)

    def invoke(*args: str) -> Result:
        result = CliRunner().invoke(projections_group, list(args), env=cli_env)
        assert result.exit_code == 0, result.output
        return result

    lines = dict(line.split(maxsplit=1) for line in invoke("status").output.splitlines())
    assert "set aside 1" in lines["queue"] and "set aside" not in lines["sla"]

    listed = invoke("quarantine").output
    assert f"queue        position {bad:>10}  set aside after 5 attempts" in listed
    assert "ValueError: 9999-12-31T00:00:00+00:00 is outside" in listed

    retried = invoke("quarantine", "--retry").output
    assert "queue: " in retried and "sla: " not in retried
    assert "set aside after 6 attempts" in retried  # tried again, and still failing


def test_quarantine_says_when_no_event_failed(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(projections_group, ["quarantine"], env=cli_env)
    assert (result.exit_code, result.output) == (0, "no event failed\n")


@pytest.mark.parametrize(
    ("start", "hours"), [("9999-12-31T00:00:00+03:00", "8"), ("2026-11-05T10:00+03:00", "1e9")]
)
def test_sla_due_beyond_the_calendars_years_is_a_bad_argument(
    start: str, hours: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["sla", "due", "--from", start, "--hours", hours])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("supportdesk: error: ") and error.count("\n") == 1
