"""The agent's workspace: owning tickets, internal notes and canned responses, by role.

The API and the desk console both act through this service, so one set of rules says who may
take, release or assign a ticket, and what a canned response turns into: an agent takes an
unassigned ticket or releases their own; a supervisor assigns any ticket to any active member
of the support team; canned responses are kept by supervisors and used by both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from application.desk import Outcome, SupportDesk
from application.users import Principal, Role, UserDirectory
from domain.errors import InvalidRequest, NotAllowed, TemplateNotFound
from domain.template import Template, TemplateText
from domain.ticket import Ticket
from domain.wording import when

MAX_NOTE = 10_000
"""The longest internal note, in characters: a note is a remark, not a document."""

HANDLERS = frozenset({Role.AGENT, Role.SUPERVISOR})


@dataclass(frozen=True)
class Answer:
    """What a canned response gives for a ticket: its final text and what it will also do."""

    template: Template
    text: str

    @property
    def resolves(self) -> bool:
        """Whether using it resolves the ticket."""
        return self.template.text.resolves


class Workspace:
    """Commands of the support team beyond the policy's own: ownership, notes, templates."""

    def __init__(self, desk: SupportDesk, users: UserDirectory, zone: ZoneInfo) -> None:
        self.desk = desk
        self.users = users
        self.zone = zone

    # ---- ownership -----------------------------------------------------------------------

    def take(self, reference: str, who: Principal, version: int | None = None) -> Outcome:
        """The user takes an unassigned ticket for themselves."""
        _require_handler(who)
        return self.desk.assign(
            reference, assignee=who.name, actor=who.name, expected_version=version
        )

    def release(self, reference: str, who: Principal, version: int | None = None) -> Outcome:
        """The owner gives the ticket up; a supervisor may release anyone's."""
        _require_handler(who)
        return self.desk.unassign(
            reference,
            actor=who.name,
            reassign=who.role is Role.SUPERVISOR,
            expected_version=version,
        )

    def assign(
        self, reference: str, assignee: str, who: Principal, version: int | None = None
    ) -> Outcome:
        """Make `assignee` the owner: supervisors for anyone, agents only for themselves."""
        _require_handler(who)
        if who.role is not Role.SUPERVISOR and assignee != who.name:
            raise NotAllowed("an agent may take a ticket for themselves; a supervisor assigns")
        member = self.users.active(assignee)
        if member is None or member.role not in HANDLERS:
            raise InvalidRequest(f"{assignee} is not an active agent or supervisor")
        return self.desk.assign(
            reference,
            assignee=assignee,
            actor=who.name,
            reassign=who.role is Role.SUPERVISOR,
            expected_version=version,
        )

    # ---- notes ---------------------------------------------------------------------------

    def note(
        self, reference: str, text: str, who: Principal, version: int | None = None
    ) -> Outcome:
        """An internal note, for the support team and the auditors only."""
        _require_handler(who)
        if len(text) > MAX_NOTE:
            raise InvalidRequest(f"a note is at most {MAX_NOTE} characters")
        return self.desk.add_note(reference, text=text, actor=who.name, expected_version=version)

    # ---- canned responses ------------------------------------------------------------------

    def usable_template(self, slug: str) -> Template:
        """The template to answer with; unknown or retired ones are refused as bad input."""
        try:
            template = self.desk.template(slug)
        except TemplateNotFound:
            raise InvalidRequest(f"no template is named {slug}") from None
        template.use()  # refuses a retired one
        return template

    def preview(self, reference: str, slug: str, who: Principal) -> Answer:
        """What answering the ticket with this template would send, as of now."""
        _require_handler(who)
        template = self.usable_template(slug)
        return Answer(template, self.rendered(template, self.desk.ticket(reference), who.name))

    def answer(
        self,
        reference: str,
        slug: str,
        who: Principal,
        *,
        edited: str | None = None,
        resolve: bool = False,
        version: int | None = None,
    ) -> Outcome:
        """Answer with a canned response (the agent's `edited` text, if any, replaces the
        rendered one); it may classify and resolve in the same save, and resolves whenever
        `resolve`."""
        _require_handler(who)
        template = self.usable_template(slug)

        def text(ticket: Ticket) -> str:
            return edited if edited is not None else self.rendered(template, ticket, who.name)

        return self.desk.answer(
            reference,
            text=text,
            template=template,
            actor=who.name,
            resolve=resolve,
            expected_version=version,
        )

    def rendered(self, template: Template, ticket: Ticket, agent: str) -> str:
        """The template's text in the ticket's language, its placeholders filled in."""
        language = ticket.language

        def at(instant: datetime) -> str:
            return when(instant, language, self.zone)

        values = {
            "reference": ticket.reference,
            "course": ticket.course or "",
            "category": ticket.category.label(language) if ticket.category else "",
            "first_response_due": at(ticket.first_response_due),
            "resolution_due": at(ticket.resolution_due),
            "requester_name": ticket.requester_name or "",
            "agent": agent,
        }
        return template.render(language, values)

    def create_template(
        self, slug: str, text: TemplateText, reason: str, who: Principal
    ) -> Template:
        """A supervisor writes a new canned response."""
        _require_supervisor(who)
        return self.desk.create_template(slug, text=text, reason=reason, actor=who.name)

    def revise_template(
        self,
        slug: str,
        text: TemplateText,
        reason: str,
        who: Principal,
        version: int | None = None,
    ) -> Template:
        """A supervisor changes a canned response; answers given keep the version they used."""
        _require_supervisor(who)
        return self._change(
            slug,
            lambda t, at: t.revise(text=text, reason=reason, actor=who.name, at=at),
            version,
        )

    def retire_template(
        self, slug: str, reason: str, who: Principal, version: int | None = None
    ) -> Template:
        """A supervisor withdraws a canned response."""
        _require_supervisor(who)
        return self._change(
            slug, lambda t, at: t.retire(reason=reason, actor=who.name, at=at), version
        )

    def _change(
        self, slug: str, change: Callable[[Template, datetime], None], version: int | None
    ) -> Template:
        return self.desk.change_template(slug, change, version)


def _require_handler(who: Principal) -> None:
    if who.role not in HANDLERS:
        raise NotAllowed("only agents and supervisors handle tickets")


def _require_supervisor(who: Principal) -> None:
    if who.role is not Role.SUPERVISOR:
        raise NotAllowed("only supervisors keep the canned responses")
