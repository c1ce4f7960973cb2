"""What the tests build again and again: requests and tickets, histories, read-model snapshots,
mail, stored events, the calendar's day-by-day walk, a broker connection that can be cut.

A builder fills in what a test does not care about; the test names what it checks.
"""

from __future__ import annotations

import random
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import sqlalchemy as sa
from eventsourcing.persistence import StoredEvent
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import TestResponse

from application.attachments.inspection import Kept
from application.audit.seals import AuditKey
from application.bootstrap import Container
from application.desk import Outcome
from application.mail.notifications import Addresses
from domain.categories import Category
from domain.errors import DomainError, TemplateNotFound
from domain.escalation import EscalationReason
from domain.reference import Reference
from domain.request import Channel
from domain.sla import Complexity, SlaPolicy
from domain.template import Template, TemplateText
from domain.ticket import Ticket
from interfaces.mail.wiring import mail_broker, mailer, outbox_relay
from interfaces.web.lookup import LOOKUP_SECONDS_KEY
from interfaces.web.ratelimit import LIMIT_KEY
from projections.runner import build_runners, positions, read_models
from tests.conftest import FakeClock

RIYADH = ZoneInfo("Asia/Riyadh")
SUNDAY_10 = datetime(2026, 11, 1, 10, tzinfo=RIYADH)  # the `clock` fixture's start too
SLA = SlaPolicy.policy_default()

SUPPORT = "support@captainmama.org"
INFO = "info@captainmama.org"
ADDRESSES = Addresses(SUPPORT, INFO, INFO)

# The audit key as SUPPORTDESK_AUDIT_KEY sets it, and as the code holds it.
AUDIT_KEY_SETTING = "an audit key for the tests only!"
KEY = AuditKey(AUDIT_KEY_SETTING.encode())

# What a request says where the test does not care: one learner, one course, one problem.
LEARNER = "learner@example.org"
COURSE = "Positive Parenting 101"
REQUEST_DETAILS = {
    "requester_email": LEARNER,
    "requester_name": "Noura",
    "subject": "Cannot sign in",
    "description": "The sign-in page says my password is wrong.",
}


def riyadh(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    """An instant on the wall clock in Riyadh, in 2026 unless said otherwise."""
    return datetime(year, month, day, hour, minute, tzinfo=RIYADH)


# ---- tickets -----------------------------------------------------------------------------------


def new_ticket(category: Category | None = Category.LOGIN, **changes: Any) -> Ticket:
    """A ticket made in memory by `Ticket.submit`, by the form on Sunday at 10:00 in Riyadh;
    `changes` replace any of its arguments."""
    arguments: dict[str, Any] = {
        "reference": Reference.generate(),
        "channel": Channel.WEB_FORM,
        **REQUEST_DETAILS,
        "category": category,
        "course": COURSE,
        "language": "ar",
        "at": SUNDAY_10,
        "sla": SLA,
    }
    return Ticket.submit(**(arguments | changes))


def submit(
    container: Container,
    category: Category | None = Category.LOGIN,
    course: str | None = COURSE,
    *,
    email: str = LEARNER,
) -> str:
    """A request recorded by the desk; its reference. It came by the form, or by email when it
    lacks its category or course, which the form always asks for (P1, P3.2)."""
    return _request(container, category, course, email).reference


def submit_with_replies(
    container: Container, clock: FakeClock, replies: int = 3
) -> tuple[str, list[int]]:
    """A request and `replies` replies by agent.sara, an hour apart ("reply 1", ...); its
    reference and its events' log positions."""
    outcome = _request(container, Category.LOGIN, COURSE, LEARNER)
    positions = [outcome.position]
    for n in range(replies):
        clock.advance(hours=1)
        reply = container.desk.respond(
            outcome.reference, message=f"reply {n + 1}", actor="agent.sara"
        )
        positions.append(reply.position)
    return outcome.reference, positions


def _request(
    container: Container, category: Category | None, course: str | None, email: str
) -> Outcome:
    complete = category is not None and course is not None
    return container.desk.submit(
        channel=Channel.WEB_FORM if complete else Channel.EMAIL,
        category=category,
        course=course,
        **(REQUEST_DETAILS | {"requester_email": email}),
    )


def recorded(container: Container) -> int:
    """How many events the log holds."""
    return int(container.desk.recorder.max_notification_id() or 0)


# ---- histories and read models -----------------------------------------------------------------


BASIC_KINDS = 10
"""The kinds of `act` drawn unless a history asks for more: the seeds of older tests keep
giving the histories they were written for."""
EVERY_KIND = 22
"""Every kind of `act`: ownership, internal notes, owner warnings, canned responses, holds,
redactions, erasures and files too."""


def act_at_random(
    container: Container,
    clock: FakeClock,
    rng: random.Random,
    steps: int,
    kinds: int = BASIC_KINDS,
) -> None:
    """A varied history: every kind of ticket event, interleaved across tickets; the first
    `kinds` kinds of `act` (`EVERY_KIND` for all)."""
    references: list[str] = []
    for step in range(steps):
        clock.advance(minutes=rng.uniform(5, 400))
        if step % 3 == 0 or not references:
            category = rng.choice([*Category, None])
            course = rng.choice([f"C{step % 4}"] * 5 + [None])
            references.append(submit(container, category, course))
            continue
        try:
            act(
                container,
                rng.choice(references),
                rng.randrange(kinds),
                rng.choice(["sara", "omar"]),
            )
        except DomainError:
            pass  # the ticket's state forbids it: nothing recorded


# An internal note with what text may hold: tabs, line breaks, backslashes, a NUL.
NOTE = "Called the learner\tback\\later\r\nno answer\x00yet"


def act(container: Container, reference: str, kind: int, agent: str) -> None:
    """One of the `EVERY_KIND` things that happen to a ticket after its submission."""
    desk = container.desk
    if kind == 0:
        desk.acknowledge(reference, message_id=f"<{reference}@desk>", actor="system:mailer")
    elif kind == 1:
        desk.respond(reference, message="Try again", actor=agent)
    elif kind == 2:
        desk.classify(reference, complexity=Complexity.COMPLEX, actor=agent)
    elif kind == 3:
        later = desk.ticket(reference).resolution_due + timedelta(days=2)
        desk.extend_deadline(reference, resolution_due=later, reason="more contact", actor=agent)
    elif kind == 4:
        desk.receive_follow_up(reference, message="any news?", channel=Channel.EMAIL)
    elif kind == 5:
        desk.escalate(reference, reason=EscalationReason.AGENT, actor=agent)
    elif kind == 6:
        desk.forward_to_management(reference, department="product", note="good", actor=agent)
    elif kind == 7:
        desk.resolve(reference, summary="Solved", actor=agent)
    elif kind == 8:
        desk.reopen(reference, reason="not solved", actor="requester")
    elif kind == 9:
        rng = random.Random(reference)
        desk.supply_details(reference, category=rng.choice(list(Category)), course="C9")
    elif kind == 10:
        desk.add_note(reference, text=NOTE, actor=agent)
    elif kind == 11:
        desk.assign(reference, assignee=agent, actor=agent)  # refused while another owns it
    elif kind == 12:
        desk.unassign(reference, actor=agent)  # refused unless the agent owns it
    elif kind == 13:
        running = desk.ticket(reference).running_deadlines()
        if running:  # the owner is warned of the deadline that comes first
            deadline, due = min(running.items(), key=lambda clock: clock[1])
            desk.warn_owner(reference, deadline=deadline, due=due, actor="system:sla-watch")
    elif kind in (14, 15):
        template = canned(container, resolves=kind == 15)
        desk.answer(reference, text=lambda _: "Please try again", template=template, actor=agent)
    elif kind == 17:
        desk.place_hold(reference, reason="a dispute", actor=agent)
    elif kind == 18:  # a hold placed, if there was none, and lifted
        if desk.ticket(reference).hold is None:
            desk.place_hold(reference, reason="a short dispute", actor=agent)
        desk.lift_hold(reference, reason="settled", actor=agent)
    elif kind == 19:
        desk.redact(reference, version=1, field="description", reason="a password", actor=agent)
    elif kind == 20:  # the ticket's part of an erasure (the key stays: other tickets share it)
        desk.erase_requester_data(reference, reason="asked", basis="request", actor=agent)
    elif kind == 21:  # a screenshot with a follow-up
        screenshot = Kept("error.txt", "text/plain", f"error 500 on {reference}".encode())
        desk.receive_follow_up(
            reference, message="The error page", channel=Channel.WEB_FORM, files=[screenshot]
        )
    else:
        desk.receive_follow_up(
            reference,
            message="Is this about my ticket?",
            channel=Channel.EMAIL,
            sender="someone.else@example.org",
            subject=f"Re: [{reference}]",
            verified=False,
        )


def canned(container: Container, *, resolves: bool = False) -> Template:
    """A canned response, written on first use: one that replies, or one that classifies the
    problem complex and resolves it."""
    slug = "solved-complex" if resolves else "try-again"
    try:
        return container.desk.template(slug)
    except TemplateNotFound:
        text = TemplateText(
            title=slug,
            text_ar="حاول مرة أخرى",
            text_en="Please try again",
            complexity=Complexity.COMPLEX if resolves else None,
            resolves=resolves,
        )
        return container.desk.create_template(slug, text=text, reason="asked often", actor="lead")


def caught_up(container: Container) -> None:
    """Every read model brought up to the head of the log."""
    for runner in build_runners(container).values():
        runner.catch_up()


def snapshot(container: Container) -> dict[str, Any]:
    """Every read model's rows, in key order, and its position."""
    tables: dict[str, Any] = {}
    with container.engine.connect() as connection:
        for model in read_models(container):
            for table in model.tables:
                query = sa.select(table).order_by(*table.primary_key.columns)
                tables[table.name] = [tuple(row) for row in connection.execute(query)]
    tables["positions"] = positions(container)
    return tables


# ---- the web side ------------------------------------------------------------------------------

# A request as the public API takes it (P1.2).
API_REQUEST = {
    "email": "learner@example.com",
    "category": "login",
    "course": "مقدمة في البرمجة",
    "subject": "لا أستطيع تسجيل الدخول",
    "description": "تظهر رسالة خطأ عند إدخال كلمة المرور.",
    "name": "سارة",
    "language": "ar",
}


def submit_by_api(
    client: FlaskClient, body: dict[str, Any] | None = None, **headers: str
) -> TestResponse:
    """A request through the public API, `API_REQUEST` unless another body is given; the answer."""
    return client.post("/api/v1/tickets", json=body or API_REQUEST, headers=headers)


def without_limits(app: Flask) -> Flask:
    """The app with its rate limit and the status lookup's floor lifted, for tests that send
    many requests from one client."""
    app.config[LIMIT_KEY] = "1000000/minute"
    app.config[LOOKUP_SECONDS_KEY] = 0
    return app


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: FlaskClient) -> Samples:
    """`/metrics` read as Prometheus samples: value by name and labels."""
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for sample in family.samples
    }


# ---- mail --------------------------------------------------------------------------------------

ENGLISH = "I cannot sign in.\nCategory: login\nCourse: Parenting 101\n"


def mail(body: str, subject: str, to: str = SUPPORT, sender: str = LEARNER) -> EmailMessage:
    """An email as a learner's mail program sends it, with a Message-ID of its own."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    return message


def send_mail(container: Container, batch_size: int = 200) -> list[Path]:
    """Relay and send every email the log causes (in-process broker, `.eml` files), the relay
    reading `batch_size` events at a time; the files."""
    broker = mail_broker(container.settings, f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    relay, sender = outbox_relay(container, broker), mailer(container, broker)
    relay.batch_size = batch_size
    head = container.desk.recorder.max_notification_id() or 0
    while relay.relay_once() or relay.position() < head:
        pass
    sender.drain()
    return sorted(Path(container.settings.smtp_url.removeprefix("file:")).glob("*.eml"))


# ---- the event log -----------------------------------------------------------------------------


def stored(originator: uuid.UUID, version: int) -> StoredEvent:
    """A stored event of `originator` at `version`, with a placeholder topic and state."""
    return StoredEvent(
        originator_id=originator, originator_version=version, topic="t", state=b"\x00\xff"
    )


# ---- the calendar, walked day by day -----------------------------------------------------------

SA_HOLIDAYS = holidays.country_holidays("SA", years=range(2025, 2031))
ADDED, REMOVED = date(2026, 3, 25), date(2027, 5, 19)  # the operator's changes to the holidays


def amended_business_day(day: date) -> bool:
    """Sunday to Thursday, except the Saudi holidays as amended by ADDED and REMOVED."""
    holiday = (day in SA_HOLIDAYS or day == ADDED) and day != REMOVED
    return day.weekday() in (6, 0, 1, 2, 3) and not holiday


def riyadh_business_intervals(first: date) -> Iterator[tuple[datetime, datetime]]:
    """09:00-17:00 of each working day from `first` on, walking one day at a time."""
    day = first
    while True:
        if amended_business_day(day):
            yield datetime.combine(day, time(9), RIYADH), datetime.combine(day, time(17), RIYADH)
        day += timedelta(days=1)


def walk_add_in_riyadh(start: datetime, hours: float) -> datetime:
    """The instant `hours` business hours after `start`, found by walking the working days."""
    remaining = timedelta(hours=hours)
    for opening, closing in riyadh_business_intervals(start.astimezone(RIYADH).date()):
        begin = max(opening, start)
        if begin < closing:
            if begin + remaining <= closing:
                return begin + remaining
            remaining -= closing - begin
    raise AssertionError("unreachable: the walk never runs out of days")


def walk_between_in_riyadh(a: datetime, b: datetime) -> timedelta:
    """The business time from `a` to `b`, found by walking the working days."""
    total = timedelta()
    for opening, closing in riyadh_business_intervals(a.astimezone(RIYADH).date()):
        if opening >= b:
            return total
        total += max(timedelta(), min(closing, b) - max(opening, a))
    raise AssertionError("unreachable: the walk never runs out of days")


# ---- a connection to RabbitMQ that can be cut --------------------------------------------------

RABBITMQ = ("127.0.0.1", 5672)


class Proxy:
    """A TCP forwarder to RabbitMQ that the test can cut and restore on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Refuse new connections and cut the open ones, as a broker restart does."""
        with self._lock:
            sockets, self._sockets = self._sockets, []
            listener, self._listener = self._listener, None
        for sock in [*sockets, *([listener] if listener else [])]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(RABBITMQ)
            with self._lock:
                self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, target):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


# ---- a log with an event no read model can apply --------------------------------------------

END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def record_extension(container: Container, clock: FakeClock, reference: str, due: datetime) -> int:
    """An extension recorded without the domain's check, as an older release did; its position."""
    ticket = container.desk.ticket(reference)
    ticket._deadline_extended(
        resolution_due=due, reason="waiting for the vendor", actor="sara", timestamp=clock()
    )
    return max(recording.notification.id for recording in container.desk.save(ticket))


def attacked_log(container: Container, clock: FakeClock) -> tuple[str, int]:
    """A varied log with the extension to 9999 in its middle: the ticket and the position."""
    act_at_random(container, clock, random.Random(7), 30)
    reference = submit(container)
    position = record_extension(container, clock, reference, END_OF_TIME)
    container.desk.respond(reference, message="Still on it", actor="sara")
    act_at_random(container, clock, random.Random(8), 30)
    return reference, position
