"""Shared fixtures: a controllable clock, the desk on SQLite or on the real PostgreSQL, and its
web app, SMTP listener and command-line environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from application.users import Role
from interfaces.mail.listener import mail_listener
from interfaces.web import create_app

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


@pytest.fixture
def app(container: Container) -> Flask:
    """The web app around the desk."""
    return create_app(container=container)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def bearer(container: Container) -> Callable[[Role], dict[str, str]]:
    """Authorization headers for a new user of a role; the user is named after the role."""

    def headers(role: Role) -> dict[str, str]:
        token = container.users.add(f"{role.value}-1", role)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def smtp_port(container: Container) -> Iterator[int]:
    """The desk's SMTP listener on a free port."""
    listener = mail_listener(container.intake, "127.0.0.1", 0)
    listener.start()
    yield listener.port
    listener.stop()


@pytest.fixture
def cli_env(container: Container, tmp_path: Path) -> dict[str, str]:
    """The environment that points a command at the desk's database, folder and outbox."""
    settings = container.settings
    return {
        "SUPPORTDESK_DATABASE_URL": settings.database_url,
        "SUPPORTDESK_DATA_DIR": str(tmp_path),
        "SUPPORTDESK_SMTP_URL": settings.smtp_url,
    }
