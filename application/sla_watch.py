"""The SLA watcher: escalates each deadline that passes unmet, once (P5.1–P5.3, P6.2).

Which tickets to look at comes from a read model (tickets with a due instant at or before
`now`); what to do is decided on the ticket itself, freshly loaded, so a stale read model can
cost a look but never a wrong escalation. Two watchers may run: the ticket refuses a second
escalation of the same deadline, and optimistic concurrency makes the loser re-check. The
Escalated event reaches supervisory management by email through the outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime

from application.desk import Clock, SupportDesk
from domain.errors import TicketNotFound, TransitionRefused

log = logging.getLogger(__name__)

SLA_WATCH = "system:sla-watch"
"""The actor of the escalations the watcher records."""

Candidates = Callable[[datetime], Iterable[str]]
"""References of tickets that may have a deadline passed unmet at the given instant."""


class SlaWatcher:
    """Escalates missed first-response and resolution deadlines (P6.2)."""

    def __init__(
        self,
        desk: SupportDesk,
        candidates: Candidates,
        *,
        clock: Clock | None = None,
        interval: float = 30.0,
    ) -> None:
        self.desk = desk
        self.candidates = candidates
        self.clock = clock or desk.clock
        self.interval = interval

    def watch_once(self) -> int:
        """Escalate every deadline passed unmet as of now; returns how many were escalated."""
        now = self.clock()
        escalated = 0
        for reference in self.candidates(now):
            escalated += self._escalate_overdue(reference, now)
        return escalated

    def run(self, stop: threading.Event) -> None:
        """Watch until `stop` is set."""
        while not stop.is_set():
            count = self.watch_once()
            if count:
                log.info("sla-watch: %d deadline(s) escalated", count)
            stop.wait(self.interval)

    def _escalate_overdue(self, reference: str, now: datetime) -> int:
        try:
            ticket = self.desk.ticket(reference)
        except TicketNotFound:
            return 0
        escalated = 0
        for reason, deadline in ticket.overdue_deadlines(now):
            if ticket.has_escalated(reason, deadline):
                continue
            try:
                self.desk.escalate(reference, reason=reason, actor=SLA_WATCH, deadline=deadline)
                escalated += 1
            except TransitionRefused:
                pass  # another watcher was first, or the ticket was resolved meanwhile
        return escalated
