"""The mail queue on the message broker, through kombu: RabbitMQ (`amqp://`) or in-process `memory://`.

Publishing waits for the broker's confirms and marks messages persistent; consuming acknowledges
a message only after the handler returned. Every connection attempt is bounded, so a broker that
is away makes a call fail quickly instead of hanging it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from kombu.message import Message

from application.mail.notifications import OutgoingEmail
from application.mail.outbox import BrokerUnavailable

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "supportdesk.mail"

Handler = Callable[[Mapping[str, Any]], object]
"""Handles one message body; raising leaves the message on the queue for another try."""


class MailBroker:
    """Publishes emails to, and consumes them from, one durable queue."""

    def __init__(
        self,
        url: str,
        queue: str = DEFAULT_QUEUE,
        *,
        connect_timeout: float = 3.0,
        connect_retries: int = 2,
        confirm_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.exchange = Exchange(queue, type="direct", durable=True)
        self.queue = Queue(queue, self.exchange, routing_key=queue, durable=True)
        self.connect_timeout = connect_timeout
        self.connect_retries = connect_retries
        self.confirm_timeout = confirm_timeout
        probe = self._connection()  # no network: it only names the transport's error types
        self._errors: tuple[type[BaseException], ...] = (
            *probe.recoverable_connection_errors,
            *probe.connection_errors,
            *probe.channel_errors,
            OSError,
        )

    @property
    def durable(self) -> bool:
        """An in-process broker forgets its queue when the process stops."""
        return not self.url.startswith("memory:")

    def _connection(self) -> Connection:
        return Connection(
            self.url,
            connect_timeout=self.connect_timeout,
            transport_options={
                "confirm_publish": True,
                # A broker that accepted the socket but stopped answering must not block us.
                "read_timeout": self.confirm_timeout,
                "write_timeout": self.confirm_timeout,
                "polling_interval": 0.1,  # the in-process broker is polled; ten times a second
            },
        )

    def _connected(self, connection: Connection) -> Connection:
        try:
            connected: Connection = connection.ensure_connection(
                max_retries=self.connect_retries,
                interval_start=0.2,
                interval_step=0.5,
                interval_max=1.0,
                timeout=self.connect_timeout,
            )
        except Exception as error:
            raise BrokerUnavailable(f"{connection.as_uri()}: {error}") from error
        return connected

    def publish(self, emails: Sequence[OutgoingEmail]) -> None:
        """Publish each email persistently, named by its stable id; wait for the confirms."""
        with self._connection() as connection:
            self._connected(connection)
            try:
                producer = connection.Producer(serializer="json")
                for email in emails:
                    producer.publish(
                        email.to_payload(),
                        exchange=self.exchange,
                        routing_key=self.queue.routing_key,
                        declare=[self.queue],
                        delivery_mode=2,
                        message_id=email.message_id,
                        confirm_timeout=self.confirm_timeout,
                        timeout=self.confirm_timeout,
                    )
            except self._errors as error:
                raise BrokerUnavailable(f"publishing failed: {error!r}") from error

    def drain(self, handle: Handler) -> int:
        """Handle every message waiting now, one at a time; returns how many were handled."""
        handled = 0
        with self._connection() as connection:
            self._connected(connection)
            queue = self.queue(connection.default_channel)
            queue.declare()
            while (message := queue.get(no_ack=False, accept=["json"])) is not None:
                if not _deliver(handle, message):
                    raise HandlingFailed(message.properties.get("message_id"))
                handled += 1
        return handled

    def consume(self, handle: Handler, stop: threading.Event, max_backoff: float = 30.0) -> None:
        """Handle messages as they arrive until `stop` is set; reconnect when the broker is away."""
        backoff = 0.5
        failed = threading.Event()

        def on_message(body: object, message: Message) -> None:
            if not _deliver(handle, message):
                failed.set()

        while not stop.is_set():
            try:
                with self._connection() as connection:
                    self._connected(connection)
                    with connection.Consumer(
                        self.queue, callbacks=[on_message], accept=["json"], prefetch_count=1
                    ):
                        while not stop.is_set():
                            try:
                                connection.drain_events(timeout=0.5)
                            except TimeoutError:
                                continue  # nothing arrived; look at `stop` again
                            if failed.is_set():
                                # The database or the mail server is away: pause rather than
                                # spin on the message that was just put back.
                                failed.clear()
                                stop.wait(backoff)
                                backoff = min(backoff * 2, max_backoff)
                            else:
                                backoff = 0.5
                continue
            except BrokerUnavailable as error:
                log.warning("mailer: broker unavailable (%s); retrying in %.1f s", error, backoff)
            except self._errors as error:
                log.warning("mailer: connection lost (%r); reconnecting in %.1f s", error, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, max_backoff)


class HandlingFailed(Exception):
    """A message could not be handled now; it was put back on the queue."""


def _deliver(handle: Handler, message: Message) -> bool:
    """Handle one message; acknowledge it only after the handler returned."""
    try:
        handle(message.decode())
    except Exception:
        # Back on the queue for another try; with RabbitMQ an unacknowledged message also
        # returns to the queue if this process dies before reaching this line.
        log.exception(
            "mailer: message %s not handled; requeued", message.properties.get("message_id")
        )
        message.requeue()
        return False
    message.ack()
    return True
