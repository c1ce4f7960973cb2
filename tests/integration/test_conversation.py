"""A ticket's conversation for agents and supervisors (`GET /api/v1/tickets/<ref>/conversation`),
from its read model, on SQLite and PostgreSQL: every kind of item in order, what the requester
saw, roles, read-your-writes, incremental refresh, errors; and that the requester's own status
answers never show what is internal.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.users import Role
from domain.categories import Category
from domain.deadlines import Deadline
from domain.escalation import SUPERVISORY_MANAGEMENT, EscalationReason
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity
from domain.template import TemplateText
from interfaces.web.schemas.conversation import ConversationSchema
from projections.conversation import KINDS, Conversation, conversation
from projections.quarantine import failed_events
from projections.runner import build_runners
from projections.ticket_events import EVERY_TICKET_EVENT
from tests.builders import LEARNER, record_extension, submit, without_limits
from tests.conftest import FakeClock
from tests.waiting import Recorded

OWNER = "agent.sara"

# What only the team knows: none of it may ever reach the requester.
NOTE = "Internal 7QX: the learner's two accounts were merged by hand"
ESCALATION_NOTE = "Internal 7QX: the third time this week"
FORWARD_NOTE = "Internal 7QX: product should look at this"
DEPARTMENT = "Department 7QX"

# (version, kind, visibility, actor, text) of the ticket `every_kind` builds, an hour apart.
THREAD = [
    (1, "submitted", "requester", "requester", "The lesson page stays blank."),
    (2, "acknowledged", "requester", "system:mailer", None),
    (3, "follow_up_received", "requester", "requester", "Is anyone there?"),
    (4, "details_supplied", "requester", "requester", None),
    (5, "assigned", "internal", OWNER, None),
    (6, "responded", "requester", OWNER, "Please clear the browser's cache."),
    (7, "note_added", "internal", OWNER, NOTE),
    (8, "classified", "requester", OWNER, None),
    (9, "deadline_extended", "requester", OWNER, "Waiting for the platform team"),
    (10, "escalated", "internal", OWNER, ESCALATION_NOTE),
    (11, "deadline_at_risk", "internal", "system:sla-watch", None),
    (12, "forwarded_to_management", "internal", OWNER, FORWARD_NOTE),
    (13, "unassigned", "internal", OWNER, None),
    (14, "classified", "internal", "omar", None),
    (15, "resolved", "requester", "omar", "Fixed in the latest release."),
    (16, "reopened", "requester", "requester", "Still blank for me."),
    (17, "follow_up_received", "requester", "requester", "It is still blank today."),
    (18, "follow_up_received", "requester", "requester", "[redacted]"),
    (19, "field_redacted", "internal", OWNER, "A password in the message"),
    (20, "hold_placed", "internal", OWNER, "A dispute over the refund"),
    (21, "hold_lifted", "internal", OWNER, "The dispute was settled"),
]
ERASURE = "requester_data_erased"
"""A kind the thread leaves out, as it would make every text of it `[erased]`: the erasure's
thread is tests/integration/test_privacy_erasure.py's."""
FILES = "files_attached"
"""The other kind it leaves out: the files' items are tests/integration/test_attachments.py's."""


def every_kind(container: Container, clock: FakeClock) -> str:
    """A ticket through which every kind of ticket event passes, an hour apart (`THREAD`)."""
    desk = container.desk
    template = desk.create_template(
        "clear-cache",
        text=TemplateText("Clear the cache", "امسح ذاكرة المتصفح.", "Clear the cache."),
        reason="asked daily",
        actor="lead",
    )
    solved = desk.create_template(
        "fixed-in-release",
        text=TemplateText("Fixed", "أصلحناه.", "Fixed.", resolves=True),
        reason="asked daily",
        actor="lead",
    )
    reference = desk.submit(
        channel=Channel.EMAIL,
        requester_email=LEARNER,
        category=None,
        course=None,
        subject="Blank lesson",
        description="The lesson page stays blank.",
        language="en",
    ).reference
    steps: list[Callable[[], Any]] = [
        lambda: desk.acknowledge(reference, message_id="<receipt-1@desk>", actor="system:mailer"),
        lambda: desk.receive_follow_up(
            reference,
            message="Is anyone there?",
            channel=Channel.EMAIL,
            sender="other@example.org",
            subject=f"Re: [{reference}] Blank lesson",
            verified=False,
        ),
        lambda: desk.supply_details(reference, category=Category.SUGGESTION, course="Design 2"),
        lambda: desk.assign(reference, assignee=OWNER, actor=OWNER),
        lambda: desk.respond(
            reference,
            message="Please clear the browser's cache.",
            actor=OWNER,
            template=template.use(),
        ),
        lambda: desk.add_note(reference, text=NOTE, actor=OWNER),
        lambda: desk.classify(reference, complexity=Complexity.COMPLEX, actor=OWNER),
        lambda: desk.extend_deadline(
            reference,
            resolution_due=desk.ticket(reference).resolution_due + timedelta(days=2),
            reason="Waiting for the platform team",
            actor=OWNER,
        ),
        lambda: desk.escalate(
            reference, reason=EscalationReason.AGENT, actor=OWNER, note=ESCALATION_NOTE
        ),
        lambda: desk.warn_owner(
            reference,
            deadline=Deadline.RESOLUTION,
            due=desk.ticket(reference).resolution_due,
            actor="system:sla-watch",
        ),
        lambda: desk.forward_to_management(
            reference, department=DEPARTMENT, note=FORWARD_NOTE, actor=OWNER
        ),
        lambda: desk.unassign(reference, actor=OWNER),
        lambda: desk.classify(reference, complexity=Complexity.SIMPLE, actor="omar"),
        lambda: desk.resolve(
            reference, summary="Fixed in the latest release.", actor="omar", template=solved.use()
        ),
        lambda: desk.reopen(reference, reason="Still blank for me.", actor="requester"),
        lambda: desk.receive_follow_up(
            reference, message="It is still blank today.", channel=Channel.WEB_FORM
        ),
        lambda: desk.receive_follow_up(
            reference, message="My password is Quartz-Lantern-9", channel=Channel.WEB_FORM
        ),
        lambda: desk.redact(
            reference,
            version=18,
            field="message",
            reason="A password in the message",
            actor=OWNER,
        ),
        lambda: desk.place_hold(reference, reason="A dispute over the refund", actor=OWNER),
        lambda: desk.lift_hold(reference, reason="The dispute was settled", actor=OWNER),
    ]
    for step in steps:
        clock.advance(hours=1)
        step()
    return reference


@pytest.fixture
def agent(bearer: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    return bearer(Role.AGENT)


def caught_up(container: Container) -> None:
    """The conversation brought up to the head of the log (the other read models left alone)."""
    build_runners(container)["conversation"].catch_up()


@pytest.fixture
def thread(container: Container, clock: FakeClock) -> str:
    """The reference of a ticket with every kind of item, its conversation caught up."""
    reference = every_kind(container, clock)
    caught_up(container)
    return reference


def conversation_of(
    client: FlaskClient, reference: str, headers: dict[str, str], **query: Any
) -> Any:
    return client.get(
        f"/api/v1/tickets/{reference}/conversation", query_string=query, headers=headers
    )


def read(client: FlaskClient, reference: str, headers: dict[str, str], **query: Any) -> Any:
    answer = conversation_of(client, reference, headers, **query)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- the thread ----------------------------------------------------------------------------


def test_every_kind_of_item_in_order_with_who_and_whether_the_requester_saw_it(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    body = read(client, thread, agent)

    assert body["reference"] == thread and body["version"] == len(THREAD)
    got = [(i["version"], i["kind"], i["visibility"], i["actor"], i["text"]) for i in body["items"]]
    assert got == THREAD
    assert {kind for _, kind, *_ in THREAD} | {ERASURE, FILES} == set(KINDS)
    assert len(KINDS) == len(EVERY_TICKET_EVENT)  # one kind per ticket event


def test_each_item_is_at_its_instant_in_utc_and_in_riyadh(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    items = read(client, thread, agent)["items"]

    submitted = datetime(2026, 11, 1, 7, tzinfo=UTC)  # the clock's start
    for item in items:
        at, local = instant(item["at"]), instant(item["at_local"])
        assert at == local == submitted + timedelta(hours=item["version"] - 1)
        assert at.utcoffset() == timedelta(0)
        assert local.utcoffset() == timedelta(hours=3)
    assert items[0]["at_local"] == "2026-11-01T10:00:00+03:00"


def test_each_kind_carries_its_own_fields(
    client: FlaskClient, container: Container, thread: str, agent: dict[str, str]
) -> None:
    items = {i["version"]: i for i in read(client, thread, agent)["items"]}
    desk = container.desk

    def due_after(version: int) -> datetime:
        return desk.ticket(thread, version=version).resolution_due

    common = {"version", "kind", "visibility", "actor", "at", "at_local", "text"}
    assert {v: set(i) - common for v, i in items.items()} == {
        1: {"subject", "channel", "category", "course", "language"},
        2: {"message_id"},
        3: {"channel", "sender", "subject", "verified"},
        4: {"category", "course"},
        5: {"assignee"},
        6: {"template", "template_version"},
        7: set(),
        8: {"complexity", "resolution_due"},
        9: {"resolution_due"},
        10: {"reason", "level", "deadline"},
        11: {"target", "due"},
        12: {"department"},
        13: {"assignee"},
        14: {"complexity", "resolution_due"},
        15: {"template", "template_version"},
        16: {"resolution_due"},
        17: {"channel", "sender", "subject", "verified"},
        18: {"channel", "sender", "subject", "verified"},
        19: {"of_version", "field"},
        20: set(),
        21: set(),
    }
    assert items[1] | {"subject": "Blank lesson", "channel": "email", "language": "en"} == items[1]
    assert (items[1]["category"], items[1]["course"]) == (None, None)
    assert items[2]["message_id"] == "<receipt-1@desk>"
    assert (items[3]["channel"], items[3]["sender"], items[3]["verified"]) == (
        "email",
        "other@example.org",
        False,
    )
    assert items[3]["subject"] == f"Re: [{thread}] Blank lesson"
    assert (items[17]["channel"], items[17]["verified"]) == ("web_form", True)
    assert (items[4]["category"], items[4]["course"]) == ("suggestion", "Design 2")
    assert items[5]["assignee"] == items[13]["assignee"] == OWNER
    assert (items[6]["template"], items[6]["template_version"]) == ("clear-cache", 1)
    assert (items[15]["template"], items[15]["template_version"]) == ("fixed-in-release", 1)
    assert (items[8]["complexity"], items[14]["complexity"]) == ("complex", "simple")
    for version in (8, 9, 14, 16):  # the expected resolution each one set, in Riyadh time
        due = instant(items[version]["resolution_due"])
        assert due == due_after(version) and due.utcoffset() == timedelta(hours=3)
    assert due_after(9) == due_after(8) + timedelta(days=2)
    assert (
        items[10]
        | {
            "reason": "agent",
            "level": SUPERVISORY_MANAGEMENT,
            "deadline": None,
        }
        == items[10]
    )
    assert items[11]["target"] == "resolution"
    assert instant(items[11]["due"]) == due_after(10)
    assert items[12]["department"] == DEPARTMENT


def test_the_answer_is_exactly_what_the_document_describes(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    body = read(client, thread, agent)

    schema = ConversationSchema()
    loaded = schema.load(body)  # refuses any field the document does not name, or a bad value
    assert schema.dump(loaded) == body  # and nothing in it is written otherwise than described


def test_a_supervisor_reads_it_too(
    client: FlaskClient, thread: str, bearer: Callable[[Role], dict[str, str]]
) -> None:
    assert len(read(client, thread, bearer(Role.SUPERVISOR))["items"]) == len(THREAD)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.AUDITOR, Role.INTAKE])
def test_other_roles_are_refused(
    client: FlaskClient, thread: str, bearer: Callable[[Role], dict[str, str]], role: Role
) -> None:
    answer = conversation_of(client, thread, bearer(role))

    assert answer.status_code == 403
    assert answer.content_type == "application/problem+json"
    assert NOTE not in answer.get_data(as_text=True)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sd_not-a-token"}])
def test_without_a_valid_token_the_answer_is_401(
    client: FlaskClient, thread: str, headers: dict[str, str]
) -> None:
    answer = conversation_of(client, thread, headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert NOTE not in answer.get_data(as_text=True)


# ---- filters -------------------------------------------------------------------------------


def test_since_gives_only_the_items_after_a_version_and_the_current_version(
    client: FlaskClient, container: Container, thread: str, agent: dict[str, str]
) -> None:
    later = read(client, thread, agent, since=17)
    assert [i["version"] for i in later["items"]] == [18, 19, 20, 21]
    assert later["version"] == 21

    nothing_new = read(client, thread, agent, since=21)
    assert (nothing_new["items"], nothing_new["version"]) == ([], 21)
    assert read(client, thread, agent, since=1000)["items"] == []

    container.desk.add_note(thread, text="Called again", actor="omar")
    caught_up(container)
    refreshed = read(client, thread, agent, since=nothing_new["version"])
    assert [(i["version"], i["text"]) for i in refreshed["items"]] == [(22, "Called again")]
    assert refreshed["version"] == 22


@pytest.mark.parametrize("visibility", ["requester", "internal"])
def test_visibility_keeps_the_items_of_one_kind_of_audience(
    client: FlaskClient, thread: str, agent: dict[str, str], visibility: str
) -> None:
    body = read(client, thread, agent, visibility=visibility)

    expected = [(v, kind) for v, kind, seen, *_ in THREAD if seen == visibility]
    assert [(i["version"], i["kind"]) for i in body["items"]] == expected
    assert body["version"] == len(THREAD)  # the ticket's, whatever the filter leaves out
    assert (NOTE in str(body)) is (visibility == "internal")


def test_since_and_visibility_together(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    body = read(client, thread, agent, since=12, visibility="internal")

    assert [i["version"] for i in body["items"]] == [13, 14, 19, 20, 21]


# ---- read-your-writes ------------------------------------------------------------------------


def test_after_a_command_the_answer_holds_it(
    client: FlaskClient, container: Container, thread: str, agent: dict[str, str]
) -> None:
    position = container.desk.add_note(thread, text="Asked the vendor", actor="omar").position
    catching_up = Recorded(lambda: caught_up(container), "the read models catching up")
    timer = threading.Timer(0.2, catching_up.start)  # after the request began to wait
    timer.start()
    try:
        answer = conversation_of(client, thread, agent, after=position)
    finally:
        timer.join()
        catching_up.finish()

    assert answer.status_code == 200
    assert int(answer.headers["X-Read-Model-Position"]) >= position
    assert answer.get_json()["items"][-1]["text"] == "Asked the vendor"


def test_after_a_position_the_read_model_has_not_reached_is_503_with_retry_after(
    client: FlaskClient, container: Container, thread: str, agent: dict[str, str]
) -> None:
    reached = container.desk.recorder.max_notification_id()
    position = container.desk.add_note(thread, text="Asked the vendor", actor="omar").position

    answer = conversation_of(client, thread, agent, after=position)

    assert answer.status_code == 503
    assert answer.content_type == "application/problem+json"
    assert answer.headers["Retry-After"] == "1"
    plain = conversation_of(client, thread, agent)
    assert plain.headers["X-Read-Model-Position"] == str(reached)
    assert "Asked the vendor" not in plain.get_data(as_text=True)


def test_after_a_position_the_log_does_not_have_yet_is_422(
    client: FlaskClient, container: Container, thread: str, agent: dict[str, str]
) -> None:
    beyond = (container.desk.recorder.max_notification_id() or 0) + 1

    answer = conversation_of(client, thread, agent, after=beyond)

    assert answer.status_code == 422
    assert answer.get_json()["errors"] == {"after": ["No event has this position yet."]}


# ---- errors --------------------------------------------------------------------------------


def test_a_ticket_the_read_model_has_not_reached_is_404_until_after_names_it(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    caught_up(container)
    outcome = container.desk.submit(
        channel=Channel.EMAIL,
        requester_email=LEARNER,
        category=None,
        course=None,
        subject="Too new",
        description="Recorded a moment ago.",
    )

    assert conversation(container.engine, outcome.reference) == Conversation(
        outcome.reference, 0, []
    )
    assert conversation_of(client, outcome.reference, agent).status_code == 404
    catching_up = Recorded(lambda: caught_up(container), "the conversation catching up")
    timer = threading.Timer(0.2, catching_up.start)
    timer.start()
    try:
        answer = conversation_of(client, outcome.reference, agent, after=outcome.position)
    finally:
        timer.join()
        catching_up.finish()
    assert answer.status_code == 200
    assert [i["text"] for i in answer.get_json()["items"]] == ["Recorded a moment ago."]


@pytest.mark.parametrize(
    "reference",
    [
        str(Reference.generate()),  # well formed, but no ticket has it
        "CM-0000-0001",  # its check symbol does not match
        "not-a-reference",
        "x" * 5000,
    ],
)
def test_an_unknown_reference_is_404(
    client: FlaskClient, thread: str, agent: dict[str, str], reference: str
) -> None:
    answer = conversation_of(client, reference, agent)

    assert answer.status_code == 404
    assert answer.content_type == "application/problem+json"
    assert answer.get_json()["detail"] == "No ticket has this reference."


def test_the_reference_is_read_as_people_type_it(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    typed = thread.lower().replace("-", " ").replace("0", "o")

    assert read(client, typed, agent)["reference"] == thread


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "-1"}, "since"),
        ({"since": "soon"}, "since"),
        ({"since": str(2**31)}, "since"),
        ({"since": "9" * 40}, "since"),
        ({"since": "1.5"}, "since"),
        ({"visibility": "public"}, "visibility"),
        ({"visibility": ""}, "visibility"),
        ({"after": "-5"}, "after"),
        ({"after": str(2**64)}, "after"),
        ({"after": "now"}, "after"),
        ({"page": "2"}, "page"),
    ],
)
def test_bad_parameters_are_422_problems(
    client: FlaskClient, thread: str, agent: dict[str, str], query: dict[str, str], field: str
) -> None:
    answer = conversation_of(client, thread, agent, **query)

    assert answer.status_code == 422, answer.get_data(as_text=True)
    assert answer.content_type == "application/problem+json"
    assert set(answer.get_json()["errors"]) == {field}


def test_control_characters_in_the_query_are_a_400_problem(
    client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    answer = conversation_of(client, thread, agent, visibility="internal\x00")

    assert answer.status_code == 400
    assert answer.content_type == "application/problem+json"


# ---- what requesters write -------------------------------------------------------------------


def test_nul_and_huge_texts_never_stop_the_read_model(
    client: FlaskClient, container: Container, agent: dict[str, str]
) -> None:
    description = "A" * 60_000 + "\x00 and after it"
    reference = container.desk.submit(
        channel=Channel.EMAIL,
        requester_email=LEARNER,
        category=None,
        course=None,
        subject="Nul\x00 in the subject",
        description=description,
    ).reference
    message = "\\N\t" * 3000 + "\x00"  # COPY's own escapes, and a NUL, 9,001 characters
    container.desk.receive_follow_up(
        reference, message=message, channel=Channel.EMAIL, sender="x\x00@example.org"
    )
    caught_up(container)

    items = read(client, reference, agent)["items"]
    assert not [e for e in failed_events(container) if e.read_model == "conversation"]
    assert items[0]["text"] == description.replace("\x00", "\ufffd")
    assert items[0]["subject"] == "Nul\ufffd in the subject"
    assert items[1]["text"] == message.strip().replace("\x00", "\ufffd")
    assert items[1]["sender"] == "x\ufffd@example.org"


def test_an_extension_recorded_near_year_9999_is_shown_in_utc(
    client: FlaskClient, container: Container, clock: FakeClock, agent: dict[str, str]
) -> None:
    """Riyadh's wall clock of the last hours of 9999 lies past the year 9999 a datetime holds."""
    reference = submit(container)
    end = datetime(9999, 12, 31, 23, tzinfo=UTC)
    record_extension(container, clock, reference, end)  # as an older release recorded it
    container.desk.respond(reference, message="Still on it", actor="sara")
    caught_up(container)

    items = read(client, reference, agent)["items"]
    assert [i["kind"] for i in items] == ["submitted", "deadline_extended", "responded"]
    assert items[1]["resolution_due"] == "9999-12-31T23:00:00+00:00"
    assert not [e for e in failed_events(container) if e.read_model == "conversation"]


# ---- the requester sees nothing internal -----------------------------------------------------


def internal_words(client: FlaskClient, reference: str, headers: dict[str, str]) -> set[str]:
    """Every text and value of the ticket's internal items, as the team reads them."""
    items = read(client, reference, headers, visibility="internal")["items"]
    words = {
        str(value)
        for item in items
        for name, value in item.items()
        if name in ("text", "department", "assignee") and value
    }
    assert {NOTE, ESCALATION_NOTE, FORWARD_NOTE, DEPARTMENT, OWNER} <= words
    return words


def test_the_status_api_never_shows_an_internal_item(
    app: Flask, client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    without_limits(app)
    answer = client.post("/api/v1/status", json={"reference": thread, "email": LEARNER})

    assert answer.status_code == 200
    assert set(answer.get_json()) == {
        "reference",
        "status",
        "submitted_at",
        "first_response_due",
        "resolution_due",
    }
    said = answer.get_data(as_text=True)
    assert not [word for word in internal_words(client, thread, agent) if word in said]


def test_the_status_page_never_shows_an_internal_item(
    app: Flask, client: FlaskClient, thread: str, agent: dict[str, str]
) -> None:
    without_limits(app)
    form = client.get("/support/status?lang=en")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.get_data(as_text=True))
    assert token is not None
    data = {"reference": thread, "email": LEARNER, "csrf_token": token.group(1)}

    page = client.post("/support/status?lang=en", data=data)

    html = unescape(page.get_data(as_text=True))
    assert page.status_code == 200 and thread in html  # the requester's ticket was found
    assert not [word for word in internal_words(client, thread, agent) if word in html]
    assert "7QX" not in html


# ---- the document --------------------------------------------------------------------------


def test_the_openapi_document_describes_it(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/tickets/{ref}/conversation"]["get"]

    assert operation["x-roles"] == ["agent", "supervisor"]
    assert operation["security"] == [{"bearer": []}]
    assert {p["name"] for p in operation["parameters"]} == {"after", "since", "visibility"}
    assert {"200", "401", "403", "404", "422", "503"} <= set(map(str, operation["responses"]))
    assert "X-Read-Model-Position" in operation["responses"]["200"]["headers"]
    item = document["components"]["schemas"]["ConversationItem"]
    assert item["properties"]["kind"]["enum"] == list(KINDS)
    assert item["properties"]["visibility"]["enum"] == ["requester", "internal"]
