"""A requester fills in the Arabic support form in a real browser; an agent then sees the ticket."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from tests.e2e.conftest import Server


def get_json(url: str, token: str) -> tuple[int, dict[str, Any], str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read()), answer.headers["ETag"]


def test_arabic_form_in_a_browser_records_a_ticket_agents_can_read(
    server: Server, chromium: Any
) -> None:
    page = chromium.new_page()
    page.goto(f"{server.url}/support")
    assert page.get_attribute("html", "dir") == "rtl"
    assert page.get_attribute("html", "lang") == "ar"

    page.get_by_label("البريد الإلكتروني المسجل في الحساب").fill("learner@example.com")
    page.get_by_label("نوع الطلب").select_option(label="مشكلة في تسجيل الدخول")
    page.get_by_label("اسم الدورة أو الورشة").fill("مقدمة في البرمجة")
    page.get_by_label("الموضوع").fill("لا أستطيع تسجيل الدخول")
    page.get_by_label("وصف المشكلة أو الاقتراح").fill("تظهر رسالة خطأ عند إدخال كلمة المرور.")
    page.get_by_role("button", name="إرسال الطلب").click()

    page.wait_for_selector("#reference")
    assert page.locator("h1").inner_text() == "تم استلام طلبك"
    reference = page.locator("#reference").inner_text().strip()
    assert re.fullmatch(r"CM-[0-9A-Z]{4}-[0-9A-Z]{4}", reference)
    assert "بتوقيت الرياض" in page.locator("#first-response-due").inner_text()

    token = server.cli("users", "add", "agent-e2e", "--role", "agent").strip()
    status, ticket, etag = get_json(f"{server.url}/api/v1/tickets/{reference}", token)

    assert status == 200
    assert ticket["reference"] == reference
    assert ticket["channel"] == "web_form"
    assert ticket["language"] == "ar"
    assert ticket["category"] == "login"
    assert ticket["requester_email"] == "learner@example.com"
    assert ticket["subject"] == "لا أستطيع تسجيل الدخول"
    assert etag == f'"{ticket["version"]}"'
