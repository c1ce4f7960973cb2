"""What auditors ask of the record (P7.1): a ticket's full history, its state and SLA standing
at any past instant, verification that nothing recorded was changed or removed, and the whole
log for export.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from application.audit.access import AccessLog
from application.audit.chain import ChainVerifier, Verification
from application.audit.checkpoints import CheckpointError, CheckpointFile
from application.audit.records import EventLog, StoredRecord, jsonable
from application.audit.seals import AuditKey
from application.desk import SupportDesk
from domain.deadlines import Outcome, outcome
from domain.errors import InvalidRequest, TicketNotFound
from domain.reference import Reference
from domain.sla import SlaPolicy, SlaState
from domain.status import Status
from domain.ticket import Ticket

TICKET_FIELDS = (
    "reference",
    "status",
    "channel",
    "category",
    "course",
    "subject",
    "description",
    "language",
    "requester_email",
    "requester_name",
    "missing_details",
    "submitted_at",
    "acknowledgement_message_id",
    "first_response_due",
    "first_responded_at",
    "responses",
    "complexity",
    "resolution_clock_started_at",
    "resolution_due",
    "extensions",
    "follow_ups",
    "forwarded_to",
    "resolved_at",
    "resolution_summary",
    "reopened",
    "chain_head",
)


@dataclass(frozen=True)
class PastState:
    """A ticket as it was at an instant: replayed from the events recorded up to it."""

    at: datetime
    ticket: Ticket
    sla: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """The state as plain JSON values."""
        state: dict[str, Any] = {name: getattr(self.ticket, name, None) for name in TICKET_FIELDS}
        state["version"] = self.ticket.version
        state["escalations"] = [vars(e) for e in getattr(self.ticket, "escalations", [])]
        return {"at": jsonable(self.at), "state": jsonable(state), "sla": jsonable(self.sla)}


def sla_standing(sla: SlaPolicy, ticket: Ticket, at: datetime) -> dict[str, Any]:
    """Where each deadline stood at `at` for the ticket as it then was (P5, P6)."""
    if ticket.first_responded_at is not None:
        first = _finished(ticket.first_responded_at, ticket.first_response_due)
    else:
        first = _running(sla, ticket.submitted_at, ticket.first_response_due, at)
    if ticket.resolved_at is not None:
        resolution = _finished(ticket.resolved_at, ticket.resolution_due)
    elif ticket.status is Status.FORWARDED:
        resolution = {"state": "forwarded", "due": ticket.resolution_due, "breached": False}
    else:
        resolution = _running(sla, ticket.resolution_clock_started_at, ticket.resolution_due, at)
    return {
        "first_response": first,
        "resolution": resolution,
        "breached": bool(first["breached"] or resolution["breached"]),
    }


def _finished(done_at: datetime, due: datetime) -> dict[str, Any]:
    missed = outcome(due, done_at) is Outcome.BREACHED
    return {"state": "missed" if missed else "met", "due": due, "at": done_at, "breached": missed}


def _running(sla: SlaPolicy, started: datetime, due: datetime, at: datetime) -> dict[str, Any]:
    state = sla.state(started, due, at)
    return {"state": state.value, "due": due, "breached": state is SlaState.BREACHED}


class Audit:
    """The auditor's questions, answered from the record as stored."""

    def __init__(
        self,
        desk: SupportDesk,
        sla: SlaPolicy,
        timezone: tzinfo,
        key: AuditKey,
        checkpoints: CheckpointFile | None = None,
        access_log: AccessLog | None = None,
        key_configured: bool = False,
    ) -> None:
        self.desk = desk
        self.sla = sla
        self.timezone = timezone
        self.key = key
        self.checkpoints = checkpoints
        self.access_log = access_log
        # A desk given its key by the deployment has been recording: an empty log was emptied.
        self.key_configured = key_configured
        self.log = EventLog(desk)

    # ---- history -------------------------------------------------------------------------

    def history(self, reference: str) -> list[StoredRecord]:
        """Every event of the ticket as stored, in order (P7.1)."""
        records = self.log.of_ticket(Reference.parse(reference).ticket_id)
        if not records:
            raise TicketNotFound(f"no ticket has the reference {reference}")
        return records

    def entry(self, record: StoredRecord) -> dict[str, Any]:
        """One event as the auditor reads it: where, when (UTC and local), who, what, hashes."""
        instant = record.timestamp
        return {
            "position": record.position,
            "ticket_id": str(record.ticket_id),
            "version": record.version,
            "type": record.type,
            "topic": record.topic,
            "class_version": record.class_version,
            "instant": jsonable(instant),
            "local_instant": jsonable(instant.astimezone(self.timezone)) if instant else None,
            "actor": record.actor,
            "data": jsonable(record.data),
            "hash": record.stored_hash,
            "prev_hash": record.prev_hash,
        }

    def state_at(
        self, reference: str, *, as_of: datetime | None = None, version: int | None = None
    ) -> PastState:
        """The ticket as it was at an instant or a version, with its SLA standing then."""
        if (as_of is None) == (version is None):
            raise InvalidRequest("give either an instant or a version")
        records = sorted(self.history(reference), key=lambda r: r.version)
        if as_of is not None:
            if as_of.tzinfo is None:
                raise InvalidRequest("the instant must include a time zone")
            earlier = [r for r in records if r.timestamp is not None and r.timestamp <= as_of]
            if not earlier:
                raise TicketNotFound(f"the ticket {reference} had not been submitted at {as_of}")
            version, at = earlier[-1].version, as_of
        else:
            chosen = [r for r in records if r.version == version]
            if not chosen or chosen[0].timestamp is None:
                raise TicketNotFound(f"the ticket {reference} has no version {version}")
            at = chosen[0].timestamp
        ticket = self.desk.ticket(reference, version=version)
        return PastState(at=at, ticket=ticket, sla=sla_standing(self.sla, ticket, at))

    # ---- verification and export ---------------------------------------------------------

    def verify(
        self, reference: str | None = None, checkpoints: CheckpointFile | None = None
    ) -> Verification:
        """Recompute the hash chains and compare them with their seals (P7.1), and the log
        with the checkpoints kept outside the database (these, else the configured file)."""
        kept = checkpoints or self.checkpoints
        verifier = ChainVerifier(self.log, self.key, kept or (), expect_record=self.key_configured)
        if reference is None:
            return self._with_access_log(verifier.verify_store(), kept)
        result = verifier.verify_ticket(Reference.parse(reference).ticket_id)
        if not result.tickets:
            raise TicketNotFound(f"no ticket has the reference {reference}, nor a seal")
        return result

    def _with_access_log(self, result: Verification, kept: CheckpointFile | None) -> Verification:
        """The verification, with what is wrong with the log of who looked."""
        if self.access_log is None:
            return result
        try:
            counted = max((c.accesses or 0 for c in kept or ()), default=None)
        except CheckpointError:
            counted = None  # named by the chain's verification already
        problems = self.access_log.verify(counted)
        return replace(result, problems=[*result.problems, *problems]) if problems else result

    def export(
        self, after: int | None = None, to: int | None = None, page_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """The log after position `after` (up to `to`), in order, one event at a time."""
        for record in self.log.records(after, to, page_size):
            yield self.entry(record)


def verification_dict(result: Verification, all_tickets: bool = True) -> dict[str, Any]:
    """A verification as plain JSON values."""
    tickets = result.tickets if all_tickets else result.broken
    return {
        "intact": result.intact,
        "tickets_checked": len(result.tickets),
        "events_checked": result.events_checked,
        "seconds": round(result.seconds, 6),
        "events_per_second": round(result.events_per_second, 1),
        "sealed_up_to": result.watermark,
        "digest": result.digest,
        "problems": result.problems,
        "rekeyed_events": result.rekeyed_events,
        "tickets": [
            {
                "reference": t.reference,
                "ticket_id": str(t.ticket_id),
                "events": t.events,
                "sealed_version": t.sealed_version,
                "pending_seal": t.pending,
                "intact": t.intact,
                "first_bad": None if t.first_bad is None else vars(t.first_bad),
            }
            for t in tickets
        ],
    }
