"""Skeleton: replaced by the search API."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("search", __name__, url_prefix="/api/v1", description="search")
