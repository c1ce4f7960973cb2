"""The query API over HTTP (Flask's test client): roles, P7.3, pages, CSV, read-your-writes."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.categories import Category
from interfaces.web import queries as web_queries
from projections.queue import PERSONAL_FIELDS
from projections.runner import build_runners
from tests.builders import RIYADH, caught_up, submit
from tests.conftest import FakeClock

Headers = dict[str, str]


@pytest.fixture
def running(container: Container) -> Iterator[None]:
    """The query side's runners following the log, as the workers do."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=runner.run, args=(stop,))
        for runner in build_runners(container).values()
    ]
    for thread in threads:
        thread.start()
    yield
    stop.set()
    for thread in threads:
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/queue", {Role.AGENT, Role.SUPERVISOR, Role.ANALYST}),
        ("/api/v1/reports/sla", {Role.SUPERVISOR, Role.ANALYST}),
        ("/api/v1/suggestions", {Role.SUPERVISOR, Role.ANALYST}),
    ],
)
def test_each_query_is_open_to_its_roles_only(
    client: FlaskClient, bearer: Callable[[Role], Headers], path: str, allowed: set[Role]
) -> None:
    assert client.get(path).status_code == 401
    for role in Role:
        assert client.get(path, headers=bearer(role)).status_code == (
            200 if role in allowed else 403
        ), role


def test_analysts_see_the_queue_without_requesters_personal_data(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    reference = submit(container)
    caught_up(container)
    (for_agent,) = client.get("/api/v1/queue", headers=bearer(Role.AGENT)).json["items"]
    (for_analyst,) = client.get("/api/v1/queue", headers=bearer(Role.ANALYST)).json["items"]
    assert for_agent["reference"] == for_analyst["reference"] == reference
    assert for_agent["requester_email"] == "learner@example.org"
    assert set(PERSONAL_FIELDS) <= set(for_agent) and not set(PERSONAL_FIELDS) & set(for_analyst)
    assert {k: v for k, v in for_agent.items() if k not in PERSONAL_FIELDS} == for_analyst
    analyst_csv = client.get(
        "/api/v1/queue", headers={**bearer(Role.ANALYST), "Accept": "text/csv"}
    ).get_data(as_text=True)
    assert "learner@example.org" not in analyst_csv and "Noura" not in analyst_csv


def test_queue_item_states_its_deadlines_and_sla_as_of_now(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers], clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 5, 16, 30, tzinfo=RIYADH)  # a Thursday
    submit(container)
    caught_up(container)
    clock.now = datetime(2026, 11, 10, 10, 30, tzinfo=RIYADH)
    response = client.get("/api/v1/queue?sla=at_risk", headers=bearer(Role.AGENT))
    (item,) = response.json["items"]
    assert item["sla"] == "at_risk" and item["status"] == "new" and not item["escalated"]
    assert datetime.fromisoformat(item["next_due"]) == datetime(2026, 11, 10, 16, 30, tzinfo=RIYADH)
    assert datetime.fromisoformat(response.json["as_of"]) == clock.now
    assert response.headers["X-Read-Model-Position"] == "1"


def test_queue_is_paged_by_cursor_with_a_next_link(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers], clock: FakeClock
) -> None:
    references = []
    for _ in range(3):
        references.append(submit(container))
        clock.advance(hours=1)
    caught_up(container)
    headers = bearer(Role.SUPERVISOR)
    seen, url = [], "/api/v1/queue?per_page=2&category=login"
    while url:
        response = client.get(url, headers=headers)
        seen += [item["reference"] for item in response.json["items"]]
        link = response.headers.get("Link")
        url = link[1 : link.index(">")] if link else ""
        assert (link is None) == (response.json["next_cursor"] is None)
    assert seen == references


def test_queue_as_csv(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    reference = submit(container)
    caught_up(container)
    response = client.get("/api/v1/queue", headers={**bearer(Role.AGENT), "Accept": "text/csv"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    (row,) = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    assert (row["reference"], row["sla"], row["requester_email"]) == (
        reference,
        "on_track",
        "learner@example.org",
    )


@pytest.mark.parametrize(
    "query",
    ["sla=late", "status=resolved", "category=nonsense", "per_page=0", "cursor=xyz", "page=2"],
)
def test_queue_refuses_what_it_cannot_read(
    client: FlaskClient, bearer: Callable[[Role], Headers], query: str
) -> None:
    response = client.get(f"/api/v1/queue?{query}", headers=bearer(Role.AGENT))
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_after_a_command_the_query_waits_for_its_position(
    container: Container,
    client: FlaskClient,
    bearer: Callable[[Role], Headers],
    running: None,
) -> None:
    reference = submit(container)
    position = container.desk.respond(reference, message="On it", actor="sara").position
    response = client.get(f"/api/v1/queue?after={position}", headers=bearer(Role.AGENT))
    assert response.status_code == 200
    assert int(response.headers["X-Read-Model-Position"]) >= position
    (item,) = response.json["items"]
    assert (item["reference"], item["last_actor"], item["status"]) == (
        reference,
        "sara",
        "in_progress",
    )


def test_a_position_not_reached_in_time_is_503_with_retry_after(
    container: Container,
    client: FlaskClient,
    bearer: Callable[[Role], Headers],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web_queries, "READ_YOUR_WRITES_WAIT", 0.1)  # the test need not wait 2 s
    submit(container)
    response = client.get("/api/v1/suggestions?after=1", headers=bearer(Role.ANALYST))
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "1"
    assert "at log position 0, not yet at 1" in response.json["detail"]


def test_sla_report_by_group_with_a_total_as_json_and_csv(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers], clock: FakeClock
) -> None:
    clock.now = datetime(2026, 11, 1, 10, tzinfo=RIYADH)
    answered = submit(container, Category.LOGIN, "A")
    submit(container, Category.LOGIN, "B")
    clock.now = datetime(2026, 11, 1, 14, tzinfo=RIYADH)
    container.desk.respond(answered, message="Hello", actor="sara")
    clock.now = datetime(2026, 11, 5, 10, tzinfo=RIYADH)
    caught_up(container)
    headers = bearer(Role.ANALYST)
    body = client.get("/api/v1/reports/sla?group_by=course", headers=headers).json
    assert [(g["group"], g["tickets"]) for g in body["groups"]] == [("A", 1), ("B", 1)]
    assert body["groups"][0]["first_response"] == {
        "met": 1,
        "breached": 0,
        "pending": 0,
        "met_percent": 100.0,
        "median_hours": 4.0,
        "p90_hours": 4.0,
    }
    assert body["groups"][1]["breaches"] == 2  # no reply, no solution, both due Wed 10:00
    assert body["total"]["tickets"] == 2 and body["total"]["first_response"]["met_percent"] == 50
    assert "learner@example.org" not in str(body)

    later = client.get("/api/v1/reports/sla?from=2026-11-02&group_by=week", headers=headers)
    assert later.json["groups"] == [] and later.json["total"]["tickets"] == 0
    weekly = client.get(
        "/api/v1/reports/sla?from=2026-11-01T00:00:00%2B03:00&to=2026-11-02&group_by=week",
        headers={**headers, "Accept": "text/csv"},
    )
    rows = list(csv.reader(io.StringIO(weekly.get_data(as_text=True))))
    assert rows[0][:3] == ["scope", "week", "tickets"]
    assert [row[:3] for row in rows[1:]] == [["group", "2026-W44", "2"], ["total", "", "2"]]


def test_report_refuses_an_unknown_grouping(
    client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    response = client.get("/api/v1/reports/sla?group_by=email", headers=bearer(Role.ANALYST))
    assert response.status_code == 422


def test_suggestions_register_with_referrals(
    container: Container, client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    waiting = submit(container, Category.SUGGESTION)
    referred = submit(container, Category.SUGGESTION)
    submit(container, Category.LOGIN)
    container.desk.forward_to_management(
        referred, department="product", note="dark mode", actor="sara"
    )
    caught_up(container)
    headers = bearer(Role.SUPERVISOR)
    everything = client.get("/api/v1/suggestions", headers=headers).json["items"]
    assert {item["reference"] for item in everything} == {waiting, referred}
    (item,) = client.get("/api/v1/suggestions?forwarded=true", headers=headers).json["items"]
    assert (item["reference"], item["department"], item["note"], item["forwarded_by"]) == (
        referred,
        "product",
        "dark mode",
        "sara",
    )
    assert "requester_email" not in item


def test_openapi_documents_the_queries(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/queue", "/api/v1/reports/sla", "/api/v1/suggestions"} <= set(paths)
    for path in ("/api/v1/queue", "/api/v1/reports/sla"):
        answers = paths[path]["get"]["responses"]
        assert {"application/json", "text/csv"} <= set(answers["200"]["content"])
