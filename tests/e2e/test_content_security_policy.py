"""The pages and the API reference work in a real browser under their content security policies,
which the browser enforces: nothing they need is refused, and nothing is loaded from elsewhere."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Server


def watched_page(chromium: Any, server: Server) -> tuple[Any, list[str], list[str]]:
    """A new page; the policy violations it meets, and the hosts it asks anything of."""
    page = chromium.new_page()
    violations: list[str] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((server.url, "data:"))
            else None
        ),
    )
    return page, violations, elsewhere


def test_the_support_form_sends_under_its_policy(server: Server, chromium: Any) -> None:
    page, violations, elsewhere = watched_page(chromium, server)
    answer = page.goto(f"{server.url}/support?lang=en")
    assert answer is not None
    assert "script-src" not in answer.headers["content-security-policy"]  # none at all
    assert (
        page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") != "none"
    )  # styled

    page.get_by_label("Email registered on your account").fill("learner@example.com")
    page.get_by_label("Type of request").select_option(value="login")
    page.get_by_label("Course or workshop").fill("Python 101")
    page.get_by_label("Subject").fill("Cannot sign in")
    page.get_by_label("Describe the problem or suggestion").fill("The password is refused.")
    page.get_by_role("button", name="Send request").click()

    page.wait_for_selector("#reference")
    assert violations == [] and elsewhere == []


def test_the_api_reference_draws_and_tries_requests_under_its_policy(
    server: Server, chromium: Any
) -> None:
    page, violations, elsewhere = watched_page(chromium, server)
    page.goto(f"{server.url}/api/docs")

    page.wait_for_selector(".opblock-summary-path")  # drawn from the document it fetched
    operation = page.locator("#operations-queries-get_api_v1_queue")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()

    assert status.inner_text().strip() == "401"  # the request reached the desk
    assert violations == [] and elsewhere == []
