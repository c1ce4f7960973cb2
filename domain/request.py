"""How a request reaches the desk: from the requester, through an official channel (P1)."""

from __future__ import annotations

from enum import StrEnum

REQUESTER = "requester"
"""The actor of what the requester does (submitting, following up)."""


class Channel(StrEnum):
    """The only channels through which requests are accepted (P1)."""

    WEB_FORM = "web_form"
    EMAIL = "email"
