"""Skeleton: replaced by the conversation API."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("conversation", __name__, url_prefix="/api/v1", description="conversation")
