"""The retention period: requesters are erased a set number of days after their last ticket was
resolved (`SUPPORTDESK_RETENTION_DAYS`; PDPL asks that data be destroyed once its purpose has
ended), unless a hold recorded on one of their tickets (a dispute, a legal case) keeps them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from application.desk import Clock
from application.mail.address import address_tag
from application.privacy.erasure import Eraser, ErasureReport
from application.storage.leases import Fence
from domain.errors import DataHeld, DomainError

log = logging.getLogger(__name__)

ACTOR = "system:retention"

Candidates = Callable[[datetime], list[str]]
"""The addresses whose tickets are all closed, the last resolved before an instant."""


@dataclass
class RetentionReport:
    """What one pass of the retention period did."""

    erased: list[ErasureReport] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    """The address tags of requesters kept by a hold."""
    failed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, object]:
        return {
            "erased": [r.as_json() for r in self.erased],
            "held": self.held,
            "failed": self.failed,
        }


class Retention:
    """Erases the requesters past the retention period, now and then."""

    def __init__(
        self,
        eraser: Eraser,
        candidates: Candidates,
        days: int,
        clock: Clock,
        interval: float = 3600.0,
    ) -> None:
        if days <= 0:
            raise ValueError("the retention period is a positive number of days")
        self.eraser = eraser
        self.candidates = candidates
        self.days = days
        self.clock = clock
        self.interval = interval
        self.fence: Fence | None = None  # set where replicas elect a leader

    def run_once(self) -> RetentionReport:
        """Erase every requester past the period, but those held; say what was done."""
        report = RetentionReport()
        reason = f"the retention period of {self.days} days after the last resolution ended"
        for email in self.candidates(self.clock() - timedelta(days=self.days)):
            if self.fence is not None:
                self.fence(None)
            tag = address_tag(email)
            try:
                report.erased.append(
                    self.eraser.erase(email, reason=reason, basis="retention", actor=ACTOR)
                )
            except DataHeld:
                report.held.append(tag)
            except DomainError as error:
                report.failed.append(tag)
                log.warning("retention could not erase %s: %s", tag, error)
        if report.erased or report.held:
            log.info(
                "retention period applied",
                extra={"erased": len(report.erased), "held": len(report.held)},
            )
        return report

    def run(self, stop: threading.Event) -> None:
        """Apply the period now and every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            self.run_once()
            stop.wait(self.interval)
