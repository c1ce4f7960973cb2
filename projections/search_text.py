"""Words for searching tickets: the one normalisation documents and queries go through.

Both databases receive words already normalised here and match them as they are (PostgreSQL
as quoted tsvector/tsquery lexemes, SQLite FTS5 as quoted phrases), so a query finds the same
tickets on either. What is unified:

- case (`casefold`), compatibility forms (NFKD: ligatures, presentation forms, full-width
  letters) and every combining mark: Latin accents and the Arabic tashkeel alike. NFKD writes
  أ إ آ as ا followed by a mark, so dropping marks unifies the alef forms (and ؤ → و, ئ → ي);
- Arabic: tatweel dropped, ٱ → ا, ى → ي, ة → ه, the Persian forms ی ک → ي ك, and Arabic-Indic
  digits → 0–9;
- the Arabic article: الـ (and وال بال كال فال لل) is taken off a word whose rest keeps three
  letters or more, so "الدخول" and "دخول" are one word.

A word is a run of letters and digits; everything else separates words. Words are cut at
`MAX_WORD` characters on both sides: longer runs are encodings, never typed in a query.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from domain.reference import ALPHABET, InvalidReference, Reference

MAX_WORD = 64
PREFIX_FROM = 3
"""The last word of a query also finds words it begins, once it has this many letters."""

_WORD = re.compile(r"[^\W_]+")
_ARTICLES = ("وال", "بال", "كال", "فال", "لل", "ال")  # longest first
_STEM_FROM = 3  # letters left after the article


def _fold_table() -> dict[int, int | str | None]:
    # Marks and format characters (zero-width joiners, bidi marks, soft hyphens) go; they sit
    # in the first two planes and in plane 14's tags.
    dropped = [
        cp
        for cp in (*range(0x20000), *range(0xE0000, 0xE1000))
        if unicodedata.category(chr(cp)) in ("Mn", "Me", "Cf")
    ]
    table: dict[int, int | str | None] = dict.fromkeys(dropped)
    letters: dict[str, int | str | None] = {"\u0640": None, "ٱ": "ا", "ى": "ي", "ة": "ه"}
    letters.update({"ی": "ي", "ک": "ك"})  # Persian forms, as Persian keyboards type them
    table.update(str.maketrans(letters))
    table.update(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "0123456789" * 2))
    return table


_FOLD = _fold_table()


def words(text: str) -> list[str]:
    """The normalised words of `text`, in order, repeats included."""
    folded = unicodedata.normalize("NFKD", text.casefold()).translate(_FOLD)
    return [_without_article(word[:MAX_WORD]) for word in _WORD.findall(folded)]


def _without_article(word: str) -> str:
    for article in _ARTICLES:
        if word.startswith(article) and len(word) - len(article) >= _STEM_FROM:
            return word[len(article) :]
    return word


# ---- queries -------------------------------------------------------------------------------

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
_SYMBOLS = frozenset(ALPHABET)
FRAGMENT_FROM = 4
"""Fewer symbols than this match too many references by chance to mean one."""
_REFERENCE_SYMBOLS = 10  # CM and the 8 symbols
# No controls or lone surrogates: the address is handed to the database as it is.
_ADDRESS_PART = r"[^\s@\x00-\x1f\x7f-\x9f\ud800-\udfff]+"
_EMAIL = re.compile(f"{_ADDRESS_PART}@{_ADDRESS_PART}")


@dataclass(frozen=True)
class Terms:
    """What a query asks for: an email, or words and perhaps a piece of a reference."""

    email: str | None = None
    """Lower-cased: the requester's address, matched whole."""
    words: tuple[str, ...] = ()
    """All of them, in any of the ticket's texts; the last one also as a prefix (`prefix`)."""
    prefix: bool = False
    fragment: str | None = None
    """Symbols of a reference (compact, upper case, no dashes), matched anywhere in one."""

    @property
    def empty(self) -> bool:
        """Nothing to look for: only punctuation, say."""
        return self.email is None and not self.words and self.fragment is None


def terms(query: str) -> Terms:
    """What `query`, as a person typed it, asks for. Any text is a valid query: its syntax
    (quotes, stars, operators) is just more characters between words."""
    text = query.strip()
    if _EMAIL.fullmatch(text):
        return Terms(email=text.lower())
    found = list(dict.fromkeys(words(text)))
    return Terms(
        words=tuple(found),
        prefix=bool(found) and len(found[-1]) >= PREFIX_FROM,
        fragment=reference_fragment(text),
    )


def reference_fragment(text: str) -> str | None:
    """The reference symbols `text` may be a piece of (`6xq4`, `CM-6XQ4`, `cm 6xq4 g0ag`): any
    case, with dashes or spaces. A whole reference is read as `Reference.parse` reads it (O for
    0, I or L for 1); a piece only as typed, or every word without I, L, O or U of four
    letters or more would also be looked for among the references."""
    try:
        return compact_reference(str(Reference.parse(text)))
    except InvalidReference:
        pass
    compact = "".join(c for c in text if not c.isspace() and c not in _DASHES).upper()
    if FRAGMENT_FROM <= len(compact) <= _REFERENCE_SYMBOLS and set(compact) <= _SYMBOLS:
        return compact
    return None


def compact_reference(reference: str) -> str:
    """A reference without its dashes (`CM6XQ4G0AG`): what fragments are matched against."""
    return reference.replace("-", "").upper()


# ---- snippets ------------------------------------------------------------------------------

SNIPPET_LENGTH = 160
_CHUNK = re.compile(r"\S+")


def snippet(text: str, wanted: Terms) -> str | None:
    """About `SNIPPET_LENGTH` characters of `text` around the first of the wanted words found in
    it, as written; None when none is."""
    if not wanted.words:
        return None
    exact = set(wanted.words)
    last = wanted.words[-1] if wanted.prefix else None
    for match in _CHUNK.finditer(text):  # chunks, not words: marks split a written word
        found = words(match[0])
        if any(w in exact or (last is not None and w.startswith(last)) for w in found):
            return _around(text, match.start(), match.end())
    return None


def _around(text: str, start: int, end: int) -> str:
    before = (SNIPPET_LENGTH - (end - start)) // 3
    begin = max(0, start - max(before, 0))
    if begin > 0:  # start at a word
        space = text.find(" ", begin, start)
        begin = space + 1 if space != -1 else begin
    finish = min(len(text), begin + SNIPPET_LENGTH)
    if finish < len(text):
        space = text.rfind(" ", end, finish)
        finish = space if space != -1 else finish
    piece = " ".join(text[begin:finish].split())
    return ("…" if begin > 0 else "") + piece + ("…" if finish < len(text) else "")
