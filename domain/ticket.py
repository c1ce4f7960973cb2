"""The ticket: one support request and everything that happened to it (P3, P5, P6, P7).

Every change is an immutable event carrying the acting principal and the instant. Public
methods are the commands: they check the policy's rules and then trigger one event. The
`@event` methods' bodies are the state change alone, because they also run on replay.
Each event is a class declared here with the fields it records: the log holds its topic
(module and class name) and its fields, so neither may change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate, event

from domain.attachment import Attachment, Refused, split_names
from domain.categories import Category
from domain.chain import HashChained
from domain.deadlines import MAX_EXTENSION, Deadline, has_passed, running_deadlines
from domain.errors import DataHeld, InvalidRequest, TransitionRefused
from domain.escalation import SUPERVISORY_MANAGEMENT, Escalation, EscalationReason
from domain.personal import ERASED, REDACTED, Personal
from domain.reference import Reference, reference_id
from domain.request import REQUESTER, Channel
from domain.sla import Complexity, SlaPolicy
from domain.status import Status
from domain.template import TemplateUse


class Ticket(HashChained):
    """A support request tracked from receipt to solution (P7.1)."""

    erased_at: datetime | None = None
    """When the requester's personal data was erased (also for tickets saved before erasure
    existed, whose snapshots lack it)."""
    hold: str | None = None
    """Why the ticket's data must be kept (a dispute, a legal case), while it must."""
    redactions: tuple[tuple[int, str], ...] = ()
    """The (version, field) of each text redacted."""
    files: tuple[dict[str, Any], ...] = ()
    """Every file kept with a message: its kind, size, hash and the message's version."""

    class Event(HashChained.Event):
        """Every ticket event names who acted, extends the hash chain and moves the status."""

        personal: ClassVar[tuple[str, ...]] = ()
        """The fields that hold the requester's personal data, kept sealed (P7.3)."""

        def mutate(self, aggregate: Any) -> Any:
            mutated = super().mutate(aggregate)
            # Every event moves the status by the one rule the read models share, not by its body.
            mutated.status = status_after(mutated.status, self)
            return mutated

    @staticmethod
    def create_id(reference: str) -> uuid.UUID:
        """The aggregate id is derived from the reference, so a reference is recorded once."""
        return reference_id(reference)

    # ---- submission (P1, P3.1–P3.2, P5) --------------------------------------------------------

    class Submitted(Aggregate.Created, Event):
        """A request arrived, with the instants promised for it at the time (P1, P3.2, P5)."""

        reference: str
        channel: str
        requester_email: str
        requester_name: str | None
        category: str | None
        course: str | None
        subject: str
        description: str
        language: str
        missing_details: list[str]
        message_id: str | None
        first_response_due: datetime
        resolution_due: datetime

        personal = ("requester_email", "requester_name", "subject", "description")

    @classmethod
    def submit(
        cls,
        *,
        reference: Reference,
        channel: Channel,
        requester_email: str,
        category: Category | None,
        course: str | None,
        subject: str,
        description: str,
        language: str,
        at: datetime,
        sla: SlaPolicy,
        requester_name: str | None = None,
        message_id: str | None = None,
    ) -> Ticket:
        """Record a request received through an official channel (P1, P3.2)."""
        email = _required_text("email", requester_email)
        course = (course or "").strip() or None
        missing = [
            name for name, value in (("category", category), ("course", course)) if not value
        ]
        if missing and channel is Channel.WEB_FORM:
            raise InvalidRequest(f"the request must state: {', '.join(missing)} (P3.2)")
        if language not in ("ar", "en"):
            raise InvalidRequest("language must be 'ar' or 'en'")
        return cls(
            reference=str(reference),
            channel=channel.value,
            requester_email=email,
            requester_name=requester_name,
            category=category.value if category else None,
            course=course,
            subject=_required_text("subject", subject),
            description=_required_text("description", description),
            language=language,
            missing_details=missing,
            message_id=message_id,
            first_response_due=sla.first_response_due(at),
            resolution_due=sla.resolution_due(at, Complexity.SIMPLE),
            actor=REQUESTER,
            timestamp=at,
        )

    @event(Submitted)
    def __init__(
        self,
        reference: str,
        channel: str,
        requester_email: str,
        requester_name: str | None,
        category: str | None,
        course: str | None,
        subject: str,
        description: str,
        language: str,
        missing_details: list[str],
        message_id: str | None,
        first_response_due: datetime,
        resolution_due: datetime,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.reference = reference
        self.channel = Channel(channel)
        self.requester_email = requester_email
        self.requester_name = requester_name
        self.category = Category(category) if category else None
        self.course = course
        self.subject = subject
        self.description = description
        self.language = language
        self.missing_details = list(missing_details)
        self.inbound_message_id = message_id
        self.submitted_at = timestamp
        self.first_response_due = first_response_due
        self.resolution_due = resolution_due
        self.resolution_clock_started_at = timestamp
        self.complexity = Complexity.SIMPLE
        self.status = Status.NEW
        self.acknowledgement_message_id: str | None = None
        self.first_responded_at: datetime | None = None
        self.responses = 0
        self.resolved_at: datetime | None = None
        self.resolution_summary: str | None = None
        self.escalations: list[Escalation] = []
        self.extensions = 0
        self.follow_ups = 0
        self.forwarded_to: str | None = None
        self.reopened = 0
        self.owner: str | None = None
        self.notes = 0
        self.warnings: list[tuple[str, datetime]] = []
        self.erased_at: datetime | None = None

    class DetailsSupplied(Event):
        """The requester stated the category or course the first message lacked (P3.2)."""

        category: str | None
        course: str | None

    def supply_details(
        self, *, category: Category | None, course: str | None, actor: str, at: datetime
    ) -> None:
        """The requester stated what the first message lacked (P3.2)."""
        self._require_not_resolved("complete")
        course = (course or "").strip() or None
        supplied = {
            name: value
            for name, value in (("category", category), ("course", course))
            if value and name in self.missing_details
        }
        if not supplied:
            raise InvalidRequest("nothing that was missing is stated")
        self._details_supplied(
            category=category.value if "category" in supplied and category else None,
            course=course if "course" in supplied else None,
            actor=actor,
            timestamp=at,
        )

    @event(DetailsSupplied)
    def _details_supplied(
        self, category: str | None, course: str | None, actor: str, timestamp: datetime
    ) -> None:
        if category:
            self.category = Category(category)
            self.missing_details.remove("category")
        if course:
            self.course = course
            self.missing_details.remove("course")

    # ---- receipt (P3.3) ----------------------------------------------------------------------

    class Acknowledged(Event):
        """The receipt email with the reference was sent, with this Message-ID (P3.3)."""

        message_id: str

    def acknowledge(self, *, message_id: str, actor: str, at: datetime) -> None:
        """Record that the receipt email with the reference was sent (P3.3)."""
        if self.acknowledgement_message_id is not None:
            raise TransitionRefused("the receipt was already acknowledged")
        self._acknowledged(
            message_id=_required_text("message_id", message_id), actor=actor, timestamp=at
        )

    @event(Acknowledged)
    def _acknowledged(self, message_id: str, actor: str, timestamp: datetime) -> None:
        self.acknowledgement_message_id = message_id

    # ---- handling (P3.4, P5) -------------------------------------------------------------------

    class Responded(Event):
        """An agent replied to the requester; the first reply answers P5.1 (P3.4).

        `template` and `template_version` name the canned response the text began from.
        """

        message: str
        template: str | None
        template_version: int | None

        personal = ("message",)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before canned responses: written from scratch.
            state.update(template=None, template_version=None)

    def respond(
        self, *, message: str, actor: str, at: datetime, template: TemplateUse | None = None
    ) -> None:
        """Record a reply to the requester; the first one answers P5.1."""
        self._require_not_resolved("respond to")
        self._require_not_erased("respond to")
        self._responded(
            message=_required_text("message", message),
            template=template.id if template else None,
            template_version=template.version if template else None,
            actor=actor,
            timestamp=at,
        )

    @event(Responded)
    def _responded(
        self,
        message: str,
        template: str | None,
        template_version: int | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        if self.first_responded_at is None:
            self.first_responded_at = timestamp
        self.responses += 1

    class Classified(Event):
        """An agent set the problem's complexity and so its resolution target (P5.2–P5.3)."""

        complexity: str
        resolution_due: datetime

    def classify(self, *, complexity: Complexity, actor: str, at: datetime, sla: SlaPolicy) -> None:
        """Set the problem's complexity, which sets its resolution target (P5.2–P5.3)."""
        self._require_not_resolved("classify")
        if complexity is self.complexity:
            raise TransitionRefused(f"the ticket is already classified {complexity.value}")
        due = sla.resolution_due(self.resolution_clock_started_at, complexity)
        if self.extensions and self.resolution_due > due:
            due = self.resolution_due  # an extension already promised more time; keep it
        self._classified(complexity=complexity.value, resolution_due=due, actor=actor, timestamp=at)

    @event(Classified)
    def _classified(
        self, complexity: str, resolution_due: datetime, actor: str, timestamp: datetime
    ) -> None:
        self.complexity = Complexity(complexity)
        self.resolution_due = resolution_due

    class DeadlineExtended(Event):
        """More contact is needed: the new expected resolution time, and why (P5.4)."""

        resolution_due: datetime
        reason: str

    def extend_deadline(
        self, *, resolution_due: datetime, reason: str, actor: str, at: datetime
    ) -> None:
        """More contact is needed: a new expected resolution time, told to the requester (P5.4)."""
        self._require_not_resolved("extend")
        if resolution_due.tzinfo is None:
            raise InvalidRequest("the new expected time must include a time zone")
        if resolution_due <= self.resolution_due:
            raise InvalidRequest("an extension must move the expected resolution time later")
        if resolution_due > at + MAX_EXTENSION:
            raise InvalidRequest("the new expected time must be within a year")
        self._deadline_extended(
            resolution_due=resolution_due,
            reason=_required_text("reason", reason),
            actor=actor,
            timestamp=at,
        )

    @event(DeadlineExtended)
    def _deadline_extended(
        self, resolution_due: datetime, reason: str, actor: str, timestamp: datetime
    ) -> None:
        self.resolution_due = resolution_due
        self.extensions += 1

    class Resolved(Event):
        """The solution was given to the requester (P3.4), perhaps from a canned response."""

        summary: str
        template: str | None
        template_version: int | None

        personal = ("summary",)
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.update(template=None, template_version=None)

    def resolve(
        self, *, summary: str, actor: str, at: datetime, template: TemplateUse | None = None
    ) -> None:
        """Record that the solution was given to the requester (P3.4)."""
        self._require_not_resolved("resolve")
        self._require_not_erased("resolve")
        self._resolved(
            summary=_required_text("summary", summary),
            template=template.id if template else None,
            template_version=template.version if template else None,
            actor=actor,
            timestamp=at,
        )

    @event(Resolved)
    def _resolved(
        self,
        summary: str,
        template: str | None,
        template_version: int | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.resolved_at = timestamp
        if self.first_responded_at is None:
            self.first_responded_at = timestamp  # the solution is itself a reply (P3.4)
        self.resolution_summary = summary

    class Reopened(Event):
        """The requester says the problem is not solved: a new resolution target."""

        reason: str
        resolution_due: datetime

    def reopen(self, *, reason: str, actor: str, at: datetime, sla: SlaPolicy) -> None:
        """The requester says the problem is not solved: the resolution clock starts again."""
        if self.status is not Status.RESOLVED:
            raise TransitionRefused("only a resolved ticket can be reopened")
        self._require_not_erased("reopen")
        self._reopened(
            reason=_required_text("reason", reason),
            resolution_due=sla.resolution_due(at, self.complexity),
            actor=actor,
            timestamp=at,
        )

    @event(Reopened)
    def _reopened(
        self, reason: str, resolution_due: datetime, actor: str, timestamp: datetime
    ) -> None:
        self.resolved_at = None
        self.resolution_summary = None
        self.resolution_due = resolution_due
        self.resolution_clock_started_at = timestamp
        self.reopened += 1

    # ---- suggestions (P3.5) ------------------------------------------------------------------

    class ForwardedToManagement(Event):
        """A suggestion was referred to the competent management, with a note (P3.5)."""

        department: str
        note: str

    def forward_to_management(
        self, *, department: str, note: str, actor: str, at: datetime
    ) -> None:
        """Refer a development suggestion to the competent management (P3.5)."""
        if self.category is not Category.SUGGESTION:
            raise TransitionRefused("only suggestions are forwarded to management")
        if self.forwarded_to is not None:
            raise TransitionRefused("the suggestion was already forwarded")
        self._require_not_resolved("forward")
        self._forwarded(
            department=_required_text("department", department),
            note=_required_text("note", note),
            actor=actor,
            timestamp=at,
        )

    @event(ForwardedToManagement)
    def _forwarded(self, department: str, note: str, actor: str, timestamp: datetime) -> None:
        self.forwarded_to = department

    # ---- follow-up and escalation (P6) ---------------------------------------------------------

    class FollowUpReceived(Event):
        """The requester wrote again quoting the reference (P6.1).

        `verified` says whether it is known to come from the requester: by the web, from the
        reference and the requester's email; by mail, when the receiving mail server
        authenticated the sender's domain. `sender` and `subject` are the email's.
        """

        message: str
        channel: str
        message_id: str | None
        sender: str | None
        subject: str | None
        verified: bool | None

        personal = ("message", "sender", "subject")
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Recorded before senders were checked: who sent it, and how, is not known.
            state.update(sender=None, subject=None, verified=None)

    def receive_follow_up(
        self,
        *,
        message: str,
        channel: Channel,
        at: datetime,
        message_id: str | None = None,
        sender: str | None = None,
        subject: str | None = None,
        verified: bool = True,
    ) -> None:
        """The requester wrote again quoting the reference (P6.1)."""
        self._require_not_erased("add a message to")
        self._follow_up_received(
            message=_required_text("message", message),
            channel=channel.value,
            message_id=message_id,
            sender=sender,
            subject=subject,
            verified=verified,
            actor=REQUESTER,
            timestamp=at,
        )

    @event(FollowUpReceived)
    def _follow_up_received(
        self,
        message: str,
        channel: str,
        message_id: str | None,
        sender: str | None,
        subject: str | None,
        verified: bool | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.follow_ups += 1

    class Escalated(Event):
        """The ticket went to supervisory management, and why (P6)."""

        reason: str
        level: str
        note: str
        deadline: datetime | None

    def escalate(
        self,
        *,
        reason: EscalationReason,
        actor: str,
        at: datetime,
        note: str = "",
        deadline: datetime | None = None,
        level: str = SUPERVISORY_MANAGEMENT,
    ) -> None:
        """Raise the ticket to supervisory management (P6.2)."""
        self._require_not_resolved("escalate")
        if reason.is_deadline and deadline is None:
            raise InvalidRequest("a deadline escalation must name the deadline")
        if deadline is not None and self.has_escalated(reason, deadline):
            raise TransitionRefused("this deadline was already escalated")
        self._escalated(
            reason=reason.value,
            level=level,
            note=note.strip(),
            deadline=deadline,
            actor=actor,
            timestamp=at,
        )

    @event(Escalated)
    def _escalated(
        self,
        reason: str,
        level: str,
        note: str,
        deadline: datetime | None,
        actor: str,
        timestamp: datetime,
    ) -> None:
        self.escalations.append(Escalation(reason, level, deadline, timestamp, actor))

    # ---- ownership and internal notes ------------------------------------------------------

    class Assigned(Event):
        """A member of the support team owns the ticket from now on."""

        assignee: str

    def assign(self, *, assignee: str, actor: str, at: datetime, reassign: bool = False) -> None:
        """Give the ticket an owner; taking it from another owner needs `reassign`."""
        self._require_not_resolved("assign")
        assignee = _required_text("assignee", assignee)
        if assignee == self.owner:
            raise TransitionRefused(f"the ticket is already assigned to {assignee}")
        if self.owner is not None and not reassign:
            raise TransitionRefused(
                f"the ticket is assigned to {self.owner}; a supervisor may reassign it"
            )
        self._assigned(assignee=assignee, actor=actor, timestamp=at)

    @event(Assigned)
    def _assigned(self, assignee: str, actor: str, timestamp: datetime) -> None:
        self.owner = assignee

    class Unassigned(Event):
        """The ticket has no owner any more; `assignee` is the one it had."""

        assignee: str

    def unassign(self, *, actor: str, at: datetime, reassign: bool = False) -> None:
        """Release the ticket; only its owner may, or whoever may `reassign` it."""
        if self.owner is None:
            raise TransitionRefused("the ticket is not assigned to anyone")
        if self.owner != actor and not reassign:
            raise TransitionRefused(
                f"the ticket is assigned to {self.owner}; only they or a supervisor may release it"
            )
        self._unassigned(assignee=self.owner, actor=actor, timestamp=at)

    @event(Unassigned)
    def _unassigned(self, assignee: str, actor: str, timestamp: datetime) -> None:
        self.owner = None

    class NoteAdded(Event):
        """An internal note for the support team: never sent, never shown to the requester, and
        never a response (P5.1)."""

        text: str

        personal = ("text",)

    def add_note(self, *, text: str, actor: str, at: datetime) -> None:
        """Record an internal note; a resolved ticket may be annotated too."""
        self._require_not_erased("annotate")
        self._note_added(text=_required_text("text", text), actor=actor, timestamp=at)

    @event(NoteAdded)
    def _note_added(self, text: str, actor: str, timestamp: datetime) -> None:
        self.notes += 1

    # ---- files sent with a message (P2.2, P2.3) -------------------------------------------------

    class FilesAttached(Event):
        """Files came with the message recorded at `message_version`: each kept one's kind,
        size and the SHA-256 of the bytes kept apart from the record, and why each other one
        was refused. Their names are the sender's words, so they are one personal text, a
        line each, the kept files' first."""

        message_version: int
        files: list[dict[str, Any]]
        refused: list[str]
        names: str

        personal = ("names",)

    def attach_files(
        self,
        *,
        files: Sequence[Attachment],
        refused: Sequence[Refused] = (),
        actor: str,
        at: datetime,
    ) -> None:
        """Record the files that came with the message just recorded (the ticket's newest
        event): a request, a follow-up or a response."""
        self._require_not_erased("attach files to")
        if not files and not refused:
            raise InvalidRequest("no file to attach")
        self._files_attached(
            message_version=self.version,
            files=[f.as_record() for f in files],
            refused=[r.reason.value for r in refused],
            names="\n".join([f.name for f in files] + [r.name for r in refused]),
            actor=actor,
            timestamp=at,
        )

    @event(FilesAttached)
    def _files_attached(
        self,
        message_version: int,
        files: list[dict[str, Any]],
        refused: list[str],
        names: str,
        actor: str,
        timestamp: datetime,
    ) -> None:
        # Each file keeps its own name, and the sealed form of the names: the key that opens
        # them opens the file's bytes too.
        given = split_names(names, len(files) + len(refused)) or [str(names)] * len(files)
        sealed = getattr(names, "sealed", None)
        kept = (
            {
                **f,
                "message_version": message_version,
                "name": name,
                "sealed_names": sealed,
            }
            for f, name in zip(files, given, strict=False)
        )
        self.files = (*self.files, *kept)

    def file(self, sha256: str) -> dict[str, Any] | None:
        """The file kept with this hash, if the ticket has one."""
        return next((f for f in self.files if f["sha256"] == sha256), None)

    class DeadlineAtRisk(Event):
        """A deadline of an owned ticket is about to pass: its owner is warned, once (P5)."""

        deadline: str
        due: datetime
        owner: str

    def warn_owner(self, *, deadline: Deadline, due: datetime, actor: str, at: datetime) -> None:
        """Warn the owner that `deadline`, due at `due`, is at risk; once per due instant."""
        if self.owner is None:
            raise TransitionRefused("the ticket has no owner to warn")
        if self.running_deadlines().get(deadline) != due:
            raise TransitionRefused("that deadline is not running with that due instant")
        if self.has_warned(deadline, due):
            raise TransitionRefused("the owner was already warned of this deadline")
        self._deadline_at_risk(
            deadline=deadline.value, due=due, owner=self.owner, actor=actor, timestamp=at
        )

    @event(DeadlineAtRisk)
    def _deadline_at_risk(
        self, deadline: str, due: datetime, owner: str, actor: str, timestamp: datetime
    ) -> None:
        self.warnings.append((deadline, due))

    # ---- personal data (P7.3) -----------------------------------------------------------------

    class RequesterDataErased(Event):
        """The requester's personal data was destroyed (the right to destruction, or the end of
        its purpose): the key that opens the sealed texts is gone; the rest of the record, its
        instants, categories and courses, stays.

        `basis` is the legal ground (a request of the learner, the retention period, ...).
        """

        reason: str
        basis: str

    def erase_requester_data(self, *, reason: str, basis: str, actor: str, at: datetime) -> None:
        """Record the erasure of the requester's personal data from this ticket."""
        if self.erased_at is not None:
            raise TransitionRefused("the requester's data was already erased from this ticket")
        if self.hold is not None:
            raise DataHeld(f"the ticket's data is held ({self.hold}): lift the hold first")
        self._requester_data_erased(
            reason=_required_text("reason", reason),
            basis=_required_text("basis", basis),
            actor=actor,
            timestamp=at,
        )

    @event(RequesterDataErased)
    def _requester_data_erased(
        self, reason: str, basis: str, actor: str, timestamp: datetime
    ) -> None:
        self.erased_at = timestamp
        # What this ticket read of the requester is forgotten at once, also where it is cached.
        for name in Ticket.Submitted.personal:
            setattr(self, name, _hidden(getattr(self, name), ERASED))
        self.resolution_summary = _hidden(self.resolution_summary, ERASED)

    class FieldRedacted(Event):
        """One personal text of one event is made unreadable (a password pasted into a
        request): the rest of the ticket stays readable. The record keeps the sealed form."""

        version: int
        field: str
        reason: str

    def redact(
        self,
        *,
        version: int,
        field: str,
        redactable: tuple[str, ...],
        reason: str,
        actor: str,
        at: datetime,
    ) -> None:
        """Redact `field` of the event at `version`, one of the texts it holds (`redactable`).
        The requester's address is not one: the desk answers them there."""
        if not 1 <= version <= self.version:
            raise InvalidRequest(f"the ticket has no event at version {version}")
        if field not in redactable or field == "requester_email":
            choices = ", ".join(f for f in redactable if f != "requester_email") or "none"
            raise InvalidRequest(f"{field!r} is not a text of that event; its texts: {choices}")
        if (version, field) in self.redactions:
            raise TransitionRefused(f"{field} of version {version} is redacted already")
        self._require_not_erased("redact")
        self._field_redacted(
            version=version,
            field=field,
            reason=_required_text("reason", reason),
            actor=actor,
            timestamp=at,
        )

    @event(FieldRedacted)
    def _field_redacted(
        self, version: int, field: str, reason: str, actor: str, timestamp: datetime
    ) -> None:
        self.redactions = (*self.redactions, (version, field))
        if version == 1 and field in Ticket.Submitted.personal:  # what the ticket reads of it
            setattr(self, field, _hidden(getattr(self, field), REDACTED))

    class HoldPlaced(Event):
        """The ticket's data must be kept whatever its age (a dispute, a legal case): neither
        the retention period nor an erasure removes it while the hold stands."""

        reason: str

    class HoldLifted(Event):
        """The hold ended: the data is kept or erased by the usual rules again."""

        reason: str

    def place_hold(self, *, reason: str, actor: str, at: datetime) -> None:
        """Keep the ticket's data until the hold is lifted."""
        if self.hold is not None:
            raise TransitionRefused(f"the ticket is already held ({self.hold})")
        self._require_not_erased("hold")
        self._hold_placed(reason=_required_text("reason", reason), actor=actor, timestamp=at)

    @event(HoldPlaced)
    def _hold_placed(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.hold = reason

    def lift_hold(self, *, reason: str, actor: str, at: datetime) -> None:
        """End the hold."""
        if self.hold is None:
            raise TransitionRefused("the ticket is not held")
        self._hold_lifted(reason=_required_text("reason", reason), actor=actor, timestamp=at)

    @event(HoldLifted)
    def _hold_lifted(self, reason: str, actor: str, timestamp: datetime) -> None:
        self.hold = None

    # ---- questions ------------------------------------------------------------------------

    def has_warned(self, deadline: Deadline, due: datetime) -> bool:
        """Whether the owner was already warned that this deadline is at risk."""
        return (deadline.value, due) in self.warnings

    def running_deadlines(self) -> dict[Deadline, datetime]:
        """The deadlines still running, with their due instants (P5)."""
        return running_deadlines(
            self.status,
            self.first_responded_at is not None,
            self.first_response_due,
            self.resolution_due,
        )

    def has_escalated(self, reason: EscalationReason, deadline: datetime) -> bool:
        """Whether this deadline was already escalated for this reason."""
        return any(e.reason == reason.value and e.deadline == deadline for e in self.escalations)

    def overdue_deadlines(self, now: datetime) -> list[tuple[EscalationReason, datetime]]:
        """Deadlines that passed unmet as of `now` (P6)."""
        return [
            (EscalationReason.missed(deadline), due)
            for deadline, due in self.running_deadlines().items()
            if has_passed(due, now)
        ]

    def _require_not_erased(self, action: str) -> None:
        if self.erased_at is not None:
            raise TransitionRefused(
                f"cannot {action} this ticket: the requester's personal data was erased"
            )

    def _require_not_resolved(self, action: str) -> None:
        if self.status is Status.RESOLVED:
            raise TransitionRefused(f"cannot {action} a resolved ticket; reopen it first")


def status_after(status: Status, domain_event: Ticket.Event) -> Status:
    """Where a ticket stands once this event is applied: the one rule the aggregate and the
    read models follow (P3.3–P3.5)."""
    match domain_event:
        case Ticket.Acknowledged() if status is Status.NEW:
            return Status.ACKNOWLEDGED
        case Ticket.Responded() if status in (Status.NEW, Status.ACKNOWLEDGED):
            return Status.IN_PROGRESS
        case Ticket.ForwardedToManagement():
            return Status.FORWARDED
        case Ticket.Resolved():
            return Status.RESOLVED
        case Ticket.Reopened():
            return Status.IN_PROGRESS
    return status


def _hidden(value: str | None, mark: str) -> str | None:
    """A text read as `mark` (erased, redacted), keeping the sealed form it was recorded as."""
    if value is None:
        return None
    return Personal(mark, value.sealed if isinstance(value, Personal) else mark)


def _required_text(name: str, value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise InvalidRequest(f"{name} must not be empty")
    return text
