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
from application.mail.notifications import Addresses
from application.mail.outbox import BrokerUnavailable, OutboxRelay
from domain.categories import Category
from domain.request import Channel
from interfaces.mail.broker import MailBroker
from tests.conftest import service_missing

pytestmark = pytest.mark.rabbitmq

RABBITMQ = ("127.0.0.1", 5672)
ADDRESSES = Addresses("support@captainmama.org", "info@captainmama.org", "info@captainmama.org")


class Proxy:
    """A TCP forwarder to RabbitMQ that the test can cut and restore on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones, as a broker restart does."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(RABBITMQ)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


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


def submit(container: Container, number: int) -> str:
    return container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=f"learner{number}@example.org",
        category=Category.LOGIN,
        course="Course",
        subject=f"Request {number}",
        description="Cannot sign in.",
    ).reference


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
    references = [submit(container, n) for n in range(3)]  # requests never wait for the broker

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
    before = [submit(container, n) for n in range(2)]
    assert relay.relay_once() == 2
    proxy.down()

    during = [submit(container, n) for n in range(2, 5)]
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
    references = [submit(container, n) for n in range(4)]
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
