"""The rules of owning a ticket, of internal notes, and of canned responses, in the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.categories import Category
from domain.deadlines import Deadline
from domain.errors import InvalidRequest, TransitionRefused
from domain.sla import Complexity
from domain.status import Status
from domain.template import PLACEHOLDERS, Template, TemplateText, placeholders_in
from domain.ticket import Ticket
from tests.builders import SLA, new_ticket

AT = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)
TEXT = TemplateText(
    title="Reset",
    text_ar="طلبك {reference} عن {course}",
    text_en="Your request {reference} about {course}",
)


def test_an_owner_is_given_taken_over_only_by_reassigning_and_released() -> None:
    ticket = new_ticket()
    ticket.assign(assignee="sara", actor="sara", at=AT)
    assert ticket.owner == "sara"
    with pytest.raises(TransitionRefused, match="assigned to sara"):
        ticket.assign(assignee="omar", actor="omar", at=AT)
    with pytest.raises(TransitionRefused, match="already assigned"):
        ticket.assign(assignee="sara", actor="huda", at=AT, reassign=True)
    ticket.assign(assignee="omar", actor="huda", at=AT, reassign=True)
    assert ticket.owner == "omar"
    with pytest.raises(TransitionRefused, match="only they or a supervisor"):
        ticket.unassign(actor="sara", at=AT)
    ticket.unassign(actor="omar", at=AT)
    assert ticket.owner is None
    with pytest.raises(TransitionRefused, match="not assigned"):
        ticket.unassign(actor="omar", at=AT)


def test_ownership_does_not_move_the_status_nor_answer_the_request() -> None:
    ticket = new_ticket()
    ticket.assign(assignee="sara", actor="sara", at=AT)
    ticket.add_note(text="Asked the platform team", actor="sara", at=AT)
    assert ticket.status is Status.NEW
    assert (ticket.first_responded_at, ticket.responses, ticket.notes) == (None, 0, 1)
    assert ticket.overdue_deadlines(ticket.first_response_due) != []  # the clock still runs


def test_a_resolved_ticket_is_not_assigned_but_may_be_annotated() -> None:
    ticket = new_ticket()
    ticket.resolve(summary="done", actor="sara", at=AT)
    with pytest.raises(TransitionRefused):
        ticket.assign(assignee="sara", actor="sara", at=AT)
    ticket.add_note(text="Root cause: an expired certificate", actor="sara", at=AT)
    with pytest.raises(InvalidRequest):
        ticket.add_note(text="  ", actor="sara", at=AT)


def test_an_owner_is_warned_once_per_deadline_and_due_instant() -> None:
    ticket = new_ticket()
    due = ticket.first_response_due
    with pytest.raises(TransitionRefused, match="no owner"):
        ticket.warn_owner(deadline=Deadline.FIRST_RESPONSE, due=due, actor="system:x", at=AT)
    ticket.assign(assignee="sara", actor="sara", at=AT)
    ticket.warn_owner(deadline=Deadline.FIRST_RESPONSE, due=due, actor="system:x", at=AT)
    assert ticket.has_warned(Deadline.FIRST_RESPONSE, due)
    with pytest.raises(TransitionRefused, match="already warned"):
        ticket.warn_owner(deadline=Deadline.FIRST_RESPONSE, due=due, actor="system:x", at=AT)
    later = due + timedelta(days=1)
    with pytest.raises(TransitionRefused, match="not running"):
        ticket.warn_owner(deadline=Deadline.FIRST_RESPONSE, due=later, actor="system:x", at=AT)
    resolution = ticket.resolution_due
    ticket.warn_owner(deadline=Deadline.RESOLUTION, due=resolution, actor="system:x", at=AT)
    moved = resolution + timedelta(days=2)
    ticket.extend_deadline(resolution_due=moved, reason="waiting", actor="sara", at=AT)
    ticket.warn_owner(deadline=Deadline.RESOLUTION, due=moved, actor="system:x", at=AT)
    warnings = [e for e in ticket.collect_events() if isinstance(e, Ticket.DeadlineAtRisk)]
    assert [(w.deadline, w.due, w.owner) for w in warnings] == [
        ("first_response", due, "sara"),
        ("resolution", resolution, "sara"),
        ("resolution", moved, "sara"),
    ]


def test_placeholders_are_checked_when_a_template_is_written() -> None:
    assert placeholders_in("{reference} {{literal}} {resolution_due}") == [
        "reference",
        "resolution_due",
    ]
    for bad in ("{nope}", "{reference.real}", "{reference[0]}", "{course!r}", "{course:>9}", "{"):
        with pytest.raises(InvalidRequest):
            placeholders_in(bad)
    with pytest.raises(InvalidRequest):
        Template.create(
            slug="x", text=TemplateText("T", "{who}", "ok"), reason="r", actor="huda", at=AT
        )


@pytest.mark.parametrize("slug", ["", "Upper", "with space", "-lead", "x" * 64, "عربي"])
def test_a_template_id_is_a_short_lower_case_name(slug: str) -> None:
    with pytest.raises(InvalidRequest):
        Template.create(slug=slug, text=TEXT, reason="r", actor="huda", at=AT)


def test_a_template_renders_in_the_tickets_language_and_every_change_has_a_reason() -> None:
    template = Template.create(slug="reset", text=TEXT, reason="Often asked", actor="huda", at=AT)
    values = {"reference": "CM-1", "course": "Python"}
    assert template.render("ar", values) == "طلبك CM-1 عن Python"
    assert template.render("en", values) == "Your request CM-1 about Python"
    with pytest.raises(InvalidRequest, match="reason"):
        template.revise(text=TEXT, reason=" ", actor="huda", at=AT)
    with pytest.raises(TransitionRefused, match="already says"):
        template.revise(text=TEXT, reason="same", actor="huda", at=AT)
    macro = TemplateText(
        "Issued",
        "صدرت الشهادة {reference}",
        "Issued {reference}",
        Category.OTHER,
        Complexity.COMPLEX,
        resolves=True,
    )
    template.revise(text=macro, reason="Also closes", actor="huda", at=AT)
    assert (template.version, template.text.resolves) == (2, True)
    assert template.use().version == 2
    template.retire(reason="Replaced", actor="huda", at=AT)
    with pytest.raises(InvalidRequest, match="retired"):
        template.use()
    with pytest.raises(TransitionRefused):
        template.retire(reason="again", actor="huda", at=AT)
    assert [type(e).__name__ for e in template.collect_events()] == [
        "Created",
        "Revised",
        "Retired",
    ]


def test_every_placeholder_is_documented() -> None:
    assert all(description for description in PLACEHOLDERS.values())


def test_a_template_id_derives_the_aggregate_id_so_a_name_is_taken_once() -> None:
    first = Template.create(slug="reset", text=TEXT, reason="r", actor="huda", at=AT)
    second = Template.create(slug="reset", text=TEXT, reason="r", actor="omar", at=AT)
    assert first.id == second.id


def test_an_answer_with_a_template_records_which_version() -> None:
    template = Template.create(slug="reset", text=TEXT, reason="r", actor="huda", at=AT)
    ticket = new_ticket()
    ticket.respond(message="text", actor="sara", at=AT, template=template.use())
    responded = ticket.collect_events()[-1]
    assert isinstance(responded, Ticket.Responded)
    assert (responded.template, responded.template_version) == ("reset", 1)
    ticket.classify(complexity=Complexity.COMPLEX, actor="sara", at=AT, sla=SLA)
