"""The access log keeps every look at the record and refuses to be rewritten (P7.1)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from application.audit.access import AccessLog
from application.bootstrap import Container
from tests.conftest import FakeClock


def test_accesses_are_listed_oldest_first_and_filtered(
    container: Container, clock: FakeClock
) -> None:
    log = AccessLog(container.engine, clock, container.audit_key)
    first = log.record(actor="ada", role="auditor", action="history", reference="CM-7K3F-Q2XD")
    clock.advance(minutes=5)
    log.record(actor="sam", role="supervisor", action="verify", query="reference=")
    log.record(actor="ada", role="auditor", action="events", query="after=0")

    entries = log.entries()
    assert [(e.actor, e.action) for e in entries] == [
        ("ada", "history"),
        ("sam", "verify"),
        ("ada", "events"),
    ]
    assert entries[0].id == first
    assert entries[0].at == clock.now.replace(minute=0)
    assert entries[1].at == clock.now
    assert [e.action for e in log.entries(actor="ada")] == ["history", "events"]
    assert [e.actor for e in log.entries(reference="CM-7K3F-Q2XD")] == ["ada"]
    assert [e.action for e in log.entries(after=first, limit=1)] == ["verify"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE supportdesk_audit_access SET actor = 'nobody'",
        "DELETE FROM supportdesk_audit_access",
    ],
)
def test_the_database_refuses_to_change_or_remove_accesses(
    container: Container, clock: FakeClock, statement: str
) -> None:
    log = AccessLog(container.engine, clock, container.audit_key)
    log.record(actor="ada", role="auditor", action="history")
    with pytest.raises(DBAPIError, match="append-only"), container.engine.begin() as connection:
        connection.execute(text(statement))
    assert [e.actor for e in log.entries()] == ["ada"]


@pytest.mark.postgres
def test_postgres_refuses_truncate(postgres_container: Container, clock: FakeClock) -> None:
    log = AccessLog(postgres_container.engine, clock, postgres_container.audit_key)
    log.record(actor="ada", role="auditor", action="history")
    with (
        pytest.raises(DBAPIError, match="append-only"),
        postgres_container.engine.begin() as connection,
    ):
        connection.execute(text("TRUNCATE supportdesk_audit_access"))
    assert len(log.entries()) == 1


def test_a_second_log_on_the_same_database_shares_the_table(
    container: Container, clock: FakeClock
) -> None:
    AccessLog(container.engine, clock, container.audit_key).record(
        actor="ada", role="auditor", action="verify"
    )
    assert [e.actor for e in AccessLog(container.engine, clock, container.audit_key).entries()] == [
        "ada"
    ]
