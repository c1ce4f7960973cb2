"""Escalation to supervisory management: why, to whom, and what was recorded (P6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.deadlines import Deadline

SUPERVISORY_MANAGEMENT = "supervisory_management"
"""The escalation level the policy names (P6.2)."""


class EscalationReason(StrEnum):
    """Why a ticket went to supervisory management (P6)."""

    FIRST_RESPONSE_OVERDUE = "first_response_overdue"
    RESOLUTION_OVERDUE = "resolution_overdue"
    REQUESTER_FOLLOW_UP_AFTER_DEADLINE = "requester_follow_up_after_deadline"
    REQUESTER_TO_MANAGEMENT = "requester_to_management"
    AGENT = "agent"

    @property
    def is_deadline(self) -> bool:
        """Raised by the SLA watcher, once per missed deadline."""
        return self in _MISSED.values()

    @staticmethod
    def missed(deadline: Deadline) -> EscalationReason:
        """The reason the SLA watcher gives for this deadline passing unmet (P6.2)."""
        return _MISSED[deadline]


_MISSED = {
    Deadline.FIRST_RESPONSE: EscalationReason.FIRST_RESPONSE_OVERDUE,
    Deadline.RESOLUTION: EscalationReason.RESOLUTION_OVERDUE,
}


@dataclass(frozen=True)
class Escalation:
    """One escalation of a ticket, as recorded."""

    reason: str
    level: str
    deadline: datetime | None
    at: datetime
    actor: str
