"""Liveness for load balancers and operators."""

from __future__ import annotations

from flask import Blueprint, current_app

health = Blueprint("health", __name__)


@health.get("/health")
def alive() -> tuple[dict[str, str], int]:
    """200 while the process serves requests and reaches its event store."""
    container = current_app.extensions["supportdesk"]
    container.desk.recorder.max_notification_id()
    return {"status": "ok"}, 200
