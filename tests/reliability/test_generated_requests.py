"""A few thousand generated requests, valid and invalid, against the OpenAPI document on
PostgreSQL: never a server fault, never an answer the document does not describe.

Each protected operation is called with a token of a role it names (`x-roles`), so the
requests reach past authentication; valid requests act on real tickets, and the read models
follow the log, as in production.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from application.bootstrap import Container
from application.runtime.workers import WorkerPool
from application.users import Role
from domain.categories import Category
from interfaces.web import queries as web_queries
from projections.runner import build_runners
from tests.builders import submit, without_limits

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

EXAMPLES = {GenerationMode.POSITIVE: 110, GenerationMode.NEGATIVE: 60}

schemathesis.serializer.alias("message/rfc822", "text/plain")


@schemathesis.check
def no_server_fault(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, but for a 503 the operation documents (a read model not yet at `after`)."""
    status = response.status_code
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if status >= 500 and not (status == 503 and "503" in documented):
        raise AssertionError(f"{case.operation.label} answered {status}: {response.text[:300]}")
    if status == 503:
        assert response.headers.get("retry-after"), "a 503 says when to try again"
    return None


CHECKS = [
    no_server_fault,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def container(postgres_container: Container) -> Container:
    """The desk on PostgreSQL, as deployed; the thousands of requests are not repeated on SQLite."""
    return postgres_container


@pytest.fixture
def app(app: Flask, container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    without_limits(app)
    # A generated `after` far beyond the log is answered 503 after this wait; keep it short.
    monkeypatch.setattr(web_queries, "READ_YOUR_WRITES_WAIT", 0.05)
    runners = WorkerPool(build_runners(container))
    runners.start()
    yield app
    runners.stop()


def test_thousands_of_generated_requests_keep_to_the_document(
    app: Flask, postgres_container: Container
) -> None:
    real = {
        category: submit(postgres_container, category)
        for category in (Category.LOGIN, Category.SUGGESTION)
    }
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    api.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in api.get_all_operations()]
    tokens = {role: postgres_container.users.add(f"fuzz-{role.value}", role) for role in Role}

    sent: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for mode, examples in EXAMPLES.items():
        for operation in operations:
            roles = operation.definition.raw.get("x-roles")
            headers = {"Authorization": f"Bearer {tokens[Role(roles[0])]}"} if roles else {}
            ref = real[
                Category.SUGGESTION if operation.path.endswith("/forward") else Category.LOGIN
            ]

            try:
                send_generated(operation, mode, examples, headers, ref, sent, statuses)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing invalid to make

    assert sum(sent.values()) >= 2500, sent
    assert not [status for status in statuses if status >= 500 and status != 503], statuses
    print(f"\n{sum(sent.values())} generated requests {dict(sent)}: statuses {dict(statuses)}")


def send_generated(
    operation: Any,
    mode: GenerationMode,
    examples: int,
    headers: dict[str, str],
    ref: str,
    sent: Counter[str],
    statuses: Counter[int],
) -> None:
    """Send `examples` generated requests to one operation; valid ones act on ticket `ref`."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure is never a fluke
        suppress_health_check=list(HealthCheck),
    )
    def keeps_to_the_document(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and "ref" in (case.path_parameters or {}):
            case.path_parameters["ref"] = ref
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        sent[mode.value] += 1
        statuses[response.status_code] += 1

    keeps_to_the_document()
