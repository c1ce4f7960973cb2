"""Shared fixtures: a controllable clock, and the desk on SQLite or on the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from application.bootstrap import Container, bootstrap
from application.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_ADMIN_DSN = os.environ.get(
    "SUPPORTDESK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def service_missing(what: str, error: Exception) -> None:
    """Skip with the reason locally; under CI a missing service is a failure."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    # A Sunday, 10:00 in Riyadh: inside business hours.
    return FakeClock(datetime(2026, 11, 1, 7, 0, tzinfo=UTC))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server for this test run; its admin DSN."""
    try:
        import psycopg2

        admin = psycopg2.connect(POSTGRES_ADMIN_DSN, connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure to connect means "no server"
        service_missing("PostgreSQL", error)
        raise
    admin.autocommit = True
    name = f"supportdesk_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    dsn = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    yield dsn
    with admin.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The test database, emptied: every table of an earlier test is dropped."""
    import psycopg2

    with psycopg2.connect(postgres_server) as connection, connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return postgres_server.replace("postgresql://", "postgresql+psycopg2://", 1)


def make_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=data_dir, smtp_url=f"file:{data_dir}/outbox"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def container(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Container]:
    """The whole desk, built by the composition root, on each supported database."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/supportdesk.db"
    built = bootstrap(make_settings(url, tmp_path), clock=clock)
    yield built
    built.close()


@pytest.fixture
def sqlite_container(tmp_path: Path, clock: FakeClock) -> Iterator[Container]:
    built = bootstrap(make_settings(f"sqlite:///{tmp_path}/supportdesk.db", tmp_path), clock=clock)
    yield built
    built.close()


@pytest.fixture
def postgres_container(postgres_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Container]:
    built = bootstrap(make_settings(postgres_url, tmp_path), clock=clock)
    yield built
    built.close()
