"""`/metrics` answers Prometheus text: requests counted by method, route and status, and the
followers' lag read from the database."""

from __future__ import annotations

from flask import Flask

from interfaces.web.ratelimit import LIMIT_KEY
from tests.builders import Samples, scrape
from tests.reliability.traffic import request_body


def requests_counted(samples: Samples, route: str, status: str) -> float:
    labels = frozenset({("method", "POST"), ("route", route), ("status", status)})
    return samples.get(("supportdesk_http_requests_total", labels), 0.0)


def test_metrics_count_requests_by_route_and_status_and_show_the_lag(app: Flask) -> None:
    app.config[LIMIT_KEY] = "1000/minute"
    client = app.test_client()
    before = scrape(client)
    for number in range(3):
        assert (
            client.post("/api/v1/tickets", json=request_body(f"{number:032d}")).status_code == 201
        )
    assert client.post("/api/v1/tickets", json={}).status_code == 422

    after = scrape(client)
    route = "/api/v1/tickets"
    assert requests_counted(after, route, "201") - requests_counted(before, route, "201") == 3
    assert requests_counted(after, route, "422") - requests_counted(before, route, "422") == 1
    head = frozenset({("name", "events")})
    assert after[("supportdesk_log_head_position", head)] == 3
    lag = frozenset({("name", "queue")})
    assert after[("supportdesk_projection_lag_events", lag)] == 3  # no runner in this test
