"""Internal notes never leave the desk by email: not to the requester, not to management, not
to the ticket's owner (NoteAdded: "never sent, never shown to the requester").

One ticket lives through every kind of ticket event, with a note of distinctive text after
each step; every email every event causes is derived, rendered and sent, and none of them
holds any of the notes' text.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from application.attachments.inspection import Kept
from application.bootstrap import Container
from application.mail.notifications import EmailKind, OutgoingEmail, OwnerMail, emails_for
from application.users import Role
from domain.categories import Category
from domain.deadlines import Deadline
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity
from domain.ticket import Ticket
from interfaces.mail.render import MailRenderer
from interfaces.mail.wiring import mail_broker, mailer
from interfaces.workers import relay
from tests.builders import ADDRESSES, LEARNER, REQUEST_DETAILS
from tests.conftest import FakeClock

MARKER = "NOTE-ONLY-7Q4Z"
NOTE_WORDS = ("ملاحظة داخلية سرية", "internal remark kept from the learner")
OWNER, OWNER_ADDRESS = "sara", "sara@captainmama.org"

EVERY_TICKET_EVENT = {
    kind
    for kind in vars(Ticket).values()
    if isinstance(kind, type)
    and issubclass(kind, Ticket.Event)
    and kind not in (Ticket.Event, Ticket.Created)  # the base, and the library's unused default
}
"""Every event a ticket records: a kind added later must join the history below."""


def note(n: int) -> str:
    return f"{MARKER}-{n}: {NOTE_WORDS[0]}, {NOTE_WORDS[1]}"


def leaks(text: str) -> list[str]:
    """The pieces of the notes' text found in `text`."""
    return [piece for piece in (MARKER, *NOTE_WORDS) if piece.casefold() in text.casefold()]


def a_history_with_notes(container: Container, clock: FakeClock, erased: bool = True) -> str:
    """A suggestion sent by email, then every other kind of ticket event, a note after each
    step; its reference. All of it during business hours: no email waits."""
    desk = container.desk
    container.users.add(OWNER, Role.AGENT, email=OWNER_ADDRESS)
    reference = desk.submit(
        channel=Channel.EMAIL,
        category=Category.SUGGESTION,
        course=None,  # a details request too (P3.2)
        message_id="<first@example.org>",
        **REQUEST_DETAILS,
    ).reference
    steps = [
        lambda: desk.acknowledge(reference, message_id="<r@desk>", actor="system:mailer"),
        lambda: desk.supply_details(reference, category=None, course="Parenting 101"),
        lambda: desk.assign(reference, assignee=OWNER, actor=OWNER),
        lambda: desk.respond(reference, message="We are looking into it", actor=OWNER),
        lambda: desk.classify(reference, complexity=Complexity.COMPLEX, actor=OWNER),
        lambda: desk.extend_deadline(
            reference,
            resolution_due=desk.ticket(reference).resolution_due + timedelta(days=2),
            reason="We wait for the vendor",
            actor=OWNER,
        ),
        lambda: desk.receive_follow_up(
            reference,
            message="Any news?",
            channel=Channel.EMAIL,
            sender=LEARNER,
            subject="Re: my suggestion",
        ),
        lambda: desk.escalate(reference, reason=EscalationReason.AGENT, actor=OWNER),
        lambda: desk.warn_owner(
            reference,
            deadline=Deadline.RESOLUTION,
            due=desk.ticket(reference).resolution_due,
            actor="system:sla-watch",
        ),
        lambda: desk.forward_to_management(
            reference, department="Product", note="Worth a look", actor=OWNER
        ),
        lambda: desk.resolve(reference, summary="Referred to the product team", actor=OWNER),
        lambda: desk.reopen(reference, reason="Not what I asked", actor="requester"),
        lambda: desk.unassign(reference, actor=OWNER),
        lambda: desk.place_hold(reference, reason="A dispute", actor=OWNER),
        lambda: desk.lift_hold(reference, reason="Settled", actor=OWNER),
        lambda: desk.redact(
            reference, version=1, field="description", reason="A password", actor=OWNER
        ),
        lambda: desk.receive_follow_up(
            reference,
            message="The error page",
            channel=Channel.WEB_FORM,
            files=[Kept("error.txt", "text/plain", b"error 500 at sign-in")],
        ),
    ]
    desk.add_note(reference, text=note(0), actor=OWNER)
    for n, step in enumerate(steps, start=1):
        clock.advance(minutes=5)
        step()
        desk.add_note(reference, text=note(n), actor=OWNER)
    if erased:  # last: an erased ticket takes no more notes
        clock.advance(minutes=5)
        desk.erase_requester_data(reference, reason="Asked", basis="request", actor="dpo")
    return reference


def history(container: Container, reference: str) -> list[Ticket.Event]:
    ticket_id = container.desk.ticket(reference).id
    return list(container.desk.repository.event_store.get(ticket_id))  # type: ignore[arg-type]


def shown(message: EmailMessage) -> str:
    """Everything a mail program can show of the message: headers and every decoded part."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    for part in message.walk():
        if not part.is_multipart():
            parts.append(str(part.get_content()))  # type: ignore[attr-defined]
    return "\n".join(parts)


def test_no_email_of_any_kind_carries_an_internal_note(
    container: Container, clock: FakeClock
) -> None:
    reference = a_history_with_notes(container, clock)
    events = history(container, reference)
    assert {type(e) for e in events} == EVERY_TICKET_EVENT
    assert [e.text for e in events if isinstance(e, Ticket.NoteAdded)][-1] == note(17)

    owners = OwnerMail(container.users, container.calendar)
    render = MailRenderer(ADDRESSES, container.settings.timezone)
    emails: list[OutgoingEmail] = []
    for event in events:
        ticket = container.desk.ticket(reference, version=event.originator_version)
        made = emails_for(event, ticket, ADDRESSES, owners)
        if isinstance(event, Ticket.NoteAdded):
            assert made == []
        emails += made
    assert {e.kind for e in emails} == set(EmailKind)  # every kind of email the desk sends

    for email in emails:
        payload = json.dumps(email.to_payload(), ensure_ascii=False)
        assert leaks(payload) == [], (email.message_id, payload)
        message = render(email)
        assert leaks(shown(message)) == [], email.message_id
        assert leaks(message.as_string()) == [], email.message_id
    owner_emails = [e for e in emails if e.to == OWNER_ADDRESS]
    assert {e.kind for e in owner_emails} == {EmailKind.OWNER_FOLLOW_UP, EmailKind.OWNER_AT_RISK}


def test_no_email_sent_carries_an_internal_note(container: Container, clock: FakeClock) -> None:
    # Not erased: the mailer sends nothing of an erased ticket (test_privacy_erasure.py).
    reference = a_history_with_notes(container, clock, erased=False)
    broker = mail_broker(container.settings, f"supportdesk.test.{uuid.uuid4().hex[:12]}")
    outbox, sender = relay(container, broker), mailer(container, broker)
    while outbox.relay_once():
        pass
    assert outbox.held() == []
    sender.drain()

    folder = Path(container.settings.smtp_url.removeprefix("file:"))
    parse = BytesParser(policy=policy.default).parsebytes
    sent = [parse(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]
    kinds = {str(m["Message-ID"]).strip("<").split(".", 1)[0] for m in sent}
    assert kinds == {kind.value for kind in EmailKind}
    for message in sent:
        assert reference in str(message["Subject"])
        assert leaks(shown(message)) == [], message["Message-ID"]  # type: ignore[arg-type]
    own = container.addresses
    recipients = {str(m["To"]) for m in sent}
    assert recipients == {LEARNER, own.management, own.suggestions, OWNER_ADDRESS}
