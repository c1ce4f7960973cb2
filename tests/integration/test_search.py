"""Ticket search over HTTP, on SQLite (FTS5) and PostgreSQL (tsvector, pg_trgm): by a piece of
the reference, by the requester's email, by Arabic and English words anywhere in the ticket,
within the queue's filters, page by page; and any text at all as a query."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import Channel
from projections import search
from projections.cursor import encode_cursor
from projections.queue import QueueFilter, queue_table
from projections.runner import build_runners
from projections.search import (
    MAX_WORDS_BYTES,
    QUEUE_SIDE_FILTERS,
    SEARCH_SIDE_FILTERS,
    search_page,
)
from projections.search_text import terms, words
from tests.builders import COURSE, act_at_random, caught_up, riyadh, submit
from tests.conftest import FakeClock

Headers = dict[str, str]
SEARCH = "/api/v1/search"


@pytest.fixture
def agent(bearer: Callable[[Role], Headers]) -> Headers:
    return bearer(Role.AGENT)


def request(
    container: Container,
    subject: str,
    description: str,
    *,
    email: str = "learner@example.org",
    category: Category = Category.LOGIN,
    language: str = "en",
    name: str | None = None,
    reference: Reference | None = None,
) -> str:
    """A request by the form; its reference."""
    return container.desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=email,
        category=category,
        course=COURSE,
        subject=subject,
        description=description,
        language=language,
        requester_name=name,
        reference=reference,
    ).reference


def found(client: FlaskClient, headers: Headers, q: str, **filters: Any) -> list[str]:
    """The references the search answers with, on its first page."""
    response = client.get(SEARCH, query_string={"q": q, **filters}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return [item["reference"] for item in response.json["items"]]


# ---- ways of finding ---------------------------------------------------------------------------


@pytest.fixture
def arabic_and_english(container: Container, clock: FakeClock) -> dict[str, str]:
    """Three tickets: one in Arabic, one in English, one about something else."""
    tickets = {
        "arabic": request(
            container,
            "لا أستطيع تسجيل الدُّخول إلى المنصّة",
            "تظهر رسالة خطأ عند إدخال كلمة المرور، وأحتاج مساعدة في المكتبة",
            email="Noura.Q@Example.ORG",
            language="ar",
        ),
        "english": request(
            container, "Video will not play", "The lesson video stops after the café intro."
        ),
        "other": request(container, "Certificate name", "My certificate shows a wrong name."),
    }
    clock.advance(minutes=5)
    caught_up(container)
    return tickets


def test_a_piece_of_the_reference_finds_the_ticket_in_any_case_and_with_or_without_dashes(
    container: Container, client: FlaskClient, agent: Headers, arabic_and_english: dict[str, str]
) -> None:
    reference = arabic_and_english["english"]  # CM-XXXX-YYYY
    first, second = reference[3:7], reference[8:]
    spellings = [
        reference,
        reference.lower(),
        first,
        second.lower(),
        f"CM-{first}",
        f"{first[2:]}-{second[:2]}".lower(),  # across the dash
        f"cm {first} {second}",
    ]
    for spelling in spellings:
        assert reference in found(client, agent, spelling), spelling


def test_a_whole_reference_is_read_as_people_type_it_and_a_piece_as_typed(
    container: Container, client: FlaskClient, agent: Headers
) -> None:
    reference = request(container, "Typed", "typed", reference=Reference.with_payload("0110ABC"))
    caught_up(container)
    mistyped = reference.replace("0", "O").replace("1", "l").lower()  # CM-OllO-...
    assert found(client, agent, mistyped) == [reference]
    assert found(client, agent, reference[3:7]) == [reference]
    assert found(client, agent, "OllO") == []  # a piece is a piece of what is written


def test_the_requesters_email_finds_their_tickets_whole_and_in_any_case(
    container: Container, client: FlaskClient, agent: Headers, arabic_and_english: dict[str, str]
) -> None:
    arabic = arabic_and_english["arabic"]
    assert found(client, agent, "noura.q@example.org") == [arabic]
    assert found(client, agent, "NOURA.Q@EXAMPLE.ORG") == [arabic]
    assert found(client, agent, "  Noura.Q@Example.Org ") == [arabic]
    assert found(client, agent, "noura.q@example") == []  # whole addresses only
    assert found(client, agent, "oura.q@example.org") == []


@pytest.mark.parametrize(
    "query",
    [
        "تسجيل الدخول",  # as written, without the shadda
        "تَسْجِيل الدُّخُول",  # with tashkeel
        "دخول",  # without the article
        "الـدخـول",  # with tatweel
        "المنصة",  # ة for the ه the text does not have, and no shadda
        "منصه",
        "الى",  # alef without hamza, ى for ي
        "إلي",
        "ادخال",  # إدخال without its hamza
        "أدخال",  # ... or with the wrong one
        "كلمة المرور",
        "المكتبه",  # ة written as ه
        "مكتبة",
    ],
)
def test_arabic_words_are_found_whatever_their_tashkeel_alef_forms_and_article(
    container: Container,
    client: FlaskClient,
    agent: Headers,
    arabic_and_english: dict[str, str],
    query: str,
) -> None:
    assert found(client, agent, query) == [arabic_and_english["arabic"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("video", ["english"]),
        ("VIDEO Lesson", ["english"]),
        ("lesson video", ["english"]),
        ("cafe", ["english"]),  # é as e
        ("café", ["english"]),
        ("vid", ["english"]),  # the last word also as the start of one
        ("certificate", ["other"]),
        ("video certificate", []),  # every word, in one ticket
        ("name", ["other"]),
        ("absent", []),
    ],
)
def test_english_words_are_found_in_any_case_all_of_them(
    container: Container,
    client: FlaskClient,
    agent: Headers,
    arabic_and_english: dict[str, str],
    query: str,
    expected: list[str],
) -> None:
    assert found(client, agent, query) == [arabic_and_english[name] for name in expected]


def test_words_of_the_whole_conversation_are_found(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock
) -> None:
    reference = request(container, "Cannot sign in", "My password is wrong.", name="Noura")
    desk = container.desk
    clock.advance(minutes=10)
    desk.respond(reference, message="Please clear the browser cookies.", actor="sara")
    desk.receive_follow_up(reference, message="Still failing on Firefox", channel=Channel.EMAIL)
    desk.add_note(reference, text="Vendor ticket 4711 opened", actor="sara")
    later = desk.ticket(reference).resolution_due + timedelta(days=2)
    desk.extend_deadline(reference, resolution_due=later, reason="awaiting vendor", actor="sara")
    desk.escalate(reference, reason=EscalationReason.AGENT, actor="sara", note="urgent learner")
    desk.resolve(reference, summary="تم إصلاح الحساب", actor="sara")
    desk.reopen(reference, reason="still broken on mobile", actor="requester")
    caught_up(container)
    for query in (
        "cookies",  # a response
        "firefox",  # a follow-up
        "vendor 4711",  # an internal note
        "awaiting",  # an extension's reason
        "urgent",  # an escalation's note
        "الحساب",  # the resolution's summary
        "mobile",  # the reopening's reason
        "noura",  # the requester's name
        "parenting",  # the course
    ):
        assert found(client, agent, query) == [reference], query


def test_a_ticket_is_found_once_however_many_ways_it_matches(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock
) -> None:
    reference = request(container, "Help", "help")
    piece = reference[3:7]
    container.desk.respond(reference, message=f"About {reference}: {piece}", actor="sara")
    caught_up(container)
    assert found(client, agent, piece) == [reference]


def test_results_carry_the_queue_items_fields_and_a_snippet(
    container: Container, client: FlaskClient, agent: Headers, arabic_and_english: dict[str, str]
) -> None:
    queue = client.get("/api/v1/queue?per_page=10", headers=agent).json["items"]
    (from_queue,) = [item for item in queue if item["reference"] == arabic_and_english["english"]]
    response = client.get(SEARCH, query_string={"q": "intro"}, headers=agent)
    (item,) = response.json["items"]
    assert {k: v for k, v in item.items() if k != "snippet"} == from_queue
    assert item["snippet"] == "The lesson video stops after the café intro."
    (elsewhere,) = client.get(SEARCH, query_string={"q": "play"}, headers=agent).json["items"]
    assert elsewhere["snippet"] is None  # in the subject only, which the item shows


def test_resolved_tickets_are_found_unless_a_status_or_sla_is_asked_for(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock
) -> None:
    solved = request(container, "Quiz score missing", "My quiz score is missing.")
    container.desk.resolve(solved, summary="Recalculated the quiz", actor="sara")
    clock.advance(minutes=1)
    waiting = request(container, "Quiz timer", "The quiz timer is too short.")
    caught_up(container)
    assert found(client, agent, "quiz") == [waiting, solved]
    (item,) = client.get(SEARCH, query_string={"q": "score"}, headers=agent).json["items"]
    assert (item["status"], item["next_due"], item["sla"]) == ("resolved", None, None)
    assert found(client, agent, "quiz", status="new") == [waiting]
    assert found(client, agent, "quiz", sla="on_track") == [waiting]
    assert found(client, agent, "quiz", sla="breached") == []


def test_the_queues_filters_narrow_the_results(
    container: Container,
    client: FlaskClient,
    bearer: Callable[[Role], Headers],
    clock: FakeClock,
) -> None:
    agent = bearer(Role.AGENT)  # named agent-1
    mine = request(container, "Lesson audio", "No audio", category=Category.CONTENT_LOADING)
    clock.advance(minutes=1)
    omars = request(container, "Lesson audio", "No audio", category=Category.CONTENT_LOADING)
    clock.advance(minutes=1)
    nobodys = request(container, "Lesson audio", "No audio", category=Category.LOGIN)
    container.desk.assign(mine, assignee="agent-1", actor="agent-1")
    container.desk.assign(omars, assignee="omar", actor="omar")
    caught_up(container)
    assert found(client, agent, "audio") == [nobodys, omars, mine]
    assert found(client, agent, "audio", assignee="me") == [mine]
    assert found(client, agent, "audio", assignee="omar") == [omars]
    assert found(client, agent, "audio", assignee="none") == [nobodys]
    assert found(client, agent, "audio", category="content_loading") == [omars, mine]
    assert found(client, agent, "audio", category="content_loading", assignee="none") == []
    assert found(client, agent, "audio", course="Another course") == []
    assert found(client, agent, "audio", status="acknowledged") == []


# ---- pages ---------------------------------------------------------------------------------------


def test_results_come_newest_first_a_page_at_a_time_by_cursor(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)
    together = [request(container, "Exam", "exam") for _ in range(3)]  # one instant
    clock.now = riyadh(11, 1, 11)
    later = [request(container, "Exam", "exam") for _ in range(2)]
    request(container, "Other", "other")
    caught_up(container)
    expected = [*sorted(later, reverse=True), *sorted(together, reverse=True)]
    seen: list[str] = []
    url = f"{SEARCH}?q=exam&per_page=2&category=login"
    while url:
        response = client.get(url, headers=agent)
        assert response.status_code == 200
        seen += [item["reference"] for item in response.json["items"]]
        link = response.headers.get("Link")
        assert (link is None) == (response.json["next_cursor"] is None)
        url = link[1 : link.index(">")] if link else ""
        if link:
            assert link.endswith('rel="next"') and "category=login" in link
    assert seen == expected


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "Zm9vfGJhcg==",  # foo|bar
        encode_cursor(riyadh(1, 1, 0, year=1), "CM-0000-0000"),
        encode_cursor(riyadh(1, 1, 0, year=9999), "CM-0000-0000"),
    ],
)
def test_a_forged_cursor_is_refused(client: FlaskClient, agent: Headers, cursor: str) -> None:
    response = client.get(SEARCH, query_string={"q": "exam", "cursor": cursor}, headers=agent)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "cursor" in response.json["errors"]


@pytest.mark.parametrize("rows_per_result", [1, search.WALK_ROWS_PER_RESULT])
def test_both_ways_to_a_page_answer_alike(
    container: Container,
    client: FlaskClient,
    agent: Headers,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    rows_per_result: int,
) -> None:
    """On PostgreSQL, a page is first looked for among the newest tickets, then among every
    match; with 1 row walked per result, the newest tickets (which do not match) are too
    many to walk past, and most pages are found the second way."""
    monkeypatch.setattr(search, "WALK_ROWS_PER_RESULT", rows_per_result)
    tickets = []
    for n in range(7):
        clock.advance(minutes=1)
        category = Category.LOGIN if n % 2 else Category.COMPLAINT
        tickets.append(request(container, f"Exam {n}", "exam lesson", category=category))
    for n in range(3):
        clock.advance(minutes=1)
        request(container, f"Quiz {n}", "quiz lesson", category=Category.LOGIN)
    container.desk.assign(tickets[3], assignee="omar", actor="omar")
    container.desk.respond(tickets[1], message="Looking", actor="omar")
    container.desk.resolve(tickets[4], summary="Done", actor="omar")
    caught_up(container)
    newest = tickets[::-1]
    assert found(client, agent, "exam", status="in_progress") == [tickets[1]]
    on_track = [ref for ref in newest if ref != tickets[4]]
    assert found(client, agent, "exam", sla="on_track", per_page=4) == on_track[:4]
    assert found(client, agent, "exam", per_page=3) == newest[:3]
    assert found(client, agent, "exam lesson", category="login") == [
        tickets[5],
        tickets[3],
        tickets[1],
    ]
    assert found(client, agent, "exa", assignee="omar") == [tickets[3]]
    assert found(client, agent, "exam nothing") == []
    response = client.get(SEARCH, query_string={"q": "exam", "per_page": 3}, headers=agent)
    second = {"q": "exam", "per_page": 3, "cursor": response.json["next_cursor"]}
    assert found(client, agent, **second) == newest[3:6]


def test_a_ticket_not_yet_in_the_queue_is_left_out_and_paging_goes_on(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock
) -> None:
    tickets = []
    for _ in range(4):
        clock.advance(minutes=1)
        tickets.append(request(container, "Exam", "exam"))
    caught_up(container)
    with container.engine.begin() as connection:  # as if the queue had not reached it yet
        connection.execute(sa.delete(queue_table).where(queue_table.c.reference == tickets[2]))
    first = client.get(SEARCH, query_string={"q": "exam", "per_page": 2}, headers=agent).json
    assert [item["reference"] for item in first["items"]] == [tickets[3]]
    rest = {"q": "exam", "per_page": 2, "cursor": first["next_cursor"]}
    assert found(client, agent, **rest) == [tickets[1], tickets[0]]


# ---- who may search, and what a query may be ---------------------------------------------


def test_only_the_support_team_may_search(
    client: FlaskClient, bearer: Callable[[Role], Headers]
) -> None:
    assert client.get(SEARCH, query_string={"q": "exam"}).status_code == 401
    for role in Role:
        status = client.get(SEARCH, query_string={"q": "exam"}, headers=bearer(role)).status_code
        assert status == (200 if role in (Role.AGENT, Role.SUPERVISOR) else 403), role


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"q": ""},
        {"q": "x" * 201},
        {"q": "exam", "per_page": "0"},
        {"q": "exam", "status": "resolved"},  # the queue's statuses: open ones
        {"q": "exam", "unknown": "1"},
        {"q": "exam", "after": "-1"},
        {"q": "exam", "after": "999999"},  # no such log position yet
    ],
)
def test_bad_queries_are_problems(
    client: FlaskClient, agent: Headers, query: dict[str, str]
) -> None:
    response = client.get(SEARCH, query_string=query, headers=agent)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"


HOSTILE = [
    '"',
    '""',
    "'",
    "*",
    "exam*",
    "NEAR(a b)",
    "NEAR(exam lesson, 2)",
    "a OR b",
    "exam OR lesson",
    "exam AND NOT lesson",
    "-exam",
    "^exam",
    "exam:*",
    "exam & !lesson | x",
    "--",
    "' OR 1=1 --",
    "'; DROP TABLE search_tickets; --",
    "\\",
    "\\'",
    "(",
    ")",
    "{exam}",
    "col:exam",
    "words:exam",
    "%",
    "_",
    "x" * 200,
    "اختبار " * 28,
    "!@#$%^&*()[]{};:,.<>/?|`~",
    "@",
    "a@b@c",
    "\u202eexam",
    "𝔢𝔵𝔞𝔪",
    "😀",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_any_text_is_a_query_of_plain_words(
    container: Container, client: FlaskClient, agent: Headers, query: str
) -> None:
    reference = request(container, "Exam lesson", "exam lesson NEAR or and not")
    caught_up(container)
    response = client.get(SEARCH, query_string={"q": query}, headers=agent)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    items = [item["reference"] for item in response.json["items"]]
    assert items in ([], [reference])
    if _only_words_of_the_ticket(query):
        assert items == [reference]  # the operators were words like any other


def _only_words_of_the_ticket(query: str) -> bool:
    wanted = terms(query)
    return bool(wanted.words) and set(wanted.words) <= {
        "exam",
        "lesson",
        "near",
        "or",
        "and",
        "not",
    }


CONTROLS = ["exam\x00lesson", "\x00", "exam\nlesson\tnot", "\x1b[2J", "\x85"]


@pytest.mark.parametrize("query", CONTROLS)
def test_controls_are_plain_text_to_the_search_and_refused_at_the_address(
    container: Container, client: FlaskClient, agent: Headers, clock: FakeClock, query: str
) -> None:
    reference = request(container, "Exam lesson", "exam lesson NEAR or and not")
    caught_up(container)
    page = search_page(container.engine, container.sla, clock(), terms(query), QueueFilter(), 10)
    assert [row["reference"] for row in page.rows] == (
        [reference] if _only_words_of_the_ticket(query) else []
    )
    # The web refuses controls in any address before a view sees them, as a problem.
    response = client.get(SEARCH, query_string={"q": query}, headers=agent)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"


def test_queries_wait_for_the_search_and_the_queue_with_after(
    container: Container, client: FlaskClient, agent: Headers
) -> None:
    stop = threading.Event()
    runners = build_runners(container)
    threads = [threading.Thread(target=runners[name].run, args=(stop,)) for name in runners]
    for thread in threads:
        thread.start()
    try:
        outcome = container.desk.submit(
            channel=Channel.WEB_FORM,
            requester_email="fresh@example.org",
            category=Category.LOGIN,
            course=COURSE,
            subject="Fresh",
            description="Just written",
        )
        response = client.get(
            SEARCH, query_string={"q": "fresh", "after": outcome.position}, headers=agent
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert response.status_code == 200
    assert [item["reference"] for item in response.json["items"]] == [outcome.reference]
    assert int(response.headers["X-Read-Model-Position"]) >= outcome.position


# ---- the read model ----------------------------------------------------------------------------


def test_a_long_conversation_keeps_its_earlier_words_up_to_the_cap(
    container: Container, client: FlaskClient, agent: Headers
) -> None:
    reference = request(container, "Long", "The first words stay findable")
    many = " ".join(f"w{n}" for n in range(MAX_WORDS_BYTES // 4))  # more than the cap holds
    container.desk.receive_follow_up(reference, message=many, channel=Channel.EMAIL)
    caught_up(container)
    assert found(client, agent, "findable") == [reference]
    assert found(client, agent, "w10") == [reference]
    assert found(client, agent, f"w{MAX_WORDS_BYTES // 4 - 1}") == []  # past the cap


@pytest.fixture
def history(container: Container, clock: FakeClock) -> Iterator[None]:
    act_at_random(container, clock, random.Random(5), 60)
    for n in range(5):
        reference = submit(container)
        container.desk.respond(reference, message=f"reply {n} about the exam", actor="sara")
    yield


def test_a_rebuild_answers_as_live_processing_did(
    container: Container, client: FlaskClient, agent: Headers, history: None
) -> None:
    queries = ["exam", "try again", "solved", "learner@example.org", "noura", "sign"]
    caught_up(container)
    before = {q: found(client, agent, q, per_page=500) for q in queries}
    assert all(before.values())
    build_runners(container)["search"].rebuild()
    after = {q: found(client, agent, q, per_page=500) for q in queries}
    assert after == before
    if container.engine.dialect.name == "sqlite":  # the triggers kept the index exact
        with container.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO search_fts (search_fts) VALUES ('integrity-check')"
            )
            rows = connection.execute(sa.text("SELECT count(*) FROM search_tickets")).scalar()
            indexed = connection.execute(sa.text("SELECT count(*) FROM search_fts")).scalar()
        assert indexed == rows


def test_every_filter_of_the_queue_is_a_filter_of_the_search() -> None:
    names = {field.name for field in dataclasses.fields(QueueFilter)}
    assert names == SEARCH_SIDE_FILTERS | QUEUE_SIDE_FILTERS


def test_normalised_words() -> None:
    assert words("أحمد إبراهيم آمنة") == ["احمد", "ابراهيم", "امنه"]
    assert words("مُسْتَشْفَى الـقاهرة") == ["مستشفي", "قاهره"]
    assert words("Ｆｕｌｌ CAFÉ ﷲ ١٢٣ snake_case") == [
        "full",
        "cafe",
        "الله",
        "123",
        "snake",
        "case",
    ]
    assert words("CM-6XQ4-G0AG") == ["cm", "6xq4", "g0ag"]
