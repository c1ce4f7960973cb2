"""What a file really is, and what of it is kept (P2.2; safety).

The media type is read from the bytes (`filetype`, which knows the signatures of the kinds we
keep), never from the name or the sender's header: an executable or an HTML page named `.png`
is refused. Images lose their metadata: a photograph's EXIF block can hold where and when it
was taken. An image is read within a pixel budget (`Pillow`), so one that would unpack to
gigabytes is refused, and a damaged one too. A JPEG or a PNG is kept byte for byte without its
metadata segments or chunks (a whitelist of what decoding needs, so whatever else rode along
goes too), its structure checked strictly, its pixels untouched; a WebP, a GIF, or a photo
shown turned (EXIF orientation) is decoded and written again from its pixels, upright. A PDF
is kept as it is, named scriptable when it carries JavaScript (it is only ever offered as a
download). Text must be UTF-8 and not markup.
"""

from __future__ import annotations

import io
import re
import warnings
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import filetype
from PIL import ExifTags, Image, ImageOps, ImageSequence, UnidentifiedImageError

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
    if not data:  # nothing was sent: a file lost on the way, or a mistaken choice
        return Refused(shown, Refusal.UNREADABLE)
    kind = filetype.guess_mime(data)
    if kind == "image/apng":  # an animated PNG is a PNG, and is served as one
        kind = "image/png"
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
                # A JPEG's further pictures (MPO: a phone's depth map, a preview) are not kept.
                animated = image_format != "JPEG" and getattr(image, "n_frames", 1) > 1
                if image_format in _STRIPPERS and (animated or not _turned(image)):
                    return _stripped(data, image, image_format, animated)
                return _written_again(image, image_format, animated)
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


def _turned(image: Image.Image) -> bool:
    """Whether the image is shown turned or mirrored (EXIF orientation): its pixels must then
    be turned before the metadata that says so goes, which only writing it again can do."""
    return bool(image.getexif().get(ExifTags.Base.Orientation, 1) != 1)


def _stripped(data: bytes, image: Image.Image, image_format: str, animated: bool) -> bytes | None:
    """The file without its metadata, every other byte as it came, if it reads as the same image."""
    shape = image.size, image.mode
    if image_format == "PNG":  # inflating every frame proves the compressed data whole
        for frame in ImageSequence.Iterator(image) if animated else (image,):
            frame.load()
    # A JPEG is not decoded: libjpeg fills a cut or garbled scan with grey, so decoding would
    # refuse nothing its walk lets through, and would cost 60 ms for 12 megapixels.
    stripped = _STRIPPERS[image_format](data)
    if stripped is None:
        return None
    with Image.open(io.BytesIO(stripped), formats=[image_format]) as kept:
        return stripped if (kept.size, kept.mode) == shape else None


def _written_again(image: Image.Image, image_format: str, animated: bool) -> bytes:
    """The pixels written into a new file, turned upright first: nothing else is copied."""
    out = io.BytesIO()
    if animated:  # every frame, nothing else
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


def _bare(image: Image.Image) -> Image.Image:
    """The image with none of what was read beside its pixels (EXIF, XMP, comments, profiles),
    which the writers would otherwise copy into the new file."""
    image.info = {}
    return image


# ---- JPEG: the segments a decoder needs, each scan's coded bytes as they came -------------

_DECODING = {*range(0xC0, 0xD0), 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF} - {0xC8}
"""Frame headers, Huffman, arithmetic and quantisation tables, scan headers, restart interval,
line count, hierarchical progression, expansion (0xC8 is reserved, not a frame)."""
_FRAMES = _DECODING - {0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF}
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0–7: no length; outside a scan, nothing
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")  # stuffed 00 and RSTn belong to the scan
_KEPT_APPS = {
    0xE2: b"ICC_PROFILE\x00",
    0xEE: b"Adobe",
}
"""APP segments kept: the ICC profile says how the numbers map to colours (a wide-gamut phone
photo turns dull without it) and describes a colour space shared by every photo of its kind,
not the person, place or moment; Adobe's says whether the colours were transformed, without
which a CMYK file decodes wrong."""


def _jpeg_without_metadata(data: bytes) -> bytes | None:
    """The JPEG up to its end of image without APP1–APP15 (EXIF, XMP, Photoshop's IPTC, MPF),
    comments or extensions, the rest byte for byte; None if malformed or cut short."""
    if not data.startswith(b"\xff\xd8"):
        return None
    view, at, framed = memoryview(data), 2, False
    kept: list[bytes | memoryview] = [b"\xff\xd8"]
    while True:
        if at >= len(data) or data[at] != 0xFF:
            return None
        while at < len(data) and data[at] == 0xFF:  # fill bytes may precede a marker
            at += 1
        if at >= len(data) or data[at] in (0x00, 0xD8):
            return None
        marker, at = data[at], at + 1
        if marker == _EOI:  # what may follow (an MPO's other pictures) is not kept
            return b"".join([*kept, b"\xff\xd9"]) if framed else None
        if marker in _STANDALONE:
            continue
        end = at + int.from_bytes(data[at : at + 2]) if marker >= 0xC0 else 0
        if not at + 2 <= end <= len(data):
            return None  # a reserved marker, or a length past the end
        segment = _kept_segment(marker, view[at - 2 : end])
        if segment is not None:
            kept.append(segment)
        framed, at = framed or marker in _FRAMES, end
        if marker == _SOS:
            scan_end = _SCAN_END.search(data, at) if framed else None
            if scan_end is None:
                return None
            kept.append(view[at : scan_end.start()])
            at = scan_end.start()


def _kept_segment(marker: int, segment: memoryview) -> bytes | memoryview | None:
    """The segment as kept (marker, length and body), or None where it is dropped."""
    body = segment[4:20].tobytes()  # enough to tell what it is
    if marker in _DECODING or (
        marker in _KEPT_APPS and body[: len(_KEPT_APPS[marker])] == _KEPT_APPS[marker]
    ):
        return segment
    if marker == 0xE0 and body[:5] == b"JFIF\x00" and len(body) >= 14:
        # JFIF's densities, without its thumbnail: a second picture, maybe of what was cropped.
        return b"\xff\xe0\x00\x10" + bytes(body[:12]) + b"\x00\x00"
    return None


# ---- PNG: the chunks that make the picture, each checked against its CRC ------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND",  # critical
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs",  # how the pixels look
    b"acTL", b"fcTL", b"fdAT",  # an animation's frames (APNG)
}  # fmt: skip
_PNG_MAX_CHUNK = 2**31 - 1


def _png_without_metadata(data: bytes) -> bytes | None:
    """The PNG up to its IEND without text, EXIF, time or unknown ancillary chunks, the rest
    byte for byte; None if a chunk is cut short, fails its CRC, or is critical and unknown."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    view, at = memoryview(data), len(_PNG_SIGNATURE)
    kept: list[bytes | memoryview] = [_PNG_SIGNATURE]
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4])
        kind, end = data[at + 4 : at + 8], at + 12 + length
        if length > _PNG_MAX_CHUNK or end > len(data) or not kind.isalpha():
            return None
        if (at == len(_PNG_SIGNATURE)) != (kind == b"IHDR"):
            return None
        if zlib.crc32(view[at + 4 : end - 4]) != int.from_bytes(data[end - 4 : end]):
            return None
        if kind in _PNG_KEPT:
            kept.append(view[at:end])
        elif kind[:1].isupper():  # critical: a decoder must not skip what it cannot read
            return None
        if kind == b"IEND":  # what follows is not part of the image
            return b"".join(kept)
        at = end
    return None


_STRIPPERS: dict[str, Callable[[bytes], bytes | None]] = {
    "JPEG": _jpeg_without_metadata,
    "PNG": _png_without_metadata,
}


def _is_text(data: bytes) -> bool:
    if b"\x00" in data or _MARKUP.match(data[:512]) or re.search(rb"<script", data[:65536], re.I):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
