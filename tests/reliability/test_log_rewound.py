"""Deleting the newest events by SQL raises an alarm instead of a silent negative lag."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from application.bootstrap import Container
from projections.runner import build_runners
from tests.builders import scrape
from tests.reliability.traffic import request_body


def test_a_log_whose_newest_events_were_deleted_sets_off_the_alarm(
    client: FlaskClient, container: Container
) -> None:
    for number in range(3):
        assert (
            client.post("/api/v1/tickets", json=request_body(f"{number:032d}")).status_code == 201
        )
    build_runners(container)["queue"].catch_up()
    queue = frozenset({("name", "queue")})
    assert scrape(client)[("supportdesk_log_rewound", queue)] == 0

    events = container.desk.recorder.events_record_cls.__table__  # type: ignore[attr-defined]
    with container.engine.begin() as connection:
        connection.execute(sa.delete(events).where(events.c.id > 1))

    assert scrape(client)[("supportdesk_log_rewound", queue)] == 1
