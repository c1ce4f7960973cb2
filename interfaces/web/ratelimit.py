"""Per-client rate limits on what the public can reach: the form, status checks, submissions.

The limit is `SUPPORTDESK_RATE_LIMIT` (e.g. `30/minute`, the default); it is read on every
request from the app's config, so an operator or a test can change it on a running app.
Counters live in memory by default (`SUPPORTDESK_RATE_LIMIT_STORAGE`, any `limits` storage
URI): each web process then counts on its own.
"""

from __future__ import annotations

import os

from flask import Blueprint, Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

DEFAULT_LIMIT = "30/minute"
LIMIT_KEY = "SUPPORTDESK_RATE_LIMIT"
STORAGE_KEY = "SUPPORTDESK_RATE_LIMIT_STORAGE"


def public_limit() -> str:
    """The limit in force for one client on the public endpoints."""
    return str(current_app.config[LIMIT_KEY])


def install(app: Flask, *public: Blueprint) -> Limiter:
    """Limit POSTs to the `public` blueprints per client address, all counted together.

    Over the limit the answer is 429 with Retry-After.
    """
    app.config.setdefault(LIMIT_KEY, os.environ.get(LIMIT_KEY, DEFAULT_LIMIT))
    app.config.setdefault(STORAGE_KEY, os.environ.get(STORAGE_KEY, "memory://"))
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config[STORAGE_KEY],
        headers_enabled=True,  # Retry-After on the 429, remaining counts on the others
        strategy="moving-window",  # no burst of twice the limit across a window's edge
    )
    for blueprint in public:
        limiter.shared_limit(public_limit, scope="public", methods=["POST"])(blueprint)
    return limiter
