"""The outbox relay on the in-process broker: positions, restarts, events that send nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from kombu import Connection

from application.bootstrap import Container
from application.mail.mailer import Mailer
from application.mail.notifications import OutgoingEmail
from application.mail.outbox import OutboxRelay, StartUnknown, pending_table, positions_table
from interfaces.cli.worker import worker
from interfaces.mail.broker import MailBroker
from interfaces.mail.render import MailRenderer
from interfaces.mail.senders import FileSender
from tests.builders import ADDRESSES, submit


@pytest.fixture
def broker() -> Iterator[MailBroker]:
    built = MailBroker("memory://", f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    yield built
    with Connection("memory://") as connection:
        built.queue(connection.default_channel).delete()


def queued(broker: MailBroker) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    broker.drain(lambda body: bodies.append(dict(body)))
    return bodies


def test_relay_stores_its_position_and_resumes_after_it(
    container: Container, broker: MailBroker
) -> None:
    first = submit(container)
    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)
    assert relay.relay_once() == 1
    position = relay.position()
    assert position > 0

    second = submit(container)
    again = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)  # a new process
    assert again.position() == position
    assert again.relay_once() == 1
    assert again.relay_once() == 0
    # The in-process broker forgets on restart, so the unsent first receipt goes out again too.
    assert [b["reference"] for b in queued(broker)] == [first, first, second]


def test_events_that_send_no_email_still_move_the_position(
    container: Container, broker: MailBroker
) -> None:
    reference = submit(container)
    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)
    relay.relay_once()
    queued(broker)
    outcome = container.desk.acknowledge(reference, message_id="<r@x>", actor="system:mailer")

    assert relay.relay_once() == 0
    assert relay.position() == outcome.position
    assert queued(broker) == []


def test_relay_publishes_a_stable_message_id_per_email(
    container: Container, broker: MailBroker
) -> None:
    reference = submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    [body] = queued(broker)
    email = OutgoingEmail.from_payload(body)
    assert email.message_id == f"receipt.1.{reference}"
    assert email.to == "learner@example.org"


def test_emails_lost_with_an_in_process_broker_are_published_again_at_start(
    container: Container, broker: MailBroker, tmp_path: Any
) -> None:
    reference = submit(container)
    OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    queued(broker)  # the process stops: its in-memory queue is gone, nothing was sent

    restarted = OutboxRelay(container.desk, container.engine, broker, ADDRESSES)
    assert restarted.relay_once() == 0  # nothing new in the log...
    mailer = Mailer(
        container.desk,
        container.engine,
        broker,
        MailRenderer(ADDRESSES),
        FileSender(tmp_path / "outbox"),
    )
    assert mailer.drain() == 1  # ...but the unsent receipt was published again
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == [
        f"receipt.1.{reference}@captainmama.org.eml"
    ]
    with container.engine.connect() as connection:
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(pending_table)).scalar() == 0
        )
    assert container.desk.ticket(reference).acknowledgement_message_id is not None


# ---- where a relay without a stored position begins -------------------------------------------


def lost_position(container: Container) -> None:
    """The relay's bookkeeping row is gone (a lost row, or new tables on an old database)."""
    with container.engine.begin() as connection:
        connection.execute(positions_table.delete())


def test_a_new_installation_relays_from_the_beginning(
    container: Container, broker: MailBroker
) -> None:
    references = [submit(container), submit(container)]  # the row was stored at start-up
    assert OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once() == 2
    assert [b["reference"] for b in queued(broker)] == references


def test_a_relay_without_a_position_on_a_log_with_events_refuses_until_told_where_to_begin(
    container: Container, broker: MailBroker, cli_env: dict[str, str]
) -> None:
    old = [submit(container), submit(container)]
    lost_position(container)

    with pytest.raises(StartUnknown, match="--from now"):
        OutboxRelay(container.desk, container.engine, broker, ADDRESSES).relay_once()
    refused = CliRunner().invoke(worker, ["--only", "relay"], env=cli_env)
    assert refused.exit_code == 2 and "--from now" in refused.output
    for wrong in ("yesterday", "999999"):
        answer = CliRunner().invoke(worker, ["--only", "relay", "--from", wrong], env=cli_env)
        assert answer.exit_code == 2 and "--from" in answer.output, answer.output
    assert queued(broker) == []  # nobody was mailed about last year's tickets

    now = OutboxRelay(container.desk, container.engine, broker, ADDRESSES, start="now")
    assert now.relay_once() == 0
    new = submit(container)
    assert now.relay_once() == 1
    assert [b["reference"] for b in queued(broker)] == [new]
    assert old[0] != new


def test_a_relay_told_a_position_mails_the_events_after_it(
    container: Container, broker: MailBroker
) -> None:
    first = submit(container)
    after_first = container.desk.recorder.max_notification_id() or 0
    second = submit(container)
    lost_position(container)

    relay = OutboxRelay(container.desk, container.engine, broker, ADDRESSES, start=after_first)
    assert relay.relay_once() == 1
    assert [b["reference"] for b in queued(broker)] == [second]
    # A stored position wins over a starting point given again later.
    again = OutboxRelay(container.desk, container.engine, broker, ADDRESSES, start=0)
    assert again.relay_once() == 0 and first != second
