"""`supportdesk demo` records sample tickets that the desk can read back."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from application.bootstrap import bootstrap
from application.settings import Settings
from domain.status import Status
from interfaces.cli import cli


def test_demo_loads_tickets_in_several_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"sqlite:///{tmp_path}/demo.db")
    monkeypatch.setenv("SUPPORTDESK_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    references = result.output.split()
    assert len(references) == 8
    container = bootstrap(Settings.from_env())
    try:
        states = {container.desk.ticket(r).status for r in references}
    finally:
        container.close()
    assert {Status.NEW, Status.IN_PROGRESS, Status.RESOLVED, Status.FORWARDED} <= states
