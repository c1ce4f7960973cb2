"""The two deadlines promised to every request, and whether each is open, met or breached (P5).

A deadline is met by what is done at or before its due instant; undone, it is breached from
that instant on (P6). The aggregate, the read models and the audit all ask these rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.status import Status

MAX_EXTENSION = timedelta(days=365)
"""The latest an extension may set the expected resolution, from when it is given (P5.4): far
beyond any support request, and far inside what dates and business calendars can hold."""


class Deadline(StrEnum):
    """What was promised to a request (P5)."""

    FIRST_RESPONSE = "first_response"  # P5.1
    RESOLUTION = "resolution"  # P5.2–P5.4


class Outcome(StrEnum):
    """How a deadline ended, or that it is still running."""

    PENDING = "pending"
    MET = "met"
    BREACHED = "breached"


def running_deadlines(
    status: Status, answered: bool, first_response_due: datetime, resolution_due: datetime
) -> dict[Deadline, datetime]:
    """The deadlines still running, with their due instants.

    The first response until the requester is answered or the problem solved (P5.1, P3.4);
    the resolution while the ticket is open, neither solved nor referred (P5.2–P5.4, P3.5).
    """
    running: dict[Deadline, datetime] = {}
    if not answered and status is not Status.RESOLVED:
        running[Deadline.FIRST_RESPONSE] = first_response_due
    if status.is_open:
        running[Deadline.RESOLUTION] = resolution_due
    return running


def has_passed(due: datetime, now: datetime) -> bool:
    """Whether a deadline not met by `now` is breached: from its due instant on (P6)."""
    return now >= due


def outcome(due: datetime, done_at: datetime | None, *, passed: bool = False) -> Outcome:
    """Met when done by the due instant, breached when done later (P5).

    Not done yet, it is breached when the due instant is known to have `passed`, else pending.
    """
    if done_at is not None:
        return Outcome.MET if done_at <= due else Outcome.BREACHED
    return Outcome.BREACHED if passed else Outcome.PENDING
