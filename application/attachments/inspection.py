"""What a file really is, and what of it is kept (P2.2; safety).

The media type is read from the bytes (`filetype`, which knows the signatures of the kinds we
keep), never from the name or the sender's header: an executable or an HTML page named `.png`
is refused. Images are decoded and written again without their metadata (`Pillow`): a
photograph's EXIF block can hold where and when it was taken, and the re-encoding also drops
whatever else rode along in the file; decoding stops at a pixel budget, so an image that
would unpack to gigabytes is refused. A PDF is kept as it is, named scriptable when it carries
JavaScript (it is only ever offered as a download). Text must be UTF-8 and not markup.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import filetype
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from domain.attachment import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    Refusal,
    Refused,
    safe_name,
)

MAX_PIXELS = 40_000_000
"""Pixels beyond which an image is not decoded (a 40-megapixel photograph): a bomb, or no
screenshot."""

_IMAGE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}
_MARKUP = re.compile(rb"^\s*<(?:!doctype|html|head|body|script|svg|\?xml|iframe|object)", re.I)
_SCRIPTS = re.compile(rb"/(?:JavaScript|JS|OpenAction|Launch|EmbeddedFile)\b")


@dataclass(frozen=True)
class Kept:
    """A file that may be kept: its shown name, its real media type, the bytes to keep."""

    name: str
    media_type: str
    data: bytes
    scriptable: bool = False
    """A PDF that carries JavaScript or launches something: offered only as a download."""


def inspect(name: str | None, data: bytes) -> Kept | Refused:
    """The file as it will be kept, or why it will not."""
    shown = safe_name(name)
    if len(data) > MAX_FILE_BYTES:
        return Refused(shown, Refusal.TOO_LARGE)
    kind = filetype.guess_mime(data)
    if kind in _IMAGE_FORMATS:
        cleaned = _without_metadata(data, _IMAGE_FORMATS[kind])
        if cleaned is None:
            return Refused(shown, Refusal.UNREADABLE)
        return Kept(shown, kind, cleaned)
    if kind == "application/pdf":
        if not data.startswith(b"%PDF-"):
            return Refused(shown, Refusal.KIND_NOT_KEPT)
        return Kept(shown, kind, data, scriptable=bool(_SCRIPTS.search(data)))
    if kind is None and _is_text(data):
        return Kept(shown, "text/plain", data)
    return Refused(shown, Refusal.KIND_NOT_KEPT)


def inspect_all(files: Iterable[tuple[str | None, bytes]]) -> tuple[list[Kept], list[Refused]]:
    """The files of one message within its limits: the first five, 25 MB in all."""
    kept: list[Kept] = []
    refused: list[Refused] = []
    total = 0
    for name, data in files:
        if len(kept) >= MAX_FILES:
            refused.append(Refused(safe_name(name), Refusal.TOO_MANY))
            continue
        found = inspect(name, data)
        if isinstance(found, Refused):
            refused.append(found)
        elif total + len(found.data) > MAX_TOTAL_BYTES:
            refused.append(Refused(found.name, Refusal.TOO_MUCH_IN_ALL))
        else:
            kept.append(found)
            total += len(found.data)
    return kept, refused


def _without_metadata(data: bytes, image_format: str) -> bytes | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    return None
                out = io.BytesIO()
                if getattr(image, "n_frames", 1) > 1:  # an animation: every frame, nothing else
                    frames, durations = [], []
                    for frame in ImageSequence.Iterator(image):
                        durations.append(int(frame.info.get("duration", 100)))
                        frames.append(_bare(frame.convert("RGBA")))
                    frames[0].save(
                        out,
                        image_format,
                        save_all=True,
                        append_images=frames[1:],
                        duration=durations,
                        loop=int(image.info.get("loop", 0)),
                    )
                    return out.getvalue()
                image.load()
                upright = _bare(ImageOps.exif_transpose(image))  # as seen, before EXIF goes
                options = {"quality": 92} if image_format in ("JPEG", "WEBP") else {}
                upright.save(out, image_format, **options)
                return out.getvalue()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,
        EOFError,
    ):
        return None


def _bare(image: Image.Image) -> Image.Image:
    """The image with none of what was read beside its pixels (EXIF, XMP, comments, profiles),
    which the writers would otherwise copy into the new file."""
    image.info = {}
    return image


def _is_text(data: bytes) -> bool:
    if b"\x00" in data or _MARKUP.match(data[:512]) or re.search(rb"<script", data[:65536], re.I):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
