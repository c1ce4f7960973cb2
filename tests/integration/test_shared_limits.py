"""The public rate limit holds across web processes and machines when they count in Redis, and
never costs a request when Redis is away."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from application.bootstrap import Container, bootstrap
from interfaces.web import create_app
from tests.builders import API_REQUEST
from tests.conftest import FakeClock, make_settings, service_missing

REDIS = ("127.0.0.1", 6379)
LIMIT = "5/minute"


@pytest.fixture
def redis_url() -> str:
    try:
        socket.create_connection(REDIS, timeout=2).close()
    except OSError as error:
        service_missing("Redis", error)
    return f"redis://{REDIS[0]}:{REDIS[1]}/0"


@pytest.fixture
def machines(tmp_path: Path, clock: FakeClock) -> Iterator[list[Container]]:
    """Two desks on one database: two web processes, as on two machines."""
    settings = make_settings(f"sqlite:///{tmp_path}/supportdesk.db", tmp_path)
    built = [bootstrap(replace(settings, rate_limit=LIMIT), clock=clock) for _ in range(2)]
    yield built
    for container in built:
        container.close()


def clients(machines: list[Container], storage: str) -> list[FlaskClient]:
    """A web process on each machine, counting where `storage` says; one caller's address."""
    caller = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    made = []
    for container in machines:
        client = create_app(container=replace_storage(container, storage)).test_client()
        client.environ_base["REMOTE_ADDR"] = caller
        made.append(client)
    return made


def replace_storage(container: Container, storage: str) -> Container:
    return replace(container, settings=replace(container.settings, rate_limit_storage=storage))


def submit(client: FlaskClient) -> int:
    body = {**API_REQUEST, "description": f"{API_REQUEST['description']} {uuid.uuid4().hex}"}
    return client.post("/api/v1/tickets", json=body).status_code


def test_counted_in_redis_the_limit_holds_across_machines(
    machines: list[Container], redis_url: str
) -> None:
    first, second = clients(machines, redis_url)
    answers = [submit(first), submit(second), submit(first), submit(second), submit(first)]
    assert answers == [201] * 5
    assert submit(second) == 429  # the sixth in the minute, whichever machine takes it
    assert submit(first) == 429


def test_counted_in_memory_each_process_counts_alone(machines: list[Container]) -> None:
    """The embedded default: the check above could see the difference."""
    first, second = clients(machines, "memory://")
    answers = [submit(first), submit(second)] * 3
    assert answers == [201] * 6


def test_with_redis_away_requests_still_go_through_and_each_process_counts(
    machines: list[Container],
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    first, _ = clients(machines, f"redis://127.0.0.1:{closed}/0")
    answers = [submit(first) for _ in range(6)]
    assert answers == [201] * 5 + [429]  # never a 500: counted in memory meanwhile
