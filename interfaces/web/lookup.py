"""The timing floor of a requester's lookup by reference and email, on the API and the pages."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app

LOOKUP_SECONDS_KEY = "SUPPORTDESK_LOOKUP_SECONDS"
# Every answer to a reference + email lookup takes at least this long, whether the ticket
# exists or not, so its timing does not tell a guesser which references exist.
DEFAULT_LOOKUP_SECONDS = 0.1


@contextmanager
def steady_lookup() -> Iterator[None]:
    """Make a reference + email lookup take the same time whatever its outcome."""
    started = time.monotonic()
    try:
        yield
    finally:
        floor = float(current_app.config.get(LOOKUP_SECONDS_KEY, DEFAULT_LOOKUP_SECONDS))
        remaining = floor - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
