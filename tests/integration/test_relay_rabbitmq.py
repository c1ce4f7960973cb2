"""The outbox relay against real RabbitMQ going away and coming back: no email is lost."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

from application.bootstrap import Container
from application.mail.outbox import BrokerUnavailable, OutboxRelay
from interfaces.mail.broker import MailBroker
from tests.builders import ADDRESSES, RABBITMQ, Proxy, submit
from tests.conftest import service_missing

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
def queue_name() -> Iterator[str]:
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
    except OSError as error:
        service_missing("RabbitMQ", error)
    name = f"supportdesk.test.{uuid.uuid4().hex[:12]}"
    yield name
    broker = MailBroker("amqp://guest:guest@127.0.0.1:5672//", name)
    with Connection(broker.url) as connection:
        broker.queue(connection.default_channel).delete()
        broker.exchange(connection.default_channel).delete()


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    built = Proxy()
    built.up()
    yield built
    built.down()


def broker_via(port: int, queue_name: str) -> MailBroker:
    return MailBroker(
        f"amqp://guest:guest@127.0.0.1:{port}//",
        queue_name,
        connect_timeout=1.0,
        connect_retries=1,
        confirm_timeout=2.0,
    )


def queued_references(queue_name: str) -> list[str]:
    bodies: list[dict[str, Any]] = []
    MailBroker("amqp://guest:guest@127.0.0.1:5672//", queue_name).drain(
        lambda body: bodies.append(dict(body))
    )
    return [b["reference"] for b in bodies]


def test_a_dead_broker_fails_the_relay_quickly_and_loses_nothing(
    container: Container, queue_name: str
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead_port = unused.getsockname()[1]
    dead = OutboxRelay(
        container.desk, container.engine, broker_via(dead_port, queue_name), ADDRESSES
    )
    references = [submit(container) for _ in range(3)]  # requests never wait for the broker

    with pytest.raises(BrokerUnavailable):
        dead.relay_once()
    assert dead.position() == 0

    back = OutboxRelay(container.desk, container.engine, broker_via(5672, queue_name), ADDRESSES)
    assert back.relay_once() == 3
    assert queued_references(queue_name) == references


def test_a_cut_connection_resumes_where_it_stopped(
    container: Container, queue_name: str, proxy: Proxy
) -> None:
    relay = OutboxRelay(
        container.desk, container.engine, broker_via(proxy.port, queue_name), ADDRESSES
    )
    before = [submit(container) for _ in range(2)]
    assert relay.relay_once() == 2
    proxy.down()

    during = [submit(container) for _ in range(3)]
    with pytest.raises(BrokerUnavailable):
        relay.relay_once()
    proxy.up()
    assert relay.relay_once() == 3
    assert queued_references(queue_name) == before + during


def test_the_running_relay_rides_out_an_outage(
    container: Container, queue_name: str, proxy: Proxy
) -> None:
    relay = OutboxRelay(
        container.desk,
        container.engine,
        broker_via(proxy.port, queue_name),
        ADDRESSES,
        poll_interval=0.05,
        max_backoff=0.2,
    )
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    proxy.down()
    worker.start()
    references = [submit(container) for _ in range(4)]
    proxy.up()
    final = container.desk.ticket(references[-1])
    deadline = time.monotonic() + 20
    while relay.position() < _position_of(container, final.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(10)

    assert not worker.is_alive()
    assert queued_references(queue_name) == references


def _position_of(container: Container, ticket_id: Any) -> int:
    notifications = container.desk.recorder.select_notifications(start=None, limit=1000)
    return max(n.id for n in notifications if n.originator_id == ticket_id)
