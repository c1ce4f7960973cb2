"""Errors the domain raises when a command would break a rule of the policy."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused; nothing was recorded."""


class InvalidRequest(DomainError):
    """The command's data breaks a rule (e.g. an extension without a reason)."""


class TransitionRefused(DomainError):
    """The ticket's present state forbids the command (e.g. responding to a resolved ticket)."""


class TicketNotFound(DomainError):
    """No ticket has this reference."""


class StaleVersion(DomainError):
    """The caller acted on a version of the ticket that is no longer the newest."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"ticket is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


class TemplateNotFound(DomainError):
    """No canned response has this name."""


class NotAllowed(DomainError):
    """The acting user's role may not do this to this ticket (e.g. an agent reassigning)."""


class DataHeld(TransitionRefused):
    """The ticket's data is held (a dispute, a legal case): it may not be erased until the hold
    is lifted."""
