"""The command side: every action on a ticket goes through `SupportDesk` (P7.1)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, Protocol, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import OperationalError, RecordConflictError, Transcoder

from application.attachments.inspection import Kept
from application.attachments.store import AttachmentStore, Prepared
from domain.attachment import Attachment, Refused
from domain.categories import Category
from domain.deadlines import Deadline
from domain.errors import (
    InvalidRequest,
    StaleVersion,
    TemplateNotFound,
    TicketNotFound,
    TransitionRefused,
)
from domain.escalation import EscalationReason
from domain.personal import Personal, Sealer, sealing
from domain.reference import Reference
from domain.request import REQUESTER, Channel
from domain.sla import Complexity, SlaPolicy
from domain.template import Template, TemplateText, TemplateUse, template_id
from domain.ticket import Ticket


class Vault(Protocol):
    """Where the requesters' keys are (application/privacy/keys.py): seals their texts as
    events are built, and opens them as events are read."""

    def new_key(self, at: datetime) -> tuple[str, bytes]: ...

    def key_like(self, value: object, at: datetime) -> tuple[str, bytes] | None: ...

    def sealer(self, subject: str, key: bytes) -> Sealer: ...

    def transcoder(self, inner: Transcoder) -> Transcoder: ...

    def redact(self, sealed: str, at: datetime) -> None: ...


Clock = Callable[[], datetime]


class _Attempt:
    """One attempt of a command on a ticket: the key its texts and files are sealed under,
    looked up once, when first needed, and the files it attached. A ticket recorded before
    texts were sealed has no key yet and is given one here; the texts and files of one save
    share it, or the files would be kept under a key no event names."""

    def __init__(self, vault: Vault | None, ticket: Ticket, at: datetime) -> None:
        self.vault, self.ticket, self.at = vault, ticket, at
        self.files: list[Prepared] = []
        self.refused: list[Refused] = []

    @cached_property
    def key(self) -> tuple[str, bytes] | None:
        if self.vault is None:
            return None
        return self.vault.key_like(self.ticket.requester_email, self.at)

    @cached_property
    def _sealer(self) -> Sealer:
        if self.vault is None or self.key is None:
            raise TransitionRefused("the requester's personal data was erased")
        return self.vault.sealer(*self.key)

    def seal(self, text: str) -> str:
        """The text sealed under the key, looked up when the first text is sealed."""
        return self._sealer(text)


_attempt: ContextVar[_Attempt | None] = ContextVar("attempt", default=None)


@contextmanager
def _attempting(attempt: _Attempt) -> Iterator[None]:
    token = _attempt.set(attempt)
    try:
        with sealing(attempt.seal if attempt.vault is not None else None):
            yield
    finally:
        _attempt.reset(token)


_CONFLICT_RETRIES = 50


def _wait_if_only_locked(error: OperationalError) -> None:
    """Let a command be tried again when SQLite was only busy; re-raise anything else.

    In the embedded shape the workers write the same SQLite file. A write transaction whose
    snapshot another connection has just overtaken fails at once with "database is locked"
    instead of waiting; nothing was recorded, so running the command again is safe.
    """
    if "database is locked" not in str(error):
        raise error
    time.sleep(random.uniform(0.005, 0.05))


def utc_now() -> datetime:
    """The current instant, in UTC."""
    return datetime.now(UTC)


class AlreadyRecorded(Exception):
    """A ticket with the chosen reference exists: an earlier attempt recorded it."""

    def __init__(self, reference: str) -> None:
        super().__init__(reference)
        self.reference = reference


@dataclass(frozen=True)
class Outcome:
    """What a command left behind: the ticket as saved and the log position of its event."""

    ticket: Ticket
    position: int
    files: tuple[Attachment, ...] = ()
    """The files the command recorded, as kept."""
    refused: tuple[Refused, ...] = ()
    """The files sent with it that were not kept, and why."""

    @property
    def reference(self) -> str:
        """The ticket's reference number."""
        return self.ticket.reference


class SupportDesk(Application[UUID]):
    """Commands of the support policy, each recorded as an event of one ticket."""

    name = "supportdesk"
    # Tickets read recently stay in memory and are brought up to date with only the events
    # recorded since (fast-forward). Without this every command replays the ticket's whole
    # history, so a ticket with thousands of follow-ups grows slower with each one.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "1000"}

    def __init__(
        self,
        sla: SlaPolicy,
        clock: Clock = utc_now,
        env: dict[str, str] | None = None,
        vault: Vault | None = None,
        attachments: AttachmentStore | None = None,
    ) -> None:
        # Set first: the store's transcoder, made while the application is built, uses it.
        self.vault = vault
        self.attachments = attachments
        super().__init__(env=env)
        self.sla = sla
        self.clock = clock

    def construct_transcoder(self) -> Transcoder:
        """With a vault, personal texts are stored sealed and read opened (P7.3)."""
        transcoder = super().construct_transcoder()
        return transcoder if self.vault is None else self.vault.transcoder(transcoder)

    # ---- requesters -----------------------------------------------------------------------

    def submit(
        self,
        *,
        channel: Channel,
        requester_email: str,
        category: Category | None,
        course: str | None,
        subject: str,
        description: str,
        language: str = "ar",
        requester_name: str | None = None,
        message_id: str | None = None,
        reference: Reference | None = None,
        files: Sequence[Kept] = (),
        refused: Sequence[Refused] = (),
    ) -> Outcome:
        """Record a new request and give it a reference number (P3.1–P3.3), with the files
        that came with it (P2.2).

        With a `reference` chosen beforehand (an idempotent retry), a ticket already recorded
        under it is not recorded again: AlreadyRecorded names it instead.
        """
        at = self.clock()
        key = self.vault.new_key(at) if self.vault is not None else None
        sealer = self.vault.sealer(*key) if self.vault is not None and key else None
        prepared = self._prepared(key, files)
        for _ in range(_CONFLICT_RETRIES):
            with sealing(sealer):
                ticket = Ticket.submit(
                    reference=reference or Reference.generate(),
                    channel=channel,
                    requester_email=requester_email,
                    category=category,
                    course=course,
                    subject=subject,
                    description=description,
                    language=language,
                    requester_name=requester_name,
                    message_id=message_id,
                    at=at,
                    sla=self.sla,
                )
                if prepared or refused:
                    attached = [p.attachment for p in prepared]
                    ticket.attach_files(files=attached, refused=refused, actor=REQUESTER, at=at)
            try:
                return self._save(ticket, prepared, refused)
            except RecordConflictError:
                if reference is not None:
                    raise AlreadyRecorded(str(reference)) from None
                continue  # the random reference was taken; draw another
            except OperationalError as error:
                _wait_if_only_locked(error)
        raise OperationalError("the event store stayed busy; try again")

    def receive_follow_up(
        self,
        reference: str,
        *,
        message: str,
        channel: Channel,
        message_id: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        verified: bool = True,
        files: Sequence[Kept] = (),
        refused: Sequence[Refused] = (),
    ) -> Outcome:
        """The requester wrote again quoting the reference (P6.1), with the files that came
        with it; after a deadline, escalate, unless it is not known to come from the
        requester."""

        def follow_up(ticket: Ticket, at: datetime) -> None:
            ticket.receive_follow_up(
                message=message,
                channel=channel,
                at=at,
                message_id=message_id,
                sender=sender,
                subject=subject,
                verified=verified,
            )
            self._attach(ticket, files, refused, REQUESTER)
            overdue = ticket.overdue_deadlines(at)
            reason = EscalationReason.REQUESTER_FOLLOW_UP_AFTER_DEADLINE
            if verified and overdue and not ticket.has_escalated(reason, overdue[0][1]):
                # The requester chasing a late ticket raises it to management once per
                # missed deadline (P6), in the same save as the follow-up itself.
                ticket.escalate(reason=reason, actor=REQUESTER, at=at, deadline=overdue[0][1])

        return self._act(reference, None, follow_up)

    def supply_details(
        self, reference: str, *, category: Category | None, course: str | None
    ) -> Outcome:
        """The requester stated the details the first message lacked (P3.2)."""
        return self._act(
            reference,
            None,
            lambda t, at: t.supply_details(
                category=category, course=course, actor=REQUESTER, at=at
            ),
        )

    # ---- agents and workers ---------------------------------------------------------------

    def acknowledge(self, reference: str, *, message_id: str, actor: str) -> Outcome:
        """The receipt email was sent (P3.3)."""
        return self._act(
            reference, None, lambda t, at: t.acknowledge(message_id=message_id, actor=actor, at=at)
        )

    def respond(
        self,
        reference: str,
        *,
        message: str,
        actor: str,
        expected_version: int | None = None,
        template: TemplateUse | None = None,
        files: Sequence[Kept] = (),
    ) -> Outcome:
        """Reply to the requester (P3.4, P5.1), with files (a corrected certificate)."""

        def respond(ticket: Ticket, at: datetime) -> None:
            ticket.respond(message=message, actor=actor, at=at, template=template)
            self._attach(ticket, files, (), actor)

        return self._act(reference, expected_version, respond)

    def answer(
        self,
        reference: str,
        *,
        text: Callable[[Ticket], str],
        template: Template,
        actor: str,
        resolve: bool = False,
        expected_version: int | None = None,
    ) -> Outcome:
        """Answer with a canned response: classify too when it says so, and resolve when it
        says so or `resolve`, all in one save. `text` gives the final text for the ticket as
        it stands."""
        use = template.use()
        does = template.text

        def answer(ticket: Ticket, at: datetime) -> None:
            if does.complexity is not None and does.complexity is not ticket.complexity:
                ticket.classify(complexity=does.complexity, actor=actor, at=at, sla=self.sla)
            if does.resolves or resolve:
                ticket.resolve(summary=text(ticket), actor=actor, at=at, template=use)
            else:
                ticket.respond(message=text(ticket), actor=actor, at=at, template=use)

        return self._act(reference, expected_version, answer)

    def assign(
        self,
        reference: str,
        *,
        assignee: str,
        actor: str,
        reassign: bool = False,
        expected_version: int | None = None,
    ) -> Outcome:
        """Give the ticket an owner (taking it from another one needs `reassign`)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.assign(assignee=assignee, actor=actor, at=at, reassign=reassign),
        )

    def unassign(
        self,
        reference: str,
        *,
        actor: str,
        reassign: bool = False,
        expected_version: int | None = None,
    ) -> Outcome:
        """Release the ticket: it has no owner any more."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.unassign(actor=actor, at=at, reassign=reassign),
        )

    def add_note(
        self, reference: str, *, text: str, actor: str, expected_version: int | None = None
    ) -> Outcome:
        """An internal note for the support team, never shown to the requester."""
        return self._act(
            reference, expected_version, lambda t, at: t.add_note(text=text, actor=actor, at=at)
        )

    def warn_owner(
        self, reference: str, *, deadline: Deadline, due: datetime, actor: str
    ) -> Outcome:
        """Warn the ticket's owner that a deadline is at risk (P5)."""
        return self._act(
            reference,
            None,
            lambda t, at: t.warn_owner(deadline=deadline, due=due, actor=actor, at=at),
        )

    def classify(
        self,
        reference: str,
        *,
        complexity: Complexity,
        actor: str,
        expected_version: int | None = None,
    ) -> Outcome:
        """Set the complexity and so the resolution target (P5.2–P5.3)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.classify(complexity=complexity, actor=actor, at=at, sla=self.sla),
        )

    def extend_deadline(
        self,
        reference: str,
        *,
        resolution_due: datetime,
        reason: str,
        actor: str,
        expected_version: int | None = None,
    ) -> Outcome:
        """Give a new expected resolution time (P5.4)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.extend_deadline(
                resolution_due=resolution_due, reason=reason, actor=actor, at=at
            ),
        )

    def escalate(
        self,
        reference: str,
        *,
        reason: EscalationReason,
        actor: str,
        note: str = "",
        deadline: datetime | None = None,
        expected_version: int | None = None,
    ) -> Outcome:
        """Raise the ticket to supervisory management (P6.2)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.escalate(
                reason=reason, actor=actor, at=at, note=note, deadline=deadline
            ),
        )

    def forward_to_management(
        self,
        reference: str,
        *,
        department: str,
        note: str,
        actor: str,
        expected_version: int | None = None,
    ) -> Outcome:
        """Refer a suggestion to the competent management (P3.5)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.forward_to_management(
                department=department, note=note, actor=actor, at=at
            ),
        )

    def resolve(
        self,
        reference: str,
        *,
        summary: str,
        actor: str,
        expected_version: int | None = None,
        template: TemplateUse | None = None,
    ) -> Outcome:
        """Record the solution (P3.4)."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.resolve(summary=summary, actor=actor, at=at, template=template),
        )

    def reopen(
        self, reference: str, *, reason: str, actor: str, expected_version: int | None = None
    ) -> Outcome:
        """The problem is not solved after all."""
        return self._act(
            reference,
            expected_version,
            lambda t, at: t.reopen(reason=reason, actor=actor, at=at, sla=self.sla),
        )

    def erase_requester_data(
        self, reference: str, *, reason: str, basis: str, actor: str
    ) -> Outcome:
        """Record that the requester's personal data is erased from this ticket (P7.3); the
        caller destroys the key that opens it once every ticket of theirs says so."""
        return self._act(
            reference,
            None,
            lambda t, at: t.erase_requester_data(reason=reason, basis=basis, actor=actor, at=at),
        )

    def redact(
        self,
        reference: str,
        *,
        version: int,
        field: str,
        reason: str,
        actor: str,
        expected_version: int | None = None,
    ) -> Outcome:
        """Make one personal text of one event unreadable everywhere the desk shows it (a
        password pasted into a request); the event that says so is recorded first."""
        ticket = self.ticket(reference)
        target = self._event_at(ticket, version)
        redactable = tuple(getattr(type(target), "personal", ())) if target else ()
        value = getattr(target, field, None) if field in redactable else None
        if value is not None and not isinstance(value, Personal) and self.vault is not None:
            raise InvalidRequest("this text was recorded before texts were sealed: it stays")
        outcome = self._act(
            reference,
            expected_version,
            lambda t, at: t.redact(
                version=version,
                field=field,
                redactable=redactable if value is not None else (),
                reason=reason,
                actor=actor,
                at=at,
            ),
        )
        if self.vault is not None and isinstance(value, Personal):
            self.vault.redact(value.sealed, self.clock())
        return outcome

    def _event_at(self, ticket: Ticket, version: int) -> Any:
        if not 1 <= version <= ticket.version:
            return None
        found = list(self.events.get(ticket.id, gt=version - 1, lte=version))
        return found[0] if found else None

    def place_hold(self, reference: str, *, reason: str, actor: str) -> Outcome:
        """Keep the ticket's data whatever its age, until the hold is lifted (P7.3)."""
        return self._act(
            reference, None, lambda t, at: t.place_hold(reason=reason, actor=actor, at=at)
        )

    def lift_hold(self, reference: str, *, reason: str, actor: str) -> Outcome:
        """End the ticket's hold."""
        return self._act(
            reference, None, lambda t, at: t.lift_hold(reason=reason, actor=actor, at=at)
        )

    # ---- reading --------------------------------------------------------------------------

    def ticket(self, reference: str | Reference, version: int | None = None) -> Ticket:
        """The ticket with this reference, as it is now or at `version`."""
        ref = reference if isinstance(reference, Reference) else Reference.parse(reference)
        try:
            ticket: Ticket = self.repository.get(ref.ticket_id, version=version)
        except AggregateNotFoundError:
            raise TicketNotFound(f"no ticket has the reference {ref}") from None
        return ticket

    # ---- canned responses ----------------------------------------------------------------

    def create_template(
        self, slug: str, *, text: TemplateText, reason: str, actor: str
    ) -> Template:
        """Write a new canned response; a name already taken is refused."""
        template = Template.create(
            slug=slug, text=text, reason=reason, actor=actor, at=self.clock()
        )
        try:
            self.save(template)
        except RecordConflictError:
            raise TransitionRefused(f"a template named {slug} exists already") from None
        return template

    def change_template(
        self,
        slug: str,
        change: Callable[[Template, datetime], None],
        expected_version: int | None = None,
    ) -> Template:
        """Revise or retire a template, pinned to the version it was based on if given."""
        template = self.template(slug)
        if expected_version is not None and template.version != expected_version:
            raise StaleVersion(expected_version, template.version)
        change(template, self.clock())
        try:
            self.save(template)
        except RecordConflictError:
            raise StaleVersion(template.version - 1, self.template(slug).version) from None
        return template

    def template(self, slug: str, version: int | None = None) -> Template:
        """The canned response named `slug`, now or at `version`."""
        try:
            template: Template = self.repository.get(template_id(slug), version=version)
        except (AggregateNotFoundError, ValueError):
            raise TemplateNotFound(f"no template is named {slug}") from None
        return template

    def template_changes(self, slug: str) -> list[Template.Event]:
        """Every change of the canned response named `slug`, oldest first."""
        return [cast(Template.Event, e) for e in self.events.get(self.template(slug).id)]

    # ---- mechanics ------------------------------------------------------------------------

    def _act(
        self,
        reference: str,
        expected_version: int | None,
        command: Callable[[Ticket, datetime], Any],
    ) -> Outcome:
        # Optimistic concurrency: a write that lost a race is re-validated on the newer
        # state and retried, unless the caller pinned the version it acted on.
        for _ in range(_CONFLICT_RETRIES):
            ticket = self.ticket(reference)
            if expected_version is not None and ticket.version != expected_version:
                raise StaleVersion(expected_version, ticket.version)
            at = self.clock()
            attempt = _Attempt(self.vault, ticket, at)
            with _attempting(attempt):
                command(ticket, at)
            try:
                return self._save(ticket, attempt.files, attempt.refused)
            except RecordConflictError:
                if expected_version is not None:
                    raise StaleVersion(expected_version, self.ticket(reference).version) from None
                time.sleep(random.uniform(0, 0.005))  # let the winner's neighbours through
            except OperationalError as error:
                _wait_if_only_locked(error)
        raise RecordConflictError(f"ticket {reference} is too busy; try again")

    def _prepared(self, key: tuple[str, bytes] | None, files: Sequence[Kept]) -> list[Prepared]:
        if not files:
            return []
        if key is None or self.attachments is None:
            raise InvalidRequest("files cannot be kept by this desk")
        return self.attachments.prepare(*key, files)

    def _attach(
        self, ticket: Ticket, files: Sequence[Kept], refused: Sequence[Refused], actor: str
    ) -> None:
        """Record the files of the message just recorded, sealed under the ticket's key (the
        texts' of this attempt)."""
        if not files and not refused:
            return
        attempt = _attempt.get()
        if attempt is None:
            raise RuntimeError("files are attached inside a command only")
        prepared = self._prepared(attempt.key if files else None, files)
        ticket.attach_files(
            files=[p.attachment for p in prepared], refused=refused, actor=actor, at=attempt.at
        )
        attempt.files.extend(prepared)
        attempt.refused.extend(refused)

    def _save(
        self, ticket: Ticket, files: Sequence[Prepared] = (), refused: Sequence[Refused] = ()
    ) -> Outcome:
        store = self.attachments
        if files and store is not None and store.in_database:
            # The files and the event that names them: one transaction.
            datastore: Any = self.recorder.datastore  # type: ignore[attr-defined]
            with datastore.transaction(commit=True) as session:
                store.put(files, session.connection())
                recordings = self.save(ticket)
        else:
            if files and store is not None:
                store.put(files)  # files first: an event never names a file not kept
            recordings = self.save(ticket)
        position = max(r.notification.id for r in recordings)
        attached = tuple(p.attachment for p in files)
        return Outcome(ticket=ticket, position=position, files=attached, refused=tuple(refused))
