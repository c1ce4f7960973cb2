"""Skeleton: replaced by the search read model."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from projections.readmodel import ReadModel
from projections.ticket_events import EVERY_TICKET_EVENT


class SearchProjection(ReadModel):
    name = "search"
    topics = EVERY_TICKET_EVENT

    def apply(self, connection: Connection, domain_event: Any) -> None:
        pass
