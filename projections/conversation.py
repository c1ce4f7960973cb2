"""Skeleton: replaced by the conversation read model."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from projections.readmodel import ReadModel
from projections.ticket_events import EVERY_TICKET_EVENT


class ConversationProjection(ReadModel):
    name = "conversation"
    topics = EVERY_TICKET_EVENT

    def __init__(self, view: Any, zone: Any) -> None:
        super().__init__(view)
        self.zone = zone

    def apply(self, connection: Connection, domain_event: Any) -> None:
        pass
