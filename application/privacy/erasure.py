"""Forgetting a requester: the right to destruction, and the end of the data's purpose (P7.3).

An erasure records `RequesterDataErased` on each of the requester's tickets (who, when, why,
on what legal basis), destroys the requester's key, which leaves every sealed text of theirs in
the record unreadable without changing a byte of it, and purges the copies made from the
record while it was readable: rows of the mail tables here, the read models and files through
the `purges` the composition root gives. `audit verify` still passes: the record is unchanged
but for the new events.

The key is destroyed only after the events are recorded, and an erasure can be run again: a
run cut short is finished by the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from application.desk import Outcome, SupportDesk
from application.mail.address import address_tag
from application.mail.bursts import bursts_table
from application.mail.intake import inbound_table
from application.mail.mailer import dead_letter_table
from application.mail.outbox import held_table, pending_table
from application.mail.quota import quota_table
from application.privacy.keys import KeyStore, subject_of_sealed
from application.privacy.rekeying import Rekeyer
from application.storage.idempotency import keys_table
from domain.errors import DataHeld, InvalidRequest, TicketNotFound
from domain.personal import Personal
from domain.reference import InvalidReference, Reference
from domain.ticket import Ticket

log = logging.getLogger(__name__)

BASES = ("request", "retention", "legal-obligation", "replay")
"""The legal grounds an erasure may name: the learner asked (PDPL art. 4), the retention period
ended (art. 18), a legal obligation, or an erasure replayed over a restored backup."""

Purge = Callable[[Sequence[str], int | None], None]
"""Purges the copies of these tickets' personal data kept outside the record: all of them, or
those made from the event at one version."""


@dataclass
class ErasureReport:
    """What one erasure did."""

    requester: str
    """The requester's address tag: never the address itself, which is now forgotten."""
    references: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    """Tickets whose erasure was recorded now (the others had it already)."""
    key_destroyed: bool = False
    files_removed: int = 0
    rekeyed: list[str] = field(default_factory=list)
    """Tickets recorded before texts were sealed, whose texts were sealed first."""
    left_in_the_clear: dict[str, str] = field(default_factory=dict)
    """Tickets whose texts as written could not be sealed (their chain does not verify), and
    why: their texts stay readable in the log until an auditor has looked."""

    def as_json(self) -> dict[str, object]:
        """What the command line prints and the API answers."""
        return {
            "requester": self.requester,
            "references": self.references,
            "recorded": self.recorded,
            "key_destroyed": self.key_destroyed,
            "files_removed": self.files_removed,
            "rekeyed": self.rekeyed,
            "left_in_the_clear": self.left_in_the_clear,
        }


class Eraser:
    """Erases requesters, by address or by one of their tickets' references."""

    def __init__(
        self,
        desk: SupportDesk,
        keys: KeyStore,
        engine: Engine,
        tickets_of: Callable[[str], list[str]],
        purges: Sequence[Purge] = (),
        rekeyer: Rekeyer | None = None,
    ) -> None:
        self.desk = desk
        self.keys = keys
        self.engine = engine
        self.tickets_of = tickets_of
        self.purges = list(purges)
        self.rekeyer = rekeyer

    def erase(self, who: str, *, reason: str, basis: str, actor: str) -> ErasureReport:
        """Erase the requester named by an address or a reference, with every ticket of theirs."""
        if basis not in BASES:
            raise InvalidRequest(f"the legal basis must be one of: {', '.join(BASES)}")
        if not reason.strip():
            raise InvalidRequest("an erasure needs its reason")
        email, tickets = self._requester(who)
        references = [t.reference for t in tickets]
        report = ErasureReport(requester=address_tag(email), references=references)
        held = [t.reference for t in tickets if t.hold is not None]
        if held:  # all of the requester's tickets, or none
            raise DataHeld(f"the data of {', '.join(held)} is held: lift the hold first")
        if self.rekeyer is not None:  # texts recorded before sealing are sealed first
            rekeyed = self.rekeyer.rekey([t.id for t in tickets], actor=actor)
            report.rekeyed, report.left_in_the_clear = rekeyed.rekeyed, rekeyed.refused
            for reference, why in rekeyed.refused.items():
                log.warning("texts left as written on %s: %s", reference, why)
        for ticket in tickets:
            reference = ticket.reference
            if ticket.erased_at is None:
                self.desk.erase_requester_data(reference, reason=reason, basis=basis, actor=actor)
                report.recorded.append(reference)
        subjects = sorted({s for t in tickets for s in self._subjects(t)})
        living = [s for s in subjects if self.keys.key(s) is not None]
        if living:
            self.keys.destroy(
                living,
                references,
                email=email,
                at=self.desk.clock(),
                actor=actor,
                reason=reason,
                basis=basis,
            )
            report.key_destroyed = True
        if self.desk.attachments is not None:  # unreadable already; now gone
            report.files_removed = self.desk.attachments.forget(subjects)
        self.purge(references, email)
        log.info(
            "requester erased",
            extra={"requester": report.requester, "tickets": len(references), "basis": basis},
        )
        return report

    def _subjects(self, ticket: Ticket) -> set[str]:
        """The subjects whose keys seal the ticket's texts."""
        found = set()
        for domain_event in self.desk.events.get(ticket.id):
            for value in vars(domain_event).values():
                if isinstance(value, Personal):
                    subject = subject_of_sealed(value.sealed)
                    if subject:
                        found.add(subject)
        return found

    def purge(
        self, references: Sequence[str], email: str | None, version: int | None = None
    ) -> None:
        """Remove the copies of these tickets' personal data kept beside the record (of the
        event at `version` only, if given)."""
        with self.engine.begin() as connection:
            present = set(sa.inspect(connection).get_table_names())  # made by their workers

            def delete(table: sa.Table, where: sa.ColumnElement[bool]) -> None:
                if table.name in present:
                    connection.execute(table.delete().where(where))

            for reference in references:
                # Emails are named `kind.version.reference`.
                own = sa.literal(f"%.{version}.{reference}" if version else f"%.{reference}")
                for table in (pending_table, held_table, dead_letter_table):
                    delete(table, table.c.message_id.like(own))
                if version is None:
                    for table in (inbound_table, keys_table):
                        delete(table, table.c.reference == reference)
            if email is not None:
                tag = address_tag(email)
                delete(quota_table, quota_table.c.mailbox == tag)
                delete(bursts_table, bursts_table.c.sender == tag)
        for purge in self.purges:
            purge(references, version)

    def _requester(self, who: str) -> tuple[str, list[Ticket]]:
        """The requester's address and every ticket made from it, in reference order."""
        who = who.strip()
        if "@" not in who:
            try:
                ticket = self.desk.ticket(Reference.parse(who))
            except (InvalidReference, TicketNotFound):
                raise InvalidRequest(
                    f"{who!r} is neither an email address nor a reference"
                ) from None
            if ticket.erased_at is not None:
                raise InvalidRequest(f"the requester of {ticket.reference} was erased already")
            who = str(ticket.requester_email)
        wanted = who.casefold()
        found = {}
        for reference in self.tickets_of(who):
            ticket = self.desk.ticket(reference)
            if str(ticket.requester_email).casefold() == wanted:
                found[ticket.reference] = ticket
        for erasure in self.keys.erased(who):  # tickets of an erasure cut short, found again
            for reference in erasure.references:
                if reference not in found:
                    found[reference] = self.desk.ticket(reference)
        if not found:
            raise TicketNotFound("no ticket was made from this address")
        return who, [found[reference] for reference in sorted(found)]

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
        """Redact one text of one event (`SupportDesk.redact`), and the copies made from it."""
        outcome = self.desk.redact(
            reference,
            version=version,
            field=field,
            reason=reason,
            actor=actor,
            expected_version=expected_version,
        )
        self.purge([outcome.reference], None, version)
        return outcome

    # ---- backups ------------------------------------------------------------------------

    def replay(self, actor: str) -> list[str]:
        """After a restore of an older backup of the event store: record again every erasure of
        the log the restored record lacks, and purge its copies. Returns the tickets marked."""
        marked = []
        for erasure in self.keys.erasures():
            restored = []
            for reference in erasure.references:
                try:
                    ticket = self.desk.ticket(reference)
                except TicketNotFound:
                    continue  # made after the backup: the restore lost it
                restored.append(ticket.id)
                if ticket.erased_at is None:
                    self.desk.erase_requester_data(
                        reference,
                        reason=f"replayed erasure {erasure.id} of {erasure.erased_at:%Y-%m-%d}: "
                        f"{erasure.reason}",
                        basis="replay",
                        actor=actor,
                    )
                    marked.append(reference)
            if self.rekeyer is not None and restored:
                # Texts an older backup holds as written: sealed now under keys never kept,
                # as the tickets' erasure is recorded.
                self.rekeyer.rekey(restored, actor=actor)
            self.purge(erasure.references, None)
        return marked
