"""Which emails each ticket event causes, to whom, with which stable id (P3.3, P5.4, P6.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from application.mail.notifications import Addresses, EmailKind, OutgoingEmail, emails_for
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity
from domain.ticket import Ticket
from tests.builders import SLA, new_ticket

ADDRESSES = Addresses("support@captainmama.org", "info@captainmama.org", "ideas@captainmama.org")
AT = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)


def last_emails(ticket: Ticket) -> list[OutgoingEmail]:
    event = ticket.collect_events()[-1]
    return emails_for(event, ticket, ADDRESSES)  # type: ignore[arg-type]


def test_submission_sends_the_receipt_with_the_first_response_due() -> None:
    ticket = new_ticket()
    [receipt] = last_emails(ticket)
    assert receipt.kind is EmailKind.RECEIPT
    assert receipt.to == "learner@example.org"
    assert receipt.message_id == f"receipt.1.{ticket.reference}"
    assert receipt.context["first_response_due"] == ticket.first_response_due.isoformat()
    assert receipt.context["category"] == "login"


def test_an_emailed_request_missing_details_also_asks_for_them() -> None:
    ticket = new_ticket(None, channel=Channel.EMAIL, course=None, message_id="<m@example.org>")
    receipt, request = last_emails(ticket)
    assert request.kind is EmailKind.DETAILS_REQUEST
    assert request.context["missing"] == ["category", "course"]
    assert receipt.in_reply_to == request.in_reply_to == "<m@example.org>"


def test_agent_actions_are_told_to_the_requester() -> None:
    ticket = new_ticket()
    ticket.collect_events()
    ticket.respond(message="Try again", actor="sara", at=AT)
    ticket.classify(complexity=Complexity.COMPLEX, actor="sara", at=AT, sla=SLA)
    ticket.extend_deadline(
        resolution_due=ticket.resolution_due + timedelta(days=1), reason="Vendor", actor="s", at=AT
    )
    ticket.resolve(summary="Done", actor="sara", at=AT)
    events = ticket.collect_events()
    emails = [e for event in events for e in emails_for(event, ticket, ADDRESSES)]  # type: ignore[arg-type]
    assert [(e.kind, e.to) for e in emails] == [
        (EmailKind.RESPONSE, "learner@example.org"),
        (EmailKind.CLASSIFIED_COMPLEX, "learner@example.org"),
        (EmailKind.EXTENSION, "learner@example.org"),
        (EmailKind.RESOLUTION, "learner@example.org"),
    ]
    assert [e.message_id.split(".")[1] for e in emails] == ["2", "3", "4", "5"]


def test_classification_back_to_simple_and_the_acknowledgement_send_nothing() -> None:
    ticket = new_ticket()
    ticket.classify(complexity=Complexity.COMPLEX, actor="sara", at=AT, sla=SLA)
    ticket.collect_events()
    ticket.classify(complexity=Complexity.SIMPLE, actor="sara", at=AT, sla=SLA)
    assert last_emails(ticket) == []
    ticket.acknowledge(message_id="<r@x>", actor="system:mailer", at=AT)
    assert last_emails(ticket) == []


def test_escalation_goes_to_supervisory_management() -> None:
    ticket = new_ticket()
    ticket.escalate(
        reason=EscalationReason.FIRST_RESPONSE_OVERDUE,
        actor="system:sla-watch",
        at=ticket.first_response_due,
        deadline=ticket.first_response_due,
    )
    [notice] = last_emails(ticket)
    assert (notice.kind, notice.to) == (EmailKind.ESCALATION, "info@captainmama.org")
    assert notice.context["deadline"] == ticket.first_response_due.isoformat()
    assert notice.in_reply_to is None


def test_a_forwarded_suggestion_goes_to_the_suggestions_address() -> None:
    ticket = new_ticket(Category.SUGGESTION)
    ticket.forward_to_management(department="Product", note="Good", actor="sara", at=AT)
    [referral] = last_emails(ticket)
    assert (referral.kind, referral.to) == (EmailKind.SUGGESTION_REFERRAL, "ideas@captainmama.org")


def test_payload_round_trips_through_the_broker_format() -> None:
    [receipt] = last_emails(new_ticket())
    assert OutgoingEmail.from_payload(receipt.to_payload()) == receipt
