"""The SLA watcher: escalates each deadline that passes unmet, once (P5.1–P5.3, P6.2), and warns
a ticket's owner of each deadline at risk, once (P5).

Which tickets to look at comes from read models (tickets with a due instant at or before `now`;
owned tickets with a deadline at risk); what to do is decided on the ticket itself, freshly
loaded, so a stale read model can cost a look but never a wrong escalation or warning. Two
watchers may run: the ticket refuses a second escalation of the same deadline and a second
warning of the same due instant, and optimistic concurrency makes the loser re-check. The
Escalated event reaches supervisory management by email through the outbox, the DeadlineAtRisk
event the ticket's owner, within business hours (P4).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from application.desk import Clock, SupportDesk
from application.storage.leases import Fence
from domain.deadlines import Deadline
from domain.errors import TicketNotFound, TransitionRefused
from domain.sla import SlaState
from domain.ticket import Ticket

log = logging.getLogger(__name__)

SLA_WATCH = "system:sla-watch"
"""The actor of the escalations and warnings the watcher records."""

Candidates = Callable[[datetime], Iterable[str]]
"""References of tickets that may have a deadline passed unmet (or at risk) at the instant."""


class SlaWatcher:
    """Escalates missed first-response and resolution deadlines (P6.2); with `at_risk`, also
    warns the owners of tickets whose deadlines are at risk (P5)."""

    def __init__(
        self,
        desk: SupportDesk,
        candidates: Candidates,
        *,
        at_risk: Candidates | None = None,
        clock: Clock | None = None,
        interval: float = 30.0,
    ) -> None:
        self.desk = desk
        self.candidates = candidates
        self.at_risk = at_risk
        self.clock = clock or desk.clock
        self.interval = interval
        # Set where replicas elect a leader: checked before each escalation or warning.
        self.fence: Fence | None = None

    def watch_once(self) -> int:
        """Escalate every deadline passed unmet and warn the owners of those at risk, as of now;
        returns how many escalations and warnings were recorded."""
        escalated, warned = self._watch(self.clock())
        return escalated + warned

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set."""
        while not stop.is_set():
            escalated, warned = self._watch(self.clock())
            if escalated:
                log.info("sla-watch: %d deadline(s) escalated", escalated)
            if warned:
                log.info("sla-watch: owners warned of %d deadline(s) at risk", warned)
            stop.wait(self.interval)

    def _watch(self, now: datetime) -> tuple[int, int]:
        escalated = sum(self._escalate_overdue(r, now) for r in self.candidates(now))
        warned = sum(self._warn_owner(r, now) for r in self.at_risk(now)) if self.at_risk else 0
        return escalated, warned

    def _escalate_overdue(self, reference: str, now: datetime) -> int:
        try:
            ticket = self.desk.ticket(reference)
        except TicketNotFound:
            return 0
        escalated = 0
        for reason, deadline in ticket.overdue_deadlines(now):
            if ticket.has_escalated(reason, deadline):
                continue
            self._still_leading()
            try:
                self.desk.escalate(reference, reason=reason, actor=SLA_WATCH, deadline=deadline)
                escalated += 1
            except TransitionRefused:
                pass  # another watcher was first, or the ticket was resolved meanwhile
        return escalated

    def _still_leading(self) -> None:
        if self.fence is not None:
            self.fence(None)

    def _warn_owner(self, reference: str, now: datetime) -> int:
        try:
            ticket = self.desk.ticket(reference)
        except TicketNotFound:
            return 0
        if ticket.owner is None:
            return 0  # released since the read model saw it
        warned = 0
        for deadline, due in ticket.running_deadlines().items():
            try:
                state = self.desk.sla.state(_clock_start(ticket, deadline), due, now)
            except ValueError:  # a due instant beyond the calendar's years: never at risk
                continue
            if state is not SlaState.AT_RISK:
                continue  # on track, or passed: then it is escalated instead (P6.2)
            if ticket.has_warned(deadline, due):
                continue
            self._still_leading()
            try:
                self.desk.warn_owner(reference, deadline=deadline, due=due, actor=SLA_WATCH)
                warned += 1
            except TransitionRefused:
                pass  # another watcher was first, or the ticket lost its owner meanwhile
        return warned


def _clock_start(ticket: Ticket, deadline: Deadline) -> datetime:
    """When the clock of `deadline` started: at submission for the first response (P5.1), at
    submission or the last reopening for the resolution (P5.2–P5.3)."""
    if deadline is Deadline.FIRST_RESPONSE:
        return ticket.submitted_at
    return ticket.resolution_clock_started_at
