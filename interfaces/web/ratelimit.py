"""Per-client rate limits on what the public can reach: the form, status checks, submissions.

The limit comes from the settings (`SUPPORTDESK_RATE_LIMIT`, e.g. `30/minute`) into the app's
config, where it is read on every request, so an operator or a test can change it on a running
app. Counters live where the settings' `rate_limit_storage` says (any `limits` storage URI;
`memory://` by default, where each web process counts on its own; `redis://host:6379/0`, where
every process of every machine counts together). While that storage is away, each process
counts on its own rather than refuse or fail requests (a learner's request is never lost to
the limiter), and counts together again once it is back.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from application.settings import Settings

LIMIT_KEY = "SUPPORTDESK_RATE_LIMIT"


def public_limit() -> str:
    """The limit in force for one client on the public endpoints."""
    return str(current_app.config[LIMIT_KEY])


def install(app: Flask, settings: Settings, *public: Blueprint) -> Limiter:
    """Limit POSTs to the `public` blueprints per client address, all counted together.

    Over the limit the answer is 429 with Retry-After.
    """
    app.config.setdefault(LIMIT_KEY, settings.rate_limit)
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.rate_limit_storage,
        headers_enabled=True,  # Retry-After on the 429, remaining counts on the others
        strategy="moving-window",  # no burst of twice the limit across a window's edge
        in_memory_fallback_enabled=True,
    )
    for blueprint in public:
        limiter.shared_limit(public_limit, scope="public", methods=["POST"])(blueprint)
    return limiter
