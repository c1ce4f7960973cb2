"""The desk console: the support team's web workspace, Arabic right-to-left first.

Server-rendered pages on the same application services as the API (no second set of rules):
sign-in and sessions (`session`), the queue (`queue_page`), a ticket with its conversation and
actions (`ticket_page`), and the supervisors' pages (`supervision`). Every form carries the
session's CSRF token; every page works without JavaScript, which only refreshes the queue.
"""

from __future__ import annotations

from flask import Flask

from interfaces.web.desk import queue_page, session, supervision, ticket_page
from interfaces.web.desk.session import desk


def install(app: Flask) -> None:
    """Register the console's pages; `queue_page`, `ticket_page` and `supervision` add their
    routes to the one blueprint when imported."""
    for module in (queue_page, ticket_page, supervision):
        assert module.desk is desk  # their routes are on the blueprint registered here
    session.install(app)
