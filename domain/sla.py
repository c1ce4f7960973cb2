"""Expected response and resolution times (P5), measured in business time (P4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.calendar import BusinessCalendar
from domain.deadlines import has_passed


class Complexity(StrEnum):
    """How hard a problem is; it decides the resolution target (P5.2, P5.3)."""

    SIMPLE = "simple"
    COMPLEX = "complex"


class SlaState(StrEnum):
    """Where a running deadline stands at a given instant."""

    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"


@dataclass(frozen=True)
class SlaPolicy:
    """The policy's targets, applied on a business calendar."""

    calendar: BusinessCalendar
    first_response_hours: float = 24.0  # P5.1
    simple_resolution_hours: float = 24.0  # P5.2: up to 3 business days of 8 hours
    complex_resolution_hours: float = 40.0  # P5.3: up to 5 business days
    at_risk_fraction: float = 0.75

    @classmethod
    def policy_default(cls) -> SlaPolicy:
        """The targets of P5 on the calendar of P4."""
        return cls(BusinessCalendar.policy_default())

    def resolution_hours(self, complexity: Complexity) -> float:
        """Business hours allowed to solve a problem of this complexity (P5.2–P5.3)."""
        if complexity is Complexity.COMPLEX:
            return self.complex_resolution_hours
        return self.simple_resolution_hours

    def first_response_due(self, received_at: datetime) -> datetime:
        """When the first response is due for a request received at `received_at` (P5.1)."""
        return self.calendar.add_business_hours(received_at, self.first_response_hours)

    def resolution_due(self, received_at: datetime, complexity: Complexity) -> datetime:
        """When the solution is due for a request received at `received_at` (P5.2–P5.3)."""
        return self.calendar.add_business_hours(received_at, self.resolution_hours(complexity))

    def state(self, started_at: datetime, due: datetime, now: datetime) -> SlaState:
        """On track, at risk (75 % of the business time used) or breached, as of `now`."""
        if has_passed(due, now):
            return SlaState.BREACHED
        allowed = self.calendar.business_hours_between(started_at, due)
        used = self.calendar.business_hours_between(started_at, now)
        if allowed > 0 and used >= self.at_risk_fraction * allowed:
            return SlaState.AT_RISK
        return SlaState.ON_TRACK

    def business_hours_taken(self, started_at: datetime, ended_at: datetime) -> float:
        """Business hours between two instants, for reports of time to respond and to resolve."""
        return self.calendar.business_hours_between(started_at, ended_at)
