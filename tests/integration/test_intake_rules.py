"""The email rules (P1.1, P3.2, P6.1, P6.2), in Arabic and English, on a real event store."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import pytest

from application.bootstrap import Container
from application.mail.address import address_tag
from application.mail.intake import Action, MailIntake, inbound_table
from application.mail.notifications import Addresses, EmailKind, email_id
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.request import Channel
from tests.conftest import FakeClock

SUPPORT = "support@captainmama.org"
INFO = "info@captainmama.org"
LEARNER = "learner@example.org"
MX = "mx.captainmama.org"  # the desk's mail server, which authenticated the senders below


def mail(
    body: str,
    subject: str = "",
    sender: str = LEARNER,
    to: str = SUPPORT,
    message_id: str | None = None,
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.org")
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Authentication-Results"] = f"{MX}; dmarc=pass header.from={domain}"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


@pytest.fixture
def intake(container: Container) -> MailIntake:
    return MailIntake(
        container.desk, container.engine, Addresses(SUPPORT, INFO, INFO), trusted_authserv=[MX]
    )


def events(container: Container, reference: str) -> list[str]:
    ticket = container.desk.ticket(reference)
    return [type(e).__name__ for e in container.desk.events.get(ticket.id)]


ENGLISH_REQUEST = """Hello,
I cannot sign in since yesterday.
Category: login
Course: Positive Parenting 101
"""

ARABIC_REQUEST = """السلام عليكم،
لا أستطيع تحميل الدروس منذ أمس.
الفئة: تحميل الورش والدروس
الدورة: التربية الإيجابية
"""


def test_english_request_to_support_becomes_a_ticket_with_what_it_states(
    container: Container, intake: MailIntake
) -> None:
    outcome = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in", sender="Sara <sara@ex.org>"))

    assert outcome.action is Action.CREATED
    ticket = container.desk.ticket(outcome.reference or "")
    assert ticket.channel is Channel.EMAIL
    assert ticket.requester_email == "sara@ex.org"
    assert ticket.requester_name == "Sara"
    assert ticket.category is Category.LOGIN
    assert ticket.course == "Positive Parenting 101"
    assert ticket.subject == "Cannot sign in"
    assert ticket.language == "en"
    assert ticket.missing_details == []


def test_arabic_request_to_support_becomes_a_ticket_with_what_it_states(
    container: Container, intake: MailIntake
) -> None:
    outcome = intake.receive(mail(ARABIC_REQUEST, "مشكلة في الدروس"))

    ticket = container.desk.ticket(outcome.reference or "")
    assert outcome.action is Action.CREATED
    assert ticket.category is Category.CONTENT_LOADING
    assert ticket.course == "التربية الإيجابية"
    assert ticket.language == "ar"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ("I cannot sign in.", ["category", "course"]),
        ("لا أستطيع الدخول.\nالفئة: تسجيل الدخول", ["course"]),
        ("Course: Parenting 101\nPlease help.", ["category"]),
    ],
)
def test_a_request_that_does_not_state_p3_2_fields_records_what_is_missing(
    container: Container, intake: MailIntake, body: str, missing: list[str]
) -> None:
    outcome = intake.receive(mail(body, "Help"))
    assert outcome.action is Action.CREATED
    assert container.desk.ticket(outcome.reference or "").missing_details == missing


@pytest.mark.parametrize(
    "subject", ["Re: [{ref}] Cannot sign in", "رد: طلبي رقم {ref}", "follow-up {lower}"]
)
def test_requester_quoting_the_reference_follows_up(
    container: Container, intake: MailIntake, subject: str
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    quoted = subject.format(ref=reference, lower=reference.lower().replace("-", " "))

    outcome = intake.receive(mail("Any news?\n> old quoted text", quoted))

    assert (outcome.action, outcome.reference) == (Action.FOLLOW_UP, reference)
    assert events(container, reference) == ["Submitted", "FollowUpReceived"]
    [follow_up] = list(container.desk.events.get(container.desk.ticket(reference).id))[1:]
    assert follow_up.message == "Any news?"  # type: ignore[attr-defined]


def test_reference_quoted_only_in_the_body_is_found(
    container: Container, intake: MailIntake
) -> None:
    reference = intake.receive(mail(ARABIC_REQUEST, "مشكلة")).reference or ""
    outcome = intake.receive(mail(f"بخصوص طلبي {reference}، هل من جديد؟", "متابعة"))
    assert (outcome.action, outcome.reference) == (Action.FOLLOW_UP, reference)


def test_follow_up_after_a_deadline_also_escalates(
    container: Container, intake: MailIntake, clock: FakeClock
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    clock.now = container.desk.ticket(reference).first_response_due

    outcome = intake.receive(mail("Nobody answered me.", f"Re: {reference}"))

    assert outcome.action is Action.ESCALATED
    assert events(container, reference) == ["Submitted", "FollowUpReceived", "Escalated"]
    [escalation] = container.desk.ticket(reference).escalations
    assert escalation.reason == EscalationReason.REQUESTER_FOLLOW_UP_AFTER_DEADLINE
    assert escalation.actor == "requester"


@pytest.mark.parametrize("body", ["No reply for days.", "لم يصلني أي رد منذ أيام."])
def test_requester_writing_to_management_escalates(
    container: Container, intake: MailIntake, body: str
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""

    outcome = intake.receive(mail(body, f"Complaint about {reference}", to=INFO))

    assert (outcome.action, outcome.reference) == (Action.ESCALATED, reference)
    assert events(container, reference) == ["Submitted", "Escalated"]
    [escalation] = container.desk.ticket(reference).escalations
    assert escalation.reason == EscalationReason.REQUESTER_TO_MANAGEMENT


def test_someone_else_quoting_a_reference_never_changes_that_ticket(
    container: Container, intake: MailIntake
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""

    to_support = intake.receive(mail("Close it!", f"Re: {reference}", sender="x@evil.org"))
    to_management = intake.receive(mail("Escalate!", f"{reference}", sender="x@evil.org", to=INFO))

    assert events(container, reference) == ["Submitted"]
    assert to_support.action is Action.CREATED and to_support.reference != reference
    assert container.desk.ticket(to_support.reference or "").requester_email == "x@evil.org"
    assert to_management.action is Action.IGNORED


def test_sender_address_matches_the_requester_whatever_its_case(
    container: Container, intake: MailIntake
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    outcome = intake.receive(mail("Hello?", f"Re: {reference}", sender="LEARNER@Example.org"))
    assert outcome.action is Action.FOLLOW_UP


def test_a_reply_to_the_receipt_without_the_reference_lands_on_its_ticket(
    container: Container, intake: MailIntake
) -> None:
    """Mail programs keep In-Reply-To and References when people change the subject."""
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    receipt = f"<{email_id(reference, 1, EmailKind.RECEIPT)}@{container.addresses.domain}>"
    answered = intake.receive(
        mail("It works now, thank you!", "All good", In_Reply_To=receipt, References=receipt)
    )
    older = intake.receive(
        mail("And one more thing.", "Another question", References=f"<a@x.org> {receipt}")
    )
    assert (answered.action, answered.reference) == (Action.FOLLOW_UP, reference)
    assert (older.action, older.reference) == (Action.FOLLOW_UP, reference)
    assert events(container, reference) == ["Submitted", "FollowUpReceived", "FollowUpReceived"]


def test_ids_of_other_domains_or_other_senders_thread_nothing(
    container: Container, intake: MailIntake
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    elsewhere = f"<{email_id(reference, 1, EmailKind.RECEIPT)}@evil.example>"
    ours = f"<{email_id(reference, 1, EmailKind.RECEIPT)}@{container.addresses.domain}>"
    forged = intake.receive(mail(ENGLISH_REQUEST, "Help", In_Reply_To=elsewhere))
    stranger = intake.receive(mail(ENGLISH_REQUEST, "Help", sender="x@evil.org", In_Reply_To=ours))
    assert forged.action is Action.CREATED and forged.reference != reference
    assert stranger.action is Action.CREATED and stranger.reference != reference
    assert events(container, reference) == ["Submitted"]


def test_a_robot_answering_each_receipt_with_a_new_message_stops_looping(
    container: Container, intake: MailIntake, clock: FakeClock
) -> None:
    """A robot that labels nothing and quotes nothing opens a few tickets, then its messages
    join the newest one (kept, and answered with no receipt), until an hour has passed."""
    robot = "orders@shop.example"  # a robot whose address does not say so
    outcomes = []
    for number in range(5):
        clock.advance(seconds=1)
        outcomes.append(intake.receive(mail(f"Thank you {number}", f"Thanks {number}", robot)))
    assert [o.action for o in outcomes] == [Action.CREATED] * 3 + [Action.FOLLOW_UP] * 2
    newest = outcomes[2].reference or ""
    assert {o.reference for o in outcomes[3:]} == {newest}
    assert "newest ticket" in outcomes[3].detail
    assert container.desk.ticket(newest).follow_ups == 2

    clock.advance(hours=1)
    assert intake.receive(mail("Thank you", "Thanks again", robot)).action is Action.CREATED
    assert intake.receive(mail(ENGLISH_REQUEST, "Help")).action is Action.CREATED  # others


def test_the_same_message_twice_has_one_effect(container: Container, intake: MailIntake) -> None:
    raw = mail(ENGLISH_REQUEST, "Cannot sign in", message_id="<once@example.org>")
    first = intake.receive(raw)
    second = intake.receive(raw)
    assert first.action is Action.CREATED
    assert (second.action, second.reference) == (Action.DUPLICATE, first.reference)

    follow_up = mail("More.", f"Re: {first.reference}", message_id="<again@example.org>")
    assert intake.receive(follow_up).action is Action.FOLLOW_UP
    assert intake.receive(follow_up).action is Action.DUPLICATE
    assert events(container, first.reference or "") == ["Submitted", "FollowUpReceived"]


def test_another_senders_message_with_a_reused_id_is_another_message(
    container: Container, intake: MailIntake
) -> None:
    reused = "<1@localhost>"  # ids some mail programs and scripts give every message
    first = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in", message_id=reused))
    other = mail(ENGLISH_REQUEST, "Cannot sign in", sender="other@example.org", message_id=reused)
    second = intake.receive(other)
    assert (first.action, second.action) == (Action.CREATED, Action.CREATED)
    assert first.reference != second.reference
    assert container.desk.ticket(second.reference or "").requester_email == "other@example.org"
    assert intake.receive(other).action is Action.DUPLICATE


def test_a_redelivery_of_a_message_recorded_under_its_id_alone_has_no_second_effect(
    container: Container, intake: MailIntake
) -> None:
    """Messages received before deliveries were keyed on the sender too are kept by id."""
    with container.engine.begin() as connection:
        connection.execute(
            inbound_table.insert().values(
                message_id="<old@example.org>",
                received_at=container.desk.clock(),
                action="created",
                reference="CM-0000-0000",
            )
        )
    again = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in", message_id="<old@example.org>"))
    assert (again.action, again.reference) == (Action.DUPLICATE, "CM-0000-0000")


def test_a_message_without_message_id_is_recognised_by_its_content(
    container: Container, intake: MailIntake
) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = LEARNER, SUPPORT, "Help"
    message.set_content(ENGLISH_REQUEST)
    raw = message.as_bytes()
    assert intake.receive(raw).action is Action.CREATED
    assert intake.receive(raw).action is Action.DUPLICATE


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"X_Autoreply": "yes"},
        {"X_Auto_Response_Suppress": "All"},  # Exchange and Outlook
        {"Return_Path": "<>"},  # the null sender, as the delivering server wrote it
        {"Subject": "Automatic reply: {reference}"},
        {"Subject": "رد تلقائي: {reference}"},
        {"Subject": "Out of Office: {reference}"},
        {"Subject": "Auto-Reply: {reference}"},  # iCloud
    ],
)
def test_automatic_replies_are_ignored(
    container: Container, intake: MailIntake, headers: dict[str, str]
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    others = {name: value for name, value in headers.items() if name != "Subject"}
    subject = headers.get("Subject", "Re: {reference}").format(reference=reference)
    outcome = intake.receive(mail("I am out of office.", subject, **others))
    assert outcome.action is Action.IGNORED
    assert events(container, reference) == ["Submitted"]


def test_a_person_whose_subject_starts_with_like_words_is_heard(intake: MailIntake) -> None:
    for subject in ("Automatic response from the quiz is wrong", "Out of office hours support?"):
        assert intake.receive(mail(ENGLISH_REQUEST, subject)).action is Action.CREATED


@pytest.mark.parametrize("sender", ["", "<>", "Mail Delivery System <>", "MAILER-DAEMON"])
def test_a_bounce_without_a_usable_sender_is_ignored_not_refused(
    intake: MailIntake, sender: str
) -> None:
    """Refused, it would make the mail server bounce the bounce."""
    report = EmailMessage()
    if sender:
        report["From"] = sender
    report["To"] = SUPPORT
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("The mail system could not deliver your message.")
    report.make_mixed()
    report.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')
    assert intake.receive(report.as_bytes()).action is Action.IGNORED


def test_a_message_without_a_usable_sender_from_a_person_is_still_refused(
    intake: MailIntake,
) -> None:
    outcome = intake.receive(b"To: support@captainmama.org\nSubject: help\n\nI cannot sign in.")
    assert outcome.action is Action.REFUSED


def test_a_null_envelope_sender_is_a_robot_whatever_the_message_says(
    container: Container, intake: MailIntake
) -> None:
    outcome = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in"), [SUPPORT], "")
    assert outcome.action is Action.IGNORED
    assert intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in"), [SUPPORT], LEARNER).action is (
        Action.CREATED
    )


def test_bounces_and_our_own_mail_are_ignored(intake: MailIntake) -> None:
    assert intake.receive(mail("Undeliverable", sender="MAILER-DAEMON@mx.org")).action is (
        Action.IGNORED
    )
    assert intake.receive(mail("Loop", sender=SUPPORT)).action is Action.IGNORED


def test_follow_up_on_a_resolved_ticket_to_management_is_recorded_not_escalated(
    container: Container, intake: MailIntake
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    container.desk.resolve(reference, summary="Done", actor="agent.sara")

    outcome = intake.receive(mail("It is not solved!", f"{reference}", to=INFO))

    assert outcome.action is Action.FOLLOW_UP
    assert events(container, reference)[-1] == "FollowUpReceived"


def test_not_solved_soon_after_the_resolution_reopens_the_ticket(
    container: Container, intake: MailIntake, clock: FakeClock
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    container.desk.resolve(reference, summary="Reset the password", actor="agent.sara")
    clock.advance(days=2)

    outcome = intake.receive(mail("It is still not working.\n\n> Reset", f"Re: {reference}"))

    assert (outcome.action, outcome.reference) == (Action.REOPENED, reference)
    ticket = container.desk.ticket(reference)
    assert ticket.status.value != "resolved" and ticket.resolved_at is None
    assert events(container, reference)[-2:] == ["Reopened", "FollowUpReceived"]
    reopened = list(container.desk.events.get(ticket.id))[-2]
    assert reopened.actor == "requester"
    assert reopened.reason.endswith(": It is still not working.")  # type: ignore[attr-defined]


def test_a_reply_long_after_the_resolution_is_a_new_request_naming_the_old_one(
    container: Container, intake: MailIntake, clock: FakeClock
) -> None:
    reference = intake.receive(mail(ENGLISH_REQUEST, "Cannot sign in")).reference or ""
    container.desk.resolve(reference, summary="Reset the password", actor="agent.sara")
    receipt = f"<{email_id(reference, 1, EmailKind.RECEIPT)}@{container.addresses.domain}>"
    clock.advance(days=30)

    outcome = intake.receive(mail(ENGLISH_REQUEST, "Same again", In_Reply_To=receipt))

    assert outcome.action is Action.CREATED and outcome.reference != reference
    assert reference in outcome.detail
    assert container.desk.ticket(outcome.reference or "").subject == f"Same again [{reference}]"
    assert events(container, reference)[-1] == "FollowUpReceived"
    assert container.desk.ticket(reference).status.value == "resolved"


@pytest.mark.parametrize(
    "reply",
    [
        "Here are the details.\nCategory: login\nCourse: Positive Parenting 101\n",
        "هذه التفاصيل.\nالفئة: تسجيل الدخول\nالدورة: التربية الإيجابية\n",
    ],
)
def test_a_reply_stating_the_missing_details_completes_the_request(
    container: Container, intake: MailIntake, reply: str
) -> None:
    first = intake.receive(mail("I cannot sign in.", subject="Help"))
    reference = first.reference or ""
    assert container.desk.ticket(reference).missing_details == ["category", "course"]
    intake.receive(mail(reply, subject=f"Re: Help {reference}"))
    ticket = container.desk.ticket(reference)
    assert ticket.missing_details == []
    assert ticket.category is Category.LOGIN
    assert ticket.course is not None
    assert events(container, reference)[-2:] == ["FollowUpReceived", "DetailsSupplied"]


def test_ignored_mail_is_logged_by_tag_and_id_without_what_it_says(
    intake: MailIntake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="application.mail.intake")
    away = "<m-1@mail.example.net>"
    outcome = intake.receive(
        mail("I am away until Sunday.", "Automatic reply: Cannot sign in", message_id=away)
    )

    assert outcome.action is Action.IGNORED
    (line,) = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert address_tag(LEARNER) in line and away in line
    assert LEARNER not in line and "away" not in line and "Cannot sign in" not in line
