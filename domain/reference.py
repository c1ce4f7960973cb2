"""Reference numbers: short, unguessable, typo-checked names for tickets (P3.3)."""

import re
import secrets
import uuid
from dataclasses import dataclass
from random import Random
from typing import Self

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
PREFIX = "CM"
PAYLOAD_LENGTH = 7
REFERENCE_NAMESPACE = uuid.UUID("76574a1f-b3f3-4e69-8664-80e0549de347")

_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_CONFUSABLE = str.maketrans("OIL", "011")
_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SEPARATOR = f"[\\s{re.escape(_DASHES)}]*"
# In free text the CM prefix is required: without it, ordinary 8-letter words would be candidates.
_QUOTED = re.compile(
    f"(?<![0-9A-Z])C{_SEPARATOR}M{_SEPARATOR}(?:[0-9A-Z]{_SEPARATOR}){{7}}[0-9A-Z](?![0-9A-Z])",
    re.IGNORECASE,
)


class InvalidReference(ValueError):
    """Text that is not a reference number, or one with a typing mistake in it."""


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference number such as `CM-7K3F-Q2XP`: 7 random symbols and a check symbol (P3.3)."""

    symbols: str

    def __post_init__(self) -> None:
        if len(self.symbols) != PAYLOAD_LENGTH + 1 or not set(self.symbols) <= _VALUE.keys():
            raise InvalidReference(f"{self.symbols!r} is not 8 canonical reference symbols")
        if _check_symbol(self.symbols[:-1]) != self.symbols[-1]:
            raise InvalidReference(
                f"{PREFIX}-{self.symbols[:4]}-{self.symbols[4:]} is not a valid reference: "
                "its check symbol does not match, so it has been mistyped"
            )

    @classmethod
    def generate(cls, rng: Random | None = None) -> Self:
        """A new reference with a random payload; `rng` only for reproducible tests."""
        bits = (rng.getrandbits if rng is not None else secrets.randbits)(5 * PAYLOAD_LENGTH)
        return cls.with_payload(
            "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in range(PAYLOAD_LENGTH))
        )

    @classmethod
    def with_payload(cls, payload: str) -> Self:
        """The reference made of these 7 canonical symbols and their check symbol."""
        if len(payload) != PAYLOAD_LENGTH or not set(payload) <= _VALUE.keys():
            raise InvalidReference(f"{payload!r} is not 7 canonical reference symbols")
        return cls(payload + _check_symbol(payload))

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read a reference as people type it: any case, spaces or dashes, O for 0, I or L for 1.

        The CM prefix is optional. A mistyped reference is refused, never taken for another.
        """
        compact = "".join(ch for ch in text if not ch.isspace() and ch not in _DASHES).upper()
        if len(compact) == len(PREFIX) + PAYLOAD_LENGTH + 1 and compact.startswith(PREFIX):
            compact = compact[len(PREFIX) :]
        if len(compact) != PAYLOAD_LENGTH + 1:
            raise InvalidReference(
                f"{text!r} is not a reference: expected 8 symbols after the optional "
                f"{PREFIX} prefix, like {PREFIX}-7K3F-Q2XP"
            )
        symbols = compact.translate(_CONFUSABLE)
        if strangers := sorted(set(symbols) - _VALUE.keys()):
            raise InvalidReference(
                f"{text!r} is not a reference: {', '.join(map(repr, strangers))} "
                "cannot appear in one"
            )
        return cls(symbols)

    @classmethod
    def find_in(cls, text: str) -> Self | None:
        """The first valid reference quoted in free text (an email's subject or body), if any.

        It must carry the CM prefix; candidates whose check symbol fails are passed over.
        """
        position = 0
        while match := _QUOTED.search(text, position):
            try:
                return cls.parse(match[0])
            except InvalidReference:
                position = match.start() + 1
        return None

    @property
    def ticket_id(self) -> uuid.UUID:
        """The id of the ticket this reference names: the same reference, always the same id."""
        return reference_id(str(self))

    def __str__(self) -> str:
        return f"{PREFIX}-{self.symbols[:4]}-{self.symbols[4:]}"


def reference_id(canonical: str) -> uuid.UUID:
    """The ticket id for a reference already in canonical form (`CM-7K3F-Q2XP`)."""
    return uuid.uuid5(REFERENCE_NAMESPACE, canonical)


def _check_symbol(payload: str) -> str:
    """The check symbol c for which c + x1*g^7 + x2*g^6 + ... + x7*g = 0 in the field GF(32).

    The symbols are read as field elements. Each position has its own non-zero weight (g
    generates the field's multiplicative group, of order 31), so changing any one symbol, or
    swapping any two different ones, changes the sum. Luhn mod 32 would miss swapping 0 and Z.
    """
    total = 0
    for symbol in payload:
        total = _times_generator(total ^ _VALUE[symbol])
    return ALPHABET[total]


def _times_generator(value: int) -> int:
    """Multiply by the generator x in GF(2^5) built on the primitive polynomial x^5 + x^2 + 1."""
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value
