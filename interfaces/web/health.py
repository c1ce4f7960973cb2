"""Liveness for load balancers and operators."""

from __future__ import annotations

from flask import Blueprint

from interfaces.web.services import container

health = Blueprint("health", __name__)


@health.get("/health")
def alive() -> tuple[dict[str, str], int]:
    """200 while the process serves requests and reaches its event store."""
    container().desk.recorder.max_notification_id()
    return {"status": "ok"}, 200
