"""The desk console's pages on PostgreSQL with a million tickets: server time per page.

Each page is asked through the Flask app in this process, as gunicorn's worker would serve it
(the session looked up, the read models queried, the page rendered), so the time is the
server's own, without a network or a browser. The queue table holds a million tickets filled
directly, as in the projections benchmark; the ticket shown is a real one, with 200 messages in
its conversation. The reference, in the same run, is the same queue read through the JSON API.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy as sa
from flask.testing import FlaskClient

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from application.users import Role
from bench.measure import Figure, scratch_postgres, sqlalchemy_url
from bench.projections_bench import NOW, _fill, _queue_rows
from domain.categories import Category
from domain.request import Channel
from interfaces.web import create_app
from projections.queue import queue_table
from projections.runner import build_runners

PASSWORD = "benchmark password"


def _percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _timed(call: Callable[[], object], repeats: int) -> list[float]:
    call()  # warm: templates compiled, statements cached
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def _long_ticket(container: Container, messages: int) -> str:
    desk = container.desk
    outcome = desk.submit(
        channel=Channel.WEB_FORM,
        requester_email="learner@example.org",
        category=Category.CONTENT_LOADING,
        course="البرمجة للمبتدئين",
        subject="الدرس لا يعمل",
        description="تظهر شاشة بيضاء عند فتح الدرس الثالث.",
        language="ar",
    )
    reference = outcome.reference
    desk.assign(reference, assignee="sara", actor="sara")
    for n in range(messages - 2):
        if n % 3 == 0:
            desk.receive_follow_up(reference, message=f"ما زالت المشكلة {n}", channel=Channel.EMAIL)
        elif n % 3 == 1:
            desk.respond(reference, message=f"جرّبي متصفحاً آخر {n}", actor="sara")
        else:
            desk.add_note(reference, text=f"ملاحظة داخلية {n}", actor="sara")
    return reference


def _signed_in(container: Container, client: FlaskClient) -> None:
    page = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token is not None
    answer = client.post(
        "/desk/login", data={"token": token.group(1), "name": "sara", "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.status_code


def run(tiny: bool = False) -> dict[str, list[float]]:
    """Server ms of each page and of the JSON queue, `repeats` times each."""
    tickets = 5_000 if tiny else 1_000_000
    repeats = 5 if tiny else 40
    with scratch_postgres("console_bench") as dsn, TemporaryDirectory() as folder:
        settings = Settings(
            database_url=sqlalchemy_url(dsn),
            data_dir=Path(folder),
            smtp_url=f"file:{folder}/outbox",
        )
        container = bootstrap(settings, clock=lambda: NOW)
        try:
            return _measure(container, tickets, repeats)
        finally:
            container.close()


def _measure(container: Container, tickets: int, repeats: int) -> dict[str, list[float]]:
    container.users.add("sara", Role.AGENT)
    token = container.users.add("sara", Role.AGENT)
    container.signin.set_password("sara", PASSWORD)
    reference = _long_ticket(container, 200)
    for runner in build_runners(container).values():
        runner.catch_up()
    _fill(container.engine, queue_table, _queue_rows(tickets))
    with container.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(sa.text("VACUUM ANALYZE queue_tickets"))
    app = create_app(container=container)
    client = app.test_client()
    _signed_in(container, client)
    api = {"Authorization": f"Bearer {token}"}

    def get(url: str, headers: dict[str, str] | None = None) -> Callable[[], object]:
        def call() -> object:
            answer = client.get(url, headers=headers)
            assert answer.status_code == 200, (url, answer.status_code)
            return answer.get_data()

        return call

    return {
        "api_queue_first_page": _timed(get("/api/v1/queue?per_page=25", api), repeats),
        "page_queue_all_open": _timed(get("/desk/?tab=all"), repeats),
        "page_queue_mine": _timed(get("/desk/?tab=mine"), repeats),
        "page_queue_unassigned": _timed(get("/desk/?tab=unassigned"), repeats),
        "page_queue_at_risk": _timed(get("/desk/?tab=at_risk"), repeats),
        "page_queue_breached": _timed(get("/desk/?tab=breached"), repeats),
        "page_ticket_200_messages": _timed(get(f"/desk/tickets/{reference}"), repeats),
    }


def figures(tiny: bool) -> list[Figure]:
    """The console's pages beside the JSON queue of the same data (p50 and p95, ms)."""
    found = run(tiny)
    reference = Figure("API queue, first page (reference)", "ms", found.pop("api_queue_first_page"))
    size = "5,000" if tiny else "1,000,000"
    result = [reference]
    for name, samples in found.items():
        label = name.removeprefix("page_").replace("_", " ")
        p95 = _percentile(samples, 0.95)
        result.append(
            Figure(
                f"console {label} ({size} tickets)",
                "ms",
                samples,
                reference,
                "p95 ≤ 50 ms",
                extra={"p95": p95, "p50": statistics.median(samples)},
            )
        )
        result.append(Figure(f"console {label}, p95", "ms", [p95], target="≤ 50 ms"))
    return result
