"""Where a ticket stands in its handling (P3.3–P3.5)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a ticket stands in its handling."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    FORWARDED = "forwarded_to_management"
    RESOLVED = "resolved"

    @property
    def is_open(self) -> bool:
        """Still waiting on the support team."""
        return self not in (Status.RESOLVED, Status.FORWARDED)
