"""Files sent with a message: screenshots of an error page, an attendance certificate (P2.2, P2.3).

The record names a file (its name, media type, size and SHA-256); its bytes are kept apart,
so the log stays small and a learner's files can be forgotten with them. What may be kept is
the policy's: a few files of kinds a support conversation needs, each within a size, and a
file refused is told to the requester with the reason, in their language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum

MAX_FILES = 5
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_TOTAL_BYTES = 25 * 1024 * 1024

KEPT_TYPES = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "application/pdf": "pdf",
    "text/plain": "txt",
}
"""The media types kept, and the extension a stored file is given."""

MAX_NAME = 120


class Refusal(Enum):
    """Why a file was not kept."""

    TOO_MANY = "too_many"
    TOO_LARGE = "too_large"
    TOO_MUCH_IN_ALL = "too_much_in_all"
    KIND_NOT_KEPT = "kind_not_kept"
    UNREADABLE = "unreadable"

    def explained(self, language: str) -> str:
        """The reason, as the requester reads it."""
        return _REASONS[self][0 if language == "ar" else 1]


_MB = 1024 * 1024
_REASONS = {
    Refusal.TOO_MANY: (
        f"أُرفقت ملفات أكثر من {MAX_FILES}: حُفظت الخمسة الأولى فقط.",
        f"More than {MAX_FILES} files were attached: only the first {MAX_FILES} were kept.",
    ),
    Refusal.TOO_LARGE: (
        f"الملف أكبر من {MAX_FILE_BYTES // _MB} ميغابايت.",
        f"The file is larger than {MAX_FILE_BYTES // _MB} MB.",
    ),
    Refusal.TOO_MUCH_IN_ALL: (
        f"مجموع الملفات يتجاوز {MAX_TOTAL_BYTES // _MB} ميغابايت.",
        f"The files together exceed {MAX_TOTAL_BYTES // _MB} MB.",
    ),
    Refusal.KIND_NOT_KEPT: (
        "نوع الملف غير مقبول: نقبل الصور (PNG وJPEG وWebP وGIF) وملفات PDF والنصوص.",
        "This kind of file is not accepted: we keep images (PNG, JPEG, WebP, GIF), PDF and text.",
    ),
    Refusal.UNREADABLE: (
        "تعذّرت قراءة الملف: قد يكون تالفًا.",
        "The file could not be read: it may be damaged.",
    ),
}


@dataclass(frozen=True)
class Attachment:
    """A file the record names: what it is, and the hash of the bytes kept."""

    name: str
    media_type: str
    size: int
    sha256: str
    scriptable: bool = False
    """A PDF that carries JavaScript or launches something: only ever a download."""

    def as_record(self) -> dict[str, object]:
        """The file as an event records it: all but its name, which is personal."""
        return {
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
            "scriptable": self.scriptable,
        }


@dataclass(frozen=True)
class Refused:
    """A file not kept, and why."""

    name: str
    reason: Refusal


# Controls (C0, C1), characters Windows forbids, and the marks that reorder text: a name with
# a right-to-left override before `fdp.exe` shows an executable as a PDF.
_UNSAFE = re.compile('[\x00-\x1f\x7f-\x9f<>:"|?*\u200e\u200f\u202a-\u202e\u2066-\u2069]')


def safe_name(given: str | None) -> str:
    """A file's name as shown: no folders, no control characters, of a readable length.
    Never a path on disk: the bytes are kept under their hash."""
    name = unicodedata.normalize("NFC", given or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("", name).strip().lstrip(".")
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        keep = MAX_NAME - len(extension) - 1
        name = f"{stem[:keep]}.{extension}" if dot and 0 < len(extension) < 10 else name[:MAX_NAME]
    return name or "file"


def split_names(names: str, count: int) -> list[str] | None:
    """The names of a message's `count` files (the kept ones first), from the one text its
    event records; None once erased or redacted, when one mark stands for them all."""
    given = names.split("\n")
    return given if len(given) == count else None
