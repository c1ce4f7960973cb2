"""Real mail written by others, through the doors a mail server uses: the HTTP pipe and the
SMTP listener (P1.1, P6.1).

The corpus (`tests/corpus/mail`, its README names the sources) holds bounces and reports from
dozens of mail servers, automatic replies, spam, and people's messages and replies from many
mail programs and languages; `expected.csv` says what each one must do: `ignored` (a robot
wrote it), `request` (a person wrote it: a new ticket) or `refused` (it is not an email one can
answer). Each message is delivered as it arrived, then again as an answer to one of the desk's
receipts, which is how out-of-office replies and people's replies come back.
"""

from __future__ import annotations

import csv
import re
import smtplib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from application.bootstrap import Container
from application.mail.address import SenderRefused, read_sender
from application.mail.notifications import EmailKind, email_id
from application.users import Role
from domain.errors import InvalidRequest
from interfaces.cli.mail import ingest
from interfaces.mail.listener import mail_listener
from interfaces.web import create_app
from projections.conversation import conversation
from tests.builders import LEARNER, SUPPORT, caught_up, submit, without_limits
from tests.conftest import FakeClock

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).parents[1] / "corpus" / "mail"
ARABIC_LETTERS = re.compile("[\u0621-\u064a]{3}")
RELAY = "relay@mx.example.net"  # the envelope sender when the message names none usable


@dataclass(frozen=True)
class Sample:
    path: Path
    outcome: str  # ignored | request | refused
    why: str

    @property
    def name(self) -> str:
        return str(self.path.relative_to(CORPUS))

    @property
    def raw(self) -> bytes:
        return self.path.read_bytes()


def corpus() -> list[Sample]:
    with (CORPUS / "expected.csv").open(newline="", encoding="utf-8") as file:
        return [
            Sample(CORPUS / row["file"], row["outcome"], row["why"]) for row in csv.DictReader(file)
        ]


def files_expected() -> dict[str, tuple[str, str]]:
    """By message: its files kept (`name: kind | …`) and refused (`name: reason | …`). Neither
    `:` nor `|` is ever in a file's name as shown (`domain.attachment.safe_name`)."""
    with (CORPUS / "files.csv").open(newline="", encoding="utf-8") as file:
        return {row["file"]: (row["kept"], row["refused"]) for row in csv.DictReader(file)}


SAMPLES = corpus()
FILES = files_expected()
ACTIONS = {"ignored": "ignored", "request": "created"}


def test_every_message_of_the_corpus_has_an_expected_outcome() -> None:
    on_disk = {
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and p.parent != CORPUS and "LICENSE" not in p.name and "NOTICE" not in p.name
    }
    assert {s.path for s in SAMPLES} == on_disk
    assert len(SAMPLES) >= 300
    outcomes = Counter(s.outcome for s in SAMPLES)
    assert set(outcomes) == {"ignored", "request", "refused"}
    assert outcomes["request"] >= 30 and outcomes["ignored"] >= 300
    assert set(FILES) <= {s.name for s in SAMPLES if s.outcome == "request"}


# ---- the doors ----------------------------------------------------------------------------------

Deliver = Callable[[bytes, str | None], tuple[int, str, str | None]]
"""Deliver raw bytes with an envelope sender (None: the door has no envelope); the door's
status (HTTP status, or SMTP reply code), the action it reports, the reference."""


@pytest.fixture(params=["http", "smtp"])
def door(request: pytest.FixtureRequest, container: Container) -> Iterator[Deliver]:
    if request.param == "http":
        client = without_limits(create_app(container=container)).test_client()
        yield http_door(client, container.users.add("mta", Role.INTAKE))
        return
    listener = mail_listener(container.intake, "127.0.0.1", 0)
    listener.start()
    try:
        with smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as client:
            client.ehlo()
            yield smtp_door(client)
    finally:
        listener.stop()


def http_door(client: FlaskClient, token: str) -> Deliver:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "message/rfc822"}

    def deliver(raw: bytes, envelope_sender: str | None) -> tuple[int, str, str | None]:
        answer = client.post("/api/v1/inbound/email", data=raw, headers=headers)
        body = answer.get_json(silent=True) or {}
        return answer.status_code, str(body.get("action", "")), body.get("reference")

    return deliver


def smtp_door(client: smtplib.SMTP) -> Deliver:
    def deliver(raw: bytes, envelope_sender: str | None) -> tuple[int, str, str | None]:
        client.mail(envelope_sender or "")
        client.rcpt(SUPPORT)
        # On the wire every line ends in CRLF, whatever the file saved (RFC 5321 2.3.8).
        code, answer = client.data(re.sub(rb"\r?\n", b"\r\n", raw))
        words = answer.decode().split()
        if code != 250:
            client.rset()
            return code, "", None
        return code, words[1], words[2] if len(words) > 2 else None

    return deliver


def envelope_sender(raw: bytes) -> str:
    """The reverse-path a mail server would have used: the one it recorded in Return-Path
    (empty for bounces), else the From address."""
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    recorded = re.search(rb"^Return-Path:\s*<([^<>\s]*)>", head, re.IGNORECASE | re.MULTILINE)
    if recorded is not None:
        address = recorded[1].decode("ascii", "replace")
    else:
        written = re.search(rb"^From:(.*)$", head, re.IGNORECASE | re.MULTILINE)
        address = parseaddr(written[1].decode("ascii", "replace"))[1] if written else ""
        address = address or RELAY
    return address if address.isascii() and " " not in address else RELAY


# ---- as it arrived ------------------------------------------------------------------------------


def test_each_message_as_it_arrived_does_what_is_expected(
    container: Container, door: Deliver, clock: FakeClock
) -> None:
    wrong: list[str] = []
    created: dict[str, str] = {}
    for sample in SAMPLES:
        clock.advance(hours=2)  # a real inbox's pace: no sender reaches the hourly bound
        status, action, reference = door(sample.raw, envelope_sender(sample.raw))
        if sample.outcome == "refused":
            if status not in (422, 500, 554):  # HTTP, or SMTP (500: a line over 1000 bytes)
                wrong.append(f"{sample.name}: {status} {action}, expected a refusal")
            continue
        if status not in (200, 201, 250) or action != ACTIONS[sample.outcome]:
            wrong.append(f"{sample.name}: {status} {action}, expected {sample.outcome}")
        elif reference is not None:
            created[sample.name] = reference
    assert wrong == []

    requests = [s for s in SAMPLES if s.outcome == "request"]
    assert sorted(created) == sorted(s.name for s in requests)
    assert len(set(created.values())) == len(requests)  # one ticket each
    for sample in requests:
        ticket = container.desk.ticket(created[sample.name])
        assert ticket.requester_email == read_sender([from_field(sample.raw)]).address
        assert ticket.description.strip(), sample.name
        if sample.name.startswith("arabic/"):  # decoded from its charset, whichever it was
            for text in (ticket.subject, ticket.description):
                assert ARABIC_LETTERS.search(text) and "\ufffd" not in text, sample.name
        # Delivered again (the mail server retried): the same ticket, nothing new.
        status, action, reference = door(sample.raw, envelope_sender(sample.raw))
        assert (action, reference) == ("duplicate", created[sample.name]), sample.name
        recorded = events(container, created[sample.name])
        assert recorded == with_files(sample, ["Submitted"]), sample.name

    caught_up(container)
    for name, expected in FILES.items():
        assert files_of(container, created[name]) == expected, name


# ---- as an answer to the desk's receipt ---------------------------------------------------------


def test_each_message_answering_a_receipt_lands_on_its_ticket_or_nowhere(
    container: Container, door: Deliver, clock: FakeClock
) -> None:
    """A person's reply is a follow-up on the ticket whose receipt it answers; a robot's answer
    to a receipt (an out-of-office reply, a bounce) changes nothing on that ticket."""
    wrong: list[str] = []
    for sample in SAMPLES:
        if sample.outcome == "refused":
            continue
        clock.advance(hours=2)
        requester = requester_of(sample.raw)
        reference = opened(container, requester)
        receipt = f"<{email_id(reference, 1, EmailKind.RECEIPT)}@{container.addresses.domain}>"
        answer = in_reply_to(sample.raw, receipt)
        status, action, landed = door(answer, envelope_sender(sample.raw))
        expected = ("follow_up", reference) if sample.outcome == "request" else ("ignored", None)
        if status not in (200, 250) or (action, landed) != expected:
            wrong.append(f"{sample.name}: {status} {action} {landed}, expected {expected}")
            continue
        after = events(container, reference)
        if after != (
            with_files(sample, ["Submitted", "FollowUpReceived"])
            if sample.outcome == "request"
            else ["Submitted"]
        ):
            wrong.append(f"{sample.name}: the ticket recorded {after}")
    assert wrong == []


def requester_of(raw: bytes) -> str:
    """The address the message is from, when it can be read; else a learner's."""
    try:
        return read_sender([from_field(raw)]).address
    except (SenderRefused, ValueError):
        return LEARNER


def opened(container: Container, requester: str) -> str:
    try:
        return submit(container, email=requester)
    except InvalidRequest:  # an address the form would not take (say, a domain with no dot)
        return submit(container, email=LEARNER)


def in_reply_to(raw: bytes, message_id: str) -> bytes:
    """The message as its sender's program writes an answer: In-Reply-To names our email."""
    newline = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
    return b"In-Reply-To: " + message_id.encode() + newline + raw


def from_field(raw: bytes) -> str:
    head = raw.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    field = re.search(rb"^From:(.*(?:\r?\n[ \t].*)*)", head, re.IGNORECASE | re.MULTILINE)
    return re.sub(r"\r?\n", "", field[1].decode("utf-8", "replace")).strip() if field else ""


def with_files(sample: Sample, recorded: list[str]) -> list[str]:
    """The events a person's message records: its files follow it when it brings any."""
    return [*recorded, "FilesAttached"] if sample.name in FILES else recorded


def files_of(container: Container, reference: str) -> tuple[str, str]:
    """The ticket's files as the conversation lists them, written as `files.csv` writes them."""
    items = conversation(container.engine, reference).items
    (item,) = (i for i in items if i["kind"] == "files_attached")
    kept = " | ".join(f"{f['name']}: {f['media_type']}" for f in item["files"])
    refused = " | ".join(f"{r['name']}: {r['reason']}" for r in item["refused"])
    return kept, refused


def events(container: Container, reference: str) -> list[str]:
    ticket = container.desk.ticket(reference)
    return [type(e).__name__ for e in container.desk.events.get(ticket.id)]  # type: ignore[arg-type]


# ---- files on the command line ------------------------------------------------------------------


def test_ingest_of_the_whole_corpus_reports_each_message_and_goes_on(
    container: Container, cli_env: dict[str, str]
) -> None:
    """`supportdesk ingest` reads every file in one run: each message has its line, the
    unreadable ones are reported, none stops the rest."""
    files = [str(s.path) for s in SAMPLES]
    result = CliRunner().invoke(ingest, files, env=cli_env)

    lines = [line.split("\t") for line in result.output.splitlines() if "\t" in line]
    actions = Counter(line[1] for line in lines)
    assert len(lines) == len(SAMPLES)
    assert actions["failed"] == 0
    refused = sum(s.outcome == "refused" for s in SAMPLES)
    assert actions["refused"] == refused
    assert f"{refused} message(s) refused" in result.output
    assert actions["ignored"] == sum(s.outcome == "ignored" for s in SAMPLES)
    # A run on the wall clock: a sender's fourth request within the hour joins their newest.
    requests = sum(s.outcome == "request" for s in SAMPLES)
    assert actions["created"] + actions["follow_up"] == requests
    assert actions["created"] >= len(
        {requester_of(s.raw) for s in SAMPLES if s.outcome == "request"}
    )
