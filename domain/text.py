"""What text a person wrote may hold, however it reached the desk (P7.1: the record shows what
was written, and nothing that changes how the rest of it is shown).

A form refuses text with controls (`is_control`) and asks again; mail cannot be sent back to be
corrected, so its text loses them instead, and bidi overrides with them (`printable`).
"""

from __future__ import annotations

import unicodedata

LINE_BREAKS = frozenset("\n\r\t")
"""The controls that text of several lines keeps."""

BIDI_OVERRIDES = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Embeddings, overrides and isolates: they reorder everything shown after them, so that an
address or a reference reads as something else. The marks Arabic text needs (U+200E, U+200F,
U+061C) are not among them."""


def is_control(character: str) -> bool:
    """NUL, ESC, BEL and the other C0 and C1 controls, and lone surrogates (Cc, Cs)."""
    return unicodedata.category(character) in ("Cc", "Cs")


def printable(text: str, *, multiline: bool) -> str:
    """The text without controls (line breaks stay in `multiline` text) or bidi overrides."""
    kept = LINE_BREAKS if multiline else frozenset()
    return "".join(c for c in text if c in kept or not (is_control(c) or c in BIDI_OVERRIDES))


def domain_mixes_scripts(domain: str) -> bool:
    """Whether a label of an address's domain mixes scripts, as look-alikes of a known domain
    do (`pаypal.com` with a Cyrillic `а`)."""
    return any(_mixes_scripts(label) for label in domain.split("."))


def _mixes_scripts(label: str) -> bool:
    # The first word of a letter's Unicode name is its script: LATIN, CYRILLIC, ARABIC…
    scripts = {unicodedata.name(c, "UNKNOWN").split()[0] for c in label if c.isalpha()}
    return len(scripts) > 1
