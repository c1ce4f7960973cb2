"""A requester's personal data in the record, so that it can be forgotten (P7.3; PDPL).

The policy allows request data to be used only for support; the law gives the learner the
right to have it destroyed. The record itself must stay whole and verifiable, so what it keeps
of a personal text is a sealed form, opened by a key that lives outside it: destroying the key
forgets the text and changes no byte of the record.

`Personal` is such a text as the desk reads it: the text itself (or `ERASED` once the key is
gone), carrying the sealed form that is hashed and stored. Which fields of an event are
personal is the domain's knowledge (each event class names them in `personal`); how a text is
sealed is not, so the application lends a `Sealer` for the command it runs (`sealing`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

ERASED = "[erased]"
"""What is read in place of a personal text whose requester was erased."""
REDACTED = "[redacted]"
"""What is read in place of one text redacted (a password pasted into a request)."""

Sealer = Callable[[str], str]
"""Makes the sealed form of a text, under the requester's key."""


class Personal(str):
    """A personal text: reads as the text, hashed and stored as `sealed`."""

    sealed: str

    def __new__(cls, text: str, sealed: str) -> Personal:
        value = super().__new__(cls, text)
        value.sealed = sealed
        return value

    def __reduce__(self) -> Any:  # copies keep the sealed form
        return (Personal, (str(self), self.sealed))

    @property
    def erased(self) -> bool:
        """Whether the key that opens the sealed form is gone."""
        return str(self) == ERASED


_sealer: ContextVar[Sealer | None] = ContextVar("sealer", default=None)


@contextmanager
def sealing(sealer: Sealer | None) -> Iterator[None]:
    """Seal the personal fields of the events built inside, with `sealer` (none: keep them as
    written, as events recorded before sealing were)."""
    token = _sealer.set(sealer)
    try:
        yield
    finally:
        _sealer.reset(token)


def seal_fields(event_class: type[Any], fields: MutableMapping[str, Any]) -> None:
    """Replace the personal texts among an event's fields by their sealed `Personal` form."""
    sealer = _sealer.get()
    if sealer is None:
        return
    for name in getattr(event_class, "personal", ()):
        value = fields.get(name)
        if isinstance(value, str) and not isinstance(value, Personal):
            fields[name] = Personal(value, sealer(value))
