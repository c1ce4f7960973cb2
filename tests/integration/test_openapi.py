"""The generated OpenAPI document, its browsable page, and the API checked against it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
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
from projections.runner import build_runners
from tests.builders import submit, without_limits

PUBLIC = {
    ("post", "/api/v1/tickets"),
    ("post", "/api/v1/status"),
    ("post", "/api/v1/tickets/{ref}/follow-up"),
}
FOR_HANDLERS = {("get", "/api/v1/tickets/{ref}")} | {
    ("post", f"/api/v1/tickets/{{ref}}/{command}")
    for command in (
        "respond",
        "classify",
        "extend",
        "escalate",
        "forward",
        "resolve",
        "reopen",
        "take",
        "release",
        "assign",
        "notes",
    )
}
TEMPLATES = {
    ("get", "/api/v1/templates"): ["agent", "supervisor"],
    ("get", "/api/v1/templates/{slug}"): ["agent", "supervisor"],
    ("get", "/api/v1/tickets/{ref}/preview"): ["agent", "supervisor"],
    ("get", "/api/v1/templates/{slug}/history"): ["auditor", "supervisor"],
    ("post", "/api/v1/templates"): ["supervisor"],
    ("put", "/api/v1/templates/{slug}"): ["supervisor"],
    ("post", "/api/v1/templates/{slug}/retire"): ["supervisor"],
}


@pytest.fixture
def container(sqlite_container: Container) -> Container:
    """The desk on SQLite: the document and the API's answers do not depend on the database."""
    return sqlite_container


@pytest.fixture
def app(app: Flask, container: Container) -> Iterator[Flask]:
    # The read models follow the log as in production, so `?after=` waits end in time.
    runners = WorkerPool(build_runners(container))
    runners.start()
    yield app
    runners.stop()


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    return dict(document["paths"][path][method])


def test_document_has_every_operation_of_the_contract(document: dict[str, Any]) -> None:
    present = {(m, p) for p, ops in document["paths"].items() for m in ops if m != "parameters"}
    assert PUBLIC | FOR_HANDLERS | set(TEMPLATES) <= present


def test_protected_operations_require_a_bearer_token_and_name_their_roles(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path in FOR_HANDLERS:
        op = operation(document, method, path)
        assert op["security"] == [{"bearer": []}], path
        assert op["x-roles"] == ["agent", "supervisor"]
        assert {"401", "403", "404"} <= set(map(str, op["responses"]))
    for (method, path), roles in TEMPLATES.items():
        op = operation(document, method, path)
        assert (op["security"], op["x-roles"]) == ([{"bearer": []}], roles), path
    for method, path in PUBLIC:
        assert "security" not in operation(document, method, path), path


def test_errors_are_documented_as_problem_documents(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    for name in ("DEFAULT_ERROR", "NOT_FOUND", "UNPROCESSABLE_ENTITY", "TOO_MANY_REQUESTS"):
        assert set(responses[name]["content"]) == {"application/problem+json"}
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])


def test_request_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    for name in (
        "Submission",
        "StatusQuery",
        "FollowUp",
        "Respond",
        "Extend",
        "Resolve",
        "Assign",
        "Note",
        "NewTemplate",
        "TemplateText",
        "Retire",
    ):
        assert document["components"]["schemas"][name]["additionalProperties"] is False


def test_commands_document_if_match_and_etag(document: dict[str, Any]) -> None:
    op = operation(document, "post", "/api/v1/tickets/{ref}/resolve")
    assert {"name": "If-Match", "in": "header"}.items() <= op["parameters"][0].items()
    assert "ETag" in op["responses"]["200"]["headers"]
    assert "412" in op["responses"]


def test_submit_documents_the_idempotency_key(document: dict[str, Any]) -> None:
    op = operation(document, "post", "/api/v1/tickets")
    assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])


def test_browsable_reference_is_served_without_a_cdn(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/api/docs")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "/api/v1/openapi.json" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(url.startswith("/") and not url.startswith("//") for url in assets)
    for url in assets:
        with client.get(url) as asset:
            assert asset.status_code == 200, url


# ---- the API against its own document ----------------------------------------------------------


# Raw email goes on the wire as the generated text; schemathesis knows no rfc822 encoder.
schemathesis.serializer.alias("message/rfc822", "text/plain")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.mark.parametrize(
    ("mode", "examples"), [(GenerationMode.POSITIVE, 20), (GenerationMode.NEGATIVE, 12)]
)
def test_api_keeps_to_its_document(
    app: Flask, sqlite_container: Container, mode: GenerationMode, examples: int
) -> None:
    """Generated requests, valid and invalid, never get a 500 nor an undocumented answer.

    Each protected operation is called with a token of the first role it names (`x-roles`),
    so the checks reach past authentication.
    """
    # Valid requests act on real tickets (one a suggestion, so it may be forwarded); a random
    # reference would only ever meet 404.
    real = [
        submit(sqlite_container, category) for category in (Category.LOGIN, Category.SUGGESTION)
    ]
    without_limits(app)  # the checker sends many requests from one client
    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    # The token is supplied by the test, so generated cases must not mutate it away.
    api.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= len(PUBLIC | FOR_HANDLERS)

    tokens = {role: sqlite_container.users.add(f"checker-{role.value}", role) for role in Role}
    checked = 0
    for operation in operations:
        roles = operation.definition.raw.get("x-roles")
        headers = {"Authorization": f"Bearer {tokens[Role(roles[0])]}"} if roles else {}
        ref = real[operation.path.endswith("/forward")]
        try:
            check_operation(operation, mode, examples, headers, ref)
        except Unsatisfiable:
            # Only the negative mode can meet this: an operation whose every input accepts any
            # value (a free-text path segment, say) has no invalid request to generate.
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        checked += 1
    assert checked >= len(operations) * 3 // 4, (checked, len(operations))


def check_operation(
    operation: Any, mode: GenerationMode, examples: int, headers: dict[str, str], ref: str
) -> None:
    """Send `examples` generated requests to one operation, acting on ticket `ref`."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a failure is never a fluke
        suppress_health_check=list(HealthCheck),
    )
    def keeps_to_its_document(case: Any) -> None:
        if mode is GenerationMode.POSITIVE and "ref" in (case.path_parameters or {}):
            case.path_parameters["ref"] = ref
        case.call_and_validate(headers=headers, checks=CHECKS)

    keeps_to_its_document()
