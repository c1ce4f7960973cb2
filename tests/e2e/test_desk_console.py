"""The desk console in a real browser: an agent's ticket from taking it to resolving it, two
agents on one ticket, a supervisor's pages, the same work with the keyboard alone, and every
page checked by axe (WCAG 2.1 A and AA) in Arabic and in English, on a desktop screen and at
360 px wide.

One server serves the module and each test works on tickets of its own; supervisors sign in
with a second factor. With SUPPORTDESK_SCREENSHOTS=1 the README's pictures in
tests/e2e/screenshots/ are taken again.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, ViewportSize, expect
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from interfaces.web.desk.wording import wording
from tests.e2e.axe import AXE_CONTEXT, assert_accessible
from tests.e2e.conftest import DeskUser, Server, desk_user, serving, sign_in

AR = wording("ar")
EN = wording("en")
SCREENSHOTS = Path(__file__).with_name("screenshots")
READ_MODEL_SECONDS = 10.0
_LEARNERS = itertools.count(1)
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 360, "height": 780}
TABS = ("mine", "unassigned", "all", "at_risk", "breached")
_PAGE_WIDTH = "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
_WIDER = """() => [...document.querySelectorAll('body *')]
    .filter(e => !e.closest('.table-wrap'))
    .filter(e => e.getBoundingClientRect().right > innerWidth || e.getBoundingClientRect().left < 0)
    .map(e => e.outerHTML.slice(0, 120))"""


# ---- the API, to arrange tickets and to check what was recorded ------------------------------


def call(
    server: Server, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    """Send one API request; its status and its JSON."""
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"null")


def with_files(server: Server, path: str, fields: dict[str, str], *files: tuple[str, bytes]) -> Any:
    """POST a multipart request with files, as a browser's form would; its JSON."""
    parts = [FileStorage(io.BytesIO(data), filename=name) for name, data in files]
    boundary, body = encode_multipart({**fields, "files": parts})
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    request = urllib.request.Request(server.url + path, body, headers, method="POST")
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.loads(answer.read())


def screenshot() -> bytes:
    """An error page's screenshot, as a learner sends it."""
    out = io.BytesIO()
    Image.new("RGB", (640, 400), (230, 240, 250)).save(out, "PNG")
    return out.getvalue()


def ok(server: Server, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
    status, answer = call(server, method, path, token, body)
    assert 200 <= status < 300, f"{method} {path}: {status} {answer}"
    return answer


def submit(
    server: Server,
    subject: str,
    name: str,
    *,
    category: str = "login",
    course: str = "مقدمة في البرمجة بلغة بايثون",
    description: str = "تظهر رسالة خطأ كلما حاولت الدخول.",
    language: str = "ar",
    email: str | None = None,
) -> dict[str, Any]:
    """A request from the public API; its reference and log position."""
    answer: dict[str, Any] = ok(
        server,
        "POST",
        "/api/v1/tickets",
        body={
            "email": email or f"learner{next(_LEARNERS)}@example.com",
            "name": name,
            "category": category,
            "course": course,
            "subject": subject,
            "description": description,
            "language": language,
        },
    )
    return answer


def caught_up(
    server: Server, token: str, reference: str, *, acknowledged: bool = False
) -> dict[str, Any]:
    """The ticket, once the conversation read model (which the ticket page shows) has all of
    it, and once the requester was sent the receipt if asked; both follow a moment behind."""
    deadline = time.monotonic() + READ_MODEL_SECONDS
    while True:
        ticket: dict[str, Any] = ok(server, "GET", f"/api/v1/tickets/{reference}", token)
        status, thread = call(server, "GET", f"/api/v1/tickets/{reference}/conversation", token)
        if status == 200 and thread["version"] >= ticket["version"]:
            if ticket["acknowledged"] or not acknowledged:
                return ticket
        assert time.monotonic() < deadline, f"the ticket {reference} did not settle"
        time.sleep(0.05)


def read_models_at(server: Server, token: str, position: int) -> None:
    """Wait until the queue and the search have applied the log up to `position`."""
    for path in (f"/api/v1/queue?after={position}", f"/api/v1/search?q=x&after={position}"):
        deadline = time.monotonic() + READ_MODEL_SECONDS
        while (status := call(server, "GET", path, token)[0]) == 503:
            assert time.monotonic() < deadline, f"{path} stayed behind"
        assert status == 200, f"GET {path}: {status}"


# ---- the module's server, users and tickets ---------------------------------------------------


@dataclass(frozen=True)
class Desk:
    server: Server
    salma: DeskUser  # an agent, in Arabic
    omar: DeskUser  # an agent, who reads the console in English
    khaled: DeskUser  # a supervisor, with a second factor
    showcase: str  # a ticket with a follow-up, a canned reply, a note; escalated
    cookies: dict[str, Any] = field(default_factory=dict)  # each user's first sign-in, kept


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    settings = {"SUPPORTDESK_REQUIRE_2FA": "on", "SUPPORTDESK_RATE_LIMIT": "300/minute"}
    with serving(tmp_path_factory.mktemp("desk"), settings) as server:
        with ThreadPoolExecutor() as pool:  # each is a few runs of the command line
            made = [
                pool.submit(desk_user, server, "salma", "agent"),
                pool.submit(desk_user, server, "omar", "agent"),
                pool.submit(desk_user, server, "khaled", "supervisor", second_factor=True),
            ]
            salma, omar, khaled = (future.result() for future in made)
        ok(
            server,
            "POST",
            "/api/v1/templates",
            khaled.token,
            {
                "id": "password-reset",
                "title": "إعادة تعيين كلمة المرور",
                "text_ar": "مرحباً {requester_name}، أرسلنا إلى بريدك رابطاً لإعادة تعيين كلمة "
                "المرور الخاصة بطلبك {reference}.",
                "text_en": "Hello {requester_name}, we sent you a link to reset the password "
                "for your request {reference}.",
                "category": "login",
                "reason": "أكثر الطلبات تكراراً",
            },
        )
        yield Desk(server, salma, omar, khaled, _showcase(server, salma, omar, khaled))


def _showcase(server: Server, salma: DeskUser, omar: DeskUser, khaled: DeskUser) -> str:
    """A queue as a working morning leaves it, and one ticket with every kind of item."""
    shown = submit(
        server, "لا أستطيع تسجيل الدخول إلى حسابي", "نورة العتيبي", email="noura@example.com"
    )
    ref = shown["reference"]
    caught_up(server, salma.token, ref, acknowledged=True)  # the mailer's receipt comes first
    with_files(
        server,
        f"/api/v1/tickets/{ref}/follow-up",
        {"email": "noura@example.com", "message": "جربت مرة أخرى ولم تصلني رسالة."},
        ("لقطة الخطأ.png", screenshot()),
        ("setup.png", b"MZ\x90\x00" + bytes(60)),
    )
    for path, body in (
        ("take", None),
        ("respond", {"template": "password-reset"}),
        ("notes", {"text": "البريد مسجل بشكل صحيح؛ أرسلت رابطاً جديداً وأتابع مع الطالبة."}),
        ("escalate", {"reason": "agent", "note": "يحتاج الحساب إلى تفعيل يدوي من الإدارة."}),
    ):
        ok(server, "POST", f"/api/v1/tickets/{ref}/{path}", salma.token, body)
    others = (
        ("طلب شهادة حضور ورشة تحليل البيانات", "عبدالله الشهري", "attendance_certificate", omar),
        ("الفيديو يتوقف عند الدقيقة العاشرة", "ريم القحطاني", "content_loading", None),
        ("اقتراح: إضافة ترجمة عربية للمحاضرات", "فهد الدوسري", "suggestion", None),
        ("لم يصلني بريد تفعيل الحساب", "سارة الزهراني", "account_activation", salma),
    )
    for subject, name, category, owner in others:
        other = submit(server, subject, name, category=category, course="أساسيات تحليل البيانات")
        if owner is not None:
            path = f"/api/v1/tickets/{other['reference']}/assign"
            ok(server, "POST", path, khaled.token, {"assignee": owner.name})
    english = submit(
        server,
        "Cannot download my course certificate",
        "Lina Haddad",
        category="attendance_certificate",
        course="Data Analysis Basics",
        description="The download button does nothing.",
        language="en",
    )
    read_models_at(server, salma.token, english["position"])
    caught_up(server, salma.token, ref)
    return str(ref)


def _email_of(server: Server, user: DeskUser, reference: str) -> str:
    email: str = ok(server, "GET", f"/api/v1/tickets/{reference}", user.token)["requester_email"]
    return email


def new_ticket(desk: Desk, subject: str, name: str, **fields: Any) -> str:
    """A new ticket of the test's own, shown in the queue and the conversation already."""
    answer = submit(desk.server, subject, name, **fields)
    read_models_at(desk.server, desk.salma.token, answer["position"])
    caught_up(desk.server, desk.salma.token, answer["reference"], acknowledged=True)
    return str(answer["reference"])


# ---- the browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(module_chromium: Browser) -> Browser:
    """One chromium for the module; every test opens contexts (browsers) of its own."""
    return module_chromium


def signed_in(browser: Browser, desk: Desk, user: DeskUser, language: str, **options: Any) -> Page:
    """A new browser (context) where USER is signed in and reads the console in LANGUAGE.

    The first time, through the sign-in form; later, with the session that sign-in gave, as a
    browser restoring its cookies would (a second factor's code signs in once: signing in
    again would wait up to 30 s for the next one)."""
    kept = desk.cookies.get(user.name)
    state = {"storage_state": kept} if kept else {}
    context = browser.new_context(**{"viewport": DESKTOP, **options, **state})
    context.set_default_timeout(10_000)
    page = context.new_page()
    if kept:
        page.goto(f"{desk.server.url}/desk/")
    else:
        sign_in(page, desk.server, user)
        desk.cookies[user.name] = context.storage_state()
    use_language(page, language)
    return page


def use_language(page: Page, language: str) -> None:
    """Switch through the console's own language form when the page is in the other one."""
    if page.get_attribute("html", "lang") != language:
        page.locator("form[action$='/desk/language'] button").click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("html")).to_have_attribute("dir", "rtl" if language == "ar" else "ltr")


def ticket_url(desk: Desk, reference: str) -> str:
    return f"{desk.server.url}/desk/tickets/{reference}"


def done(page: Page) -> Locator:
    """What the page says was done."""
    return page.locator("p.done[role=status]")


# ---- an agent's ticket, from the queue to resolved --------------------------------------------


def test_an_agent_takes_reads_answers_with_a_canned_response_notes_and_resolves(
    desk: Desk, browser: Browser
) -> None:
    server = desk.server
    supervisor = signed_in(browser, desk, desk.khaled, "ar")
    supervisor.goto(f"{server.url}/desk/templates")
    supervisor.get_by_role("link", name=AR.new_template).click()
    supervisor.get_by_label(AR.template_id).fill("course-access")
    supervisor.get_by_label(AR.title, exact=True).fill("فتح محتوى الدورة")
    supervisor.get_by_label(AR.text_ar).fill(
        "مرحباً {requester_name}، فتحنا لك محتوى «{course}» من جديد (الطلب {reference})."
    )
    supervisor.get_by_label(AR.text_en).fill(
        "Hello {requester_name}, {course} is open to you again (request {reference})."
    )
    supervisor.get_by_label(AR.reason, exact=True).fill("رد متكرر على مشكلات الوصول")
    supervisor.get_by_role("button", name=AR.save, exact=True).click()
    expect(done(supervisor)).to_have_text(AR.saved)
    expect(supervisor.locator("h1")).to_have_text("فتح محتوى الدورة")
    supervisor.context.close()

    ref = new_ticket(
        desk,
        "لا يفتح محتوى الدورة بعد التسجيل",
        "هند المطيري",
        category="content_loading",
        course="مهارات العرض والتقديم",
    )
    email = _email_of(server, desk.salma, ref)
    follow_up = "ما زال المحتوى مغلقاً بعد تحديث الصفحة."
    body = {"email": email, "message": follow_up}
    ok(server, "POST", f"/api/v1/tickets/{ref}/follow-up", body=body)
    caught_up(server, desk.salma.token, ref)

    page = signed_in(browser, desk, desk.salma, "ar")
    tabs = page.get_by_role("navigation", name=AR.queue)
    tabs.get_by_role("link", name=AR.unassigned).click()
    expect(tabs.get_by_role("link", name=AR.unassigned)).to_have_attribute("aria-current", "page")
    row = page.locator("tbody tr", has=page.get_by_role("link", name=ref))
    expect(row).to_contain_text(AR.nobody)
    expect(row).to_contain_text(AR.on_track)
    page.get_by_role("link", name=ref).click()

    expect(page.locator("h1")).to_contain_text(ref)
    received = page.locator(".thread .kind-follow_up_received")
    expect(received).to_contain_text(AR.kind_follow_up_received)
    expect(received).to_contain_text(follow_up)

    page.get_by_role("button", name=AR.take).click()
    expect(done(page)).to_have_text(AR.done_take)
    expect(page.locator("#owner")).to_have_text("salma")

    page.get_by_label(AR.use_template).select_option("course-access")
    page.get_by_role("button", name=AR.preview).click()
    expected = f"مرحباً هند المطيري، فتحنا لك محتوى «مهارات العرض والتقديم» من جديد (الطلب {ref})."
    expect(page.get_by_label(AR.message, exact=True)).to_have_value(expected)
    page.get_by_role("button", name=AR.send, exact=True).click()
    expect(done(page)).to_have_text(AR.done_respond)

    note = "تحققت من التسجيل في نظام الدورات: كان الوصول معلقاً."
    page.get_by_label(AR.note, exact=True).fill(note)
    page.get_by_role("button", name=AR.add_note).click()
    expect(done(page)).to_have_text(AR.done_note)

    caught_up(server, desk.salma.token, ref)
    page.reload()
    reply = page.locator(".thread .kind-responded")
    expect(reply).to_contain_text(expected)
    expect(reply.locator(".template-badge")).to_contain_text("course-access v1")
    noted = page.locator(".thread .kind-note_added")
    expect(noted).to_have_class(re.compile(r"\binternal\b"))
    expect(noted).to_contain_text(AR.internal)
    expect(noted).to_contain_text(note)
    expect(reply).not_to_contain_text(AR.internal)

    page.get_by_label(AR.summary).fill("فُتح المحتوى وتأكدت الطالبة من الوصول إليه.")
    page.get_by_role("button", name=AR.resolve_button, exact=True).click()
    expect(done(page)).to_have_text(AR.done_resolve)
    expect(page.locator(".head-facts .status")).to_have_text(AR.status("resolved"))
    expect(page.get_by_role("button", name=AR.reopen_button)).to_be_visible()

    ticket = ok(server, "GET", f"/api/v1/tickets/{ref}", desk.salma.token)
    assert (ticket["status"], ticket["owner"], ticket["notes"]) == ("resolved", "salma", 1)
    assert ticket["first_responded_at"] is not None
    page.context.close()


# ---- two agents, one ticket ---------------------------------------------------------------------


def test_an_action_on_an_old_page_is_refused_in_the_agents_language_and_records_nothing(
    desk: Desk, browser: Browser
) -> None:
    server = desk.server
    ref = new_ticket(desk, "لا تظهر الدرجات في لوحة الطالب", "ماجد العنزي")
    first = signed_in(browser, desk, desk.salma, "ar")
    second = signed_in(browser, desk, desk.omar, "en")
    first.goto(ticket_url(desk, ref))
    second.goto(ticket_url(desk, ref))
    typed = "Checked the gradebook: the marks are there."
    second.get_by_label(EN.note, exact=True).fill(typed)

    first.get_by_role("button", name=AR.take).click()
    expect(done(first)).to_have_text(AR.done_take)
    taken = caught_up(server, desk.salma.token, ref)

    with second.expect_response(lambda answer: answer.url.endswith(f"/{ref}/note")) as sent:
        second.get_by_role("button", name=EN.add_note).click()
    assert sent.value.status == 409
    refusal = second.get_by_role("alert")
    expect(refusal).to_contain_text(EN.acted_first)
    expect(refusal).to_contain_text(EN.changed_since)
    change = refusal.get_by_role("listitem").filter(has_text=f"{EN.kind_assigned} salma")
    expect(change).to_have_count(1)
    expect(second.get_by_label(EN.note, exact=True)).to_have_value(typed)
    expect(second.locator("html")).to_have_attribute("lang", "en")
    expect(second.locator("#owner")).to_have_text("salma")

    after = ok(server, "GET", f"/api/v1/tickets/{ref}", desk.omar.token)
    assert after["version"] == taken["version"]
    assert (after["owner"], after["notes"]) == ("salma", 0)

    elsewhere = browser.new_context().new_page()  # the language is the user's, not the browser's
    sign_in(elsewhere, server, desk.omar)
    expect(elsewhere.locator("html")).to_have_attribute("lang", "en")
    elsewhere.context.close()
    second.locator("form[action$='/desk/language'] button").click()  # from the refused form
    expect(second.locator("html")).to_have_attribute("lang", "ar")
    assert second.url == ticket_url(desk, ref)
    for page in (first, second):
        page.context.close()


# ---- the queue refreshes itself ----------------------------------------------------------------


def test_the_queue_shows_new_tickets_by_itself_and_says_so(desk: Desk, browser: Browser) -> None:
    page = signed_in(browser, desk, desk.omar, "en")  # the console's own policy in force
    page.clock.install()
    page.goto(f"{desk.server.url}/desk/?tab=unassigned")
    ref = new_ticket(desk, "Quiz answers are not saved", "Sami Nasser", language="en")
    expect(page.get_by_role("link", name=ref)).to_have_count(0)

    page.clock.fast_forward(30_000)
    expect(page.get_by_role("link", name=ref)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(EN.updated)
    page.context.close()


# ---- a supervisor ------------------------------------------------------------------------------


def test_a_supervisor_reassigns_a_ticket_and_revises_a_canned_response(
    desk: Desk, browser: Browser
) -> None:
    server = desk.server
    ref = new_ticket(desk, "رسوم الدورة خُصمت مرتين", "خالد الحربي", category="other")
    ok(server, "POST", f"/api/v1/tickets/{ref}/take", desk.salma.token)
    page = signed_in(browser, desk, desk.khaled, "ar")
    page.goto(ticket_url(desk, ref))
    expect(page.locator("#owner")).to_have_text("salma")

    page.get_by_label(AR.assign, exact=True).select_option("omar")
    page.get_by_role("button", name=AR.assign_button, exact=True).click()
    expect(done(page)).to_have_text(AR.done_assign)
    expect(page.locator("#owner")).to_have_text("omar")
    assert ok(server, "GET", f"/api/v1/tickets/{ref}", desk.khaled.token)["owner"] == "omar"
    caught_up(server, desk.khaled.token, ref)
    page.reload()
    expect(page.locator(".thread .kind-assigned").last).to_contain_text(f"{AR.kind_assigned} omar")

    before = ok(server, "GET", "/api/v1/templates/password-reset", desk.khaled.token)
    page.get_by_role("navigation", name=AR.main_nav).get_by_role("link", name=AR.templates).click()
    page.get_by_role("link", name="إعادة تعيين كلمة المرور").click()
    revised = (
        "مرحباً {requester_name}، أرسلنا إلى بريدك رابطاً لإعادة تعيين كلمة المرور الخاصة "
        "بطلبك {reference}؛ الرابط صالح لمدة ساعة."
    )
    page.get_by_label(AR.text_ar).fill(revised)
    page.get_by_label(AR.reason, exact=True).fill("ذكر مدة صلاحية الرابط")
    page.get_by_role("button", name=AR.save, exact=True).click()

    expect(done(page)).to_have_text(AR.saved)
    expect(page.get_by_label(AR.text_ar)).to_have_value(revised)
    history = page.get_by_role("table", name=AR.history)
    latest = history.locator("tbody tr").last
    expect(latest.locator("td").nth(0)).to_have_text(str(before["version"] + 1))
    expect(latest).to_contain_text(AR.Revised)
    expect(latest).to_contain_text("khaled")
    expect(latest).to_contain_text("ذكر مدة صلاحية الرابط")
    after = ok(server, "GET", "/api/v1/templates/password-reset", desk.khaled.token)
    assert (after["version"], after["text_ar"]) == (before["version"] + 1, revised)
    page.context.close()


# ---- the keyboard alone -------------------------------------------------------------------------


def tab_to(page: Page, selector: str, *, backwards: bool = False, presses: int = 80) -> None:
    """Press Tab (Shift+Tab) until the focus is on SELECTOR; there, it must be seen."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(presses):
        page.keyboard.press(key)
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            shown = page.evaluate(
                """() => {
                    const focused = document.activeElement;
                    const style = getComputedStyle(focused);
                    return focused.matches(':focus-visible') && style.outlineStyle !== 'none'
                        && parseFloat(style.outlineWidth) >= 2;
                }"""
            )
            assert shown, f"the focus on {selector} is not visible"
            return
    pytest.fail(f"{presses} presses of {key} never reached {selector}")


def test_take_answer_and_resolve_with_the_keyboard_alone(desk: Desk, browser: Browser) -> None:
    server = desk.server
    ref = new_ticket(desk, "نسيت كلمة المرور ولا يصلني الرابط", "عبير السبيعي")
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{server.url}/desk/login")
    expect(page.locator("#name")).to_be_focused()
    page.keyboard.type(desk.salma.name)
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(desk.salma.password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/desk/$"))

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name=AR.skip)
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    tab_to(page, "a[href$='tab=unassigned']")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, f"a[href='/desk/tickets/{ref}']")
    with page.expect_navigation():
        page.keyboard.press("Enter")

    tab_to(page, "form[action$='/take'] button")
    page.keyboard.press("Enter")
    expect(done(page)).to_have_text(AR.done_take)
    expect(page.locator("#owner")).to_have_text("salma")

    tab_to(page, "#template")
    chooser = page.locator("#template")
    for _ in range(10):
        if chooser.input_value() == "password-reset":
            break
        page.keyboard.press("ArrowDown")
    assert chooser.input_value() == "password-reset"
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=AR.preview)).to_be_focused()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    message = page.locator("#message")
    expect(message).to_contain_text("عبير السبيعي")
    tab_to(page, "#message")
    page.keyboard.press("Control+End")
    page.keyboard.type(" مع التحية.")
    tab_to(page, "form[action$='/respond'] button[type=submit]")
    page.keyboard.press("Enter")
    expect(done(page)).to_have_text(AR.done_respond)

    tab_to(page, "#summary")
    page.keyboard.type("وصل الرابط وتمكنت الطالبة من الدخول.")
    tab_to(page, "form[action$='/resolve'] button[type=submit]")
    page.keyboard.press("Space")
    expect(done(page)).to_have_text(AR.done_resolve)
    expect(page.locator(".head-facts .status")).to_have_text(AR.status("resolved"))

    ticket = caught_up(server, desk.salma.token, ref)
    assert (ticket["status"], ticket["owner"]) == ("resolved", "salma")
    thread = ok(server, "GET", f"/api/v1/tickets/{ref}/conversation", desk.salma.token)
    replies = [item for item in thread["items"] if item["kind"] == "responded"]
    assert len(replies) == 1 and replies[0]["text"].endswith(" مع التحية.")
    assert replies[0]["template"] == "password-reset"
    context.close()


# ---- every page, checked by axe -----------------------------------------------------------------


@pytest.mark.parametrize("language", ["ar", "en"])
def test_every_console_page_passes_axe(desk: Desk, browser: Browser, language: str) -> None:
    server, t = desk.server, wording(language)
    visitor = browser.new_context(**AXE_CONTEXT).new_page()
    visitor.goto(f"{server.url}/desk/escalated")  # signed out: to the sign-in page, in Arabic
    if language == "en":
        visitor.get_by_role("link", name="English").click()
    checked(visitor, language, "sign-in")
    assert "next=/desk/escalated" in visitor.url  # where to go after is kept
    visitor.context.close()

    page = signed_in(browser, desk, desk.khaled, language, **AXE_CONTEXT)
    pages = {f"queue, {tab}": f"/desk/?tab={tab}" for tab in TABS}
    pages |= {
        "search by reference": f"/desk/?tab=all&q={desk.showcase}",
        "search by words": "/desk/?tab=all&q=" + urllib.parse.quote("الدخول"),
        "ticket": f"/desk/tickets/{desk.showcase}",
        "ticket with a canned response's preview": f"/desk/tickets/{desk.showcase}"
        "?template=password-reset",
        "canned responses": "/desk/templates",
        "canned response": "/desk/templates/password-reset",
        "new canned response": "/desk/templates/new",
        "escalated": "/desk/escalated",
    }
    for name, path in pages.items():
        page.goto(server.url + path)
        checked(page, language, name)
        if name == "queue, all":
            every_state_drawn(page, language)
            checked(page, language, "queue with every SLA state and status")
        if name == "search by reference":
            expect(page.locator("tbody tr")).to_have_count(1)
        if name == "ticket":
            expect(page.locator(".thread .kind-note_added.internal")).to_have_count(1)
            thumbnail = page.locator(".thread .files img")
            expect(thumbnail).to_have_count(1)  # the screenshot, drawn by the server
            assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 320
            expect(page.locator(".thread .files.refused li")).to_have_count(1)
        if name == "escalated":
            expect(page.get_by_role("link", name=desk.showcase)).to_be_visible()

    answer = page.goto(f"{server.url}/desk/tickets/CM-AAAA-AAAA")
    assert answer is not None and answer.status == 404
    expect(page.locator("h1")).to_have_text(t.no_ticket)
    checked(page, language, "404")

    page.goto(ticket_url(desk, desk.showcase))
    with page.expect_response(re.compile(r"/note$")) as sent:
        page.get_by_role("button", name=t.add_note).click()  # nothing written
    assert sent.value.status == 422
    expect(page.get_by_label(t.note, exact=True)).to_have_attribute("aria-invalid", "true")
    checked(page, language, "ticket with a field's error")

    page.locator("form[action$='/note'] input[name=csrf]").evaluate("field => field.value = 'x'")
    page.get_by_label(t.note, exact=True).fill("Forged")
    with page.expect_response(re.compile(r"/note$")) as sent:
        page.get_by_role("button", name=t.add_note).click()
    assert sent.value.status == 400
    expect(page.locator("h1")).to_have_text(t.form_expired)
    checked(page, language, "400")

    page.goto(f"{server.url}/desk/templates/new")
    page.get_by_label(t.template_id).fill("Not An Id")
    for label, value in ((t.title, "x"), (t.text_ar, "x"), (t.text_en, "x"), (t.reason, "x")):
        page.get_by_label(label, exact=True).fill(value)
    with page.expect_response(re.compile(r"/templates/new$")) as sent:
        page.get_by_role("button", name=t.save, exact=True).click()
    assert sent.value.status == 422
    expect(page.get_by_label(t.template_id)).to_have_attribute("aria-invalid", "true")
    checked(page, language, "new canned response with a field's error")
    page.context.close()


def every_state_drawn(page: Page, language: str) -> None:
    """A fresh desk has no ticket at risk or late yet: rows in those states, and in every status,
    are drawn from a row of the page with its own classes and words, for axe to check too."""
    t = wording(language)
    states = [("at_risk", t.at_risk), ("breached", t.breached), ("on_track", t.on_track)]
    statuses = ["new", "acknowledged", "in_progress", "forwarded_to_management", "resolved"]
    page.evaluate(
        """([states, statuses]) => {
            const row = document.querySelector('table.queue tbody tr');
            statuses.forEach(([status, words], i) => {
                const copy = row.cloneNode(true);
                const [sla, said] = states[i % states.length];
                copy.querySelector('.badge').className = `badge ${sla}`;
                copy.querySelector('.badge').textContent = said;
                copy.querySelector('.status').className = `status ${status}`;
                copy.querySelector('.status').textContent = words;
                row.parentNode.appendChild(copy);
            });
        }""",
        [states, [[status, t.status(status)] for status in statuses]],
    )
    expect(page.locator("table.queue .badge.breached")).not_to_have_count(0)


def checked(page: Page, language: str, name: str) -> None:
    """The page is in LANGUAGE, has one h1, and axe finds nothing on it."""
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("h1")).to_have_count(1)
    assert_accessible(page, f"{name} ({language})")


@pytest.mark.parametrize("language", ["ar", "en"])
def test_queue_and_ticket_fit_a_360px_screen_and_pass_axe(
    desk: Desk, browser: Browser, language: str
) -> None:
    page = signed_in(browser, desk, desk.khaled, language, **AXE_CONTEXT)
    pictures = language == "ar" and os.environ.get("SUPPORTDESK_SCREENSHOTS") == "1"
    for size in (DESKTOP, PHONE):  # axe checked both pages at 1280 px already
        page.set_viewport_size(size)
        for name, path in (
            ("queue", "/desk/?tab=all"),
            ("ticket", f"/desk/tickets/{desk.showcase}"),
        ):
            page.goto(desk.server.url + path)
            if size == PHONE:
                checked(page, language, f"{name} at {size['width']} px")
            assert page.evaluate(_PAGE_WIDTH) <= size["width"], (
                f"{name} scrolls sideways at {size['width']} px: {page.evaluate(_WIDER)}"
            )
            if pictures and (size == DESKTOP or name == "ticket"):
                wide = "" if size == DESKTOP else f"-{size['width']}"
                SCREENSHOTS.mkdir(exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-ar{wide}.png"))
    page.set_viewport_size(PHONE)
    page.goto(f"{desk.server.url}/desk/?tab=all")
    table = page.locator(".table-wrap")
    assert table.evaluate("box => box.scrollWidth > box.clientWidth")  # the table scrolls, alone
    page.context.close()
