"""The `supportdesk` entry point passes commands' exit codes to the shell."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from application.bootstrap import bootstrap
from application.settings import Settings
from interfaces.cli import main
from tests.builders import submit


def test_audit_verify_exits_1_through_the_entry_point_when_the_record_was_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "desk.db"
    monkeypatch.setenv("SUPPORTDESK_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("SUPPORTDESK_DATA_DIR", str(tmp_path))
    container = bootstrap(Settings.from_env())
    reference = submit(container)
    container.desk.respond(reference, message="Try the reset link.", actor="agent.sara")
    container.close()

    main(["audit", "seal"])
    main(["audit", "verify"])  # intact: returns, exit status 0

    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM supportdesk_events WHERE id = 2")
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify"])
    assert exited.value.code == 1
