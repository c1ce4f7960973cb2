"""The public support pages pass axe (WCAG 2.1 A and AA) in Arabic and in English, in every
state a requester meets: the form, its errors, the receipt, the status form and its answers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.axe import AXE_CONTEXT, assert_accessible
from tests.e2e.conftest import Server


def checked(page: Page, language: str, name: str) -> None:
    """The page is in LANGUAGE, has one h1, and axe finds nothing on it."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")
    expect(page.locator("h1")).to_have_count(1)
    assert_accessible(page, f"{name} ({language})")


def send(page: Page, path: str, status: int) -> None:
    """Send the page's form, which must be answered with STATUS."""
    with page.expect_response(lambda answer: answer.url.split("?")[0].endswith(path)) as sent:
        page.locator("main form button[type=submit]").click()
    assert sent.value.status == status


@pytest.mark.parametrize("language", ["ar", "en"])
def test_the_support_pages_pass_axe_in_every_state(
    module_server: Server, module_chromium: Browser, language: str
) -> None:
    url = module_server.url
    query = "?lang=en" if language == "en" else ""
    page = module_chromium.new_context(**AXE_CONTEXT).new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{url}/support{query}")
    checked(page, language, "support form")
    send(page, "/support", 422)
    expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    checked(page, language, "support form with errors")

    page.locator("#email").fill("learner@example.com")
    page.locator("#category").select_option("login")
    page.locator("#course").fill("Python 101")
    page.locator("#subject").fill("Cannot sign in")
    page.locator("#description").fill("The password is refused.")
    send(page, "/support", 200)
    reference = page.locator("#reference").inner_text().strip()
    checked(page, language, "request received")

    page.goto(f"{url}/support/status{query}")
    checked(page, language, "status form")
    page.locator("#reference").fill(reference)
    page.locator("#email").fill("someone-else@example.com")
    send(page, "/support/status", 404)
    checked(page, language, "status not found")
    page.locator("#email").fill("learner@example.com")
    send(page, "/support/status", 200)
    expect(page.locator("#status")).not_to_be_empty()
    checked(page, language, "status found")
    page.context.close()
