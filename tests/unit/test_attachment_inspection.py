"""What is kept of a file: read from its bytes, cleaned of metadata, within the limits."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from application.attachments.inspection import Kept, inspect, inspect_all
from domain.attachment import MAX_FILE_BYTES, Refusal, Refused, safe_name


def image(kind: str, size: tuple[int, int] = (64, 48), **options: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, kind, **options)
    return out.getvalue()


def photo_with_location() -> bytes:
    """A JPEG as a phone writes it: EXIF with GPS coordinates and an orientation."""
    picture = Image.new("RGB", (64, 32), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° to show
    exif[0x8825] = {1: "N", 2: (24.0, 42.0, 52.0), 3: "E", 4: (46.0, 43.0, 9.0)}  # GPS IFD
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    return out.getvalue()


def kept(found: Kept | Refused) -> Kept:
    assert isinstance(found, Kept), found
    return found


def test_a_photograph_loses_its_location_and_keeps_how_it_was_seen() -> None:
    data = photo_with_location()
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the location is there

    found = kept(inspect("IMG_2041.JPG", data))

    assert found.media_type == "image/jpeg" and found.name == "IMG_2041.JPG"
    cleaned = Image.open(io.BytesIO(found.data))
    assert not cleaned.getexif() and b"Exif" not in found.data[:2048]
    assert cleaned.size == (32, 64)  # turned upright before the orientation went


def test_a_png_loses_its_text_chunks() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Huda at 24.7136,46.6753")
    data = image("PNG", pnginfo=info)
    assert b"24.7136" in data

    found = kept(inspect("screen.png", data))

    assert found.media_type == "image/png" and b"24.7136" not in found.data


def test_every_frame_of_an_animation_is_kept() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], comment=b"made by x")
    found = kept(inspect("steps.gif", out.getvalue()))
    assert Image.open(io.BytesIO(found.data)).n_frames == 3 and b"made by x" not in found.data


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.png", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\0" * 200),
        ("tool.png", b"\x7fELF\x02\x01\x01" + b"\0" * 200),
        ("page.png", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("icon.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'),
        ("notes.txt", b"hello <script>steal()</script>"),
        ("archive.png", b"PK\x03\x04" + b"\0" * 200),
        ("latin.txt", "café".encode("latin-1") + b"\xff\xfe"),
    ],
)
def test_what_is_not_an_image_pdf_or_text_is_refused_whatever_its_name(
    name: str, data: bytes
) -> None:
    assert inspect(name, data) == Refused(name, Refusal.KIND_NOT_KEPT)


def test_text_is_kept_and_a_pdf_with_scripts_is_named_so() -> None:
    text = kept(inspect("log.txt", "خطأ 500 عند الدخول\nError 500".encode()))
    assert text.media_type == "text/plain"
    plain = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF"
    assert not kept(inspect("certificate.pdf", plain)).scriptable
    scripted = plain.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript >>")
    found = kept(inspect("certificate.pdf", scripted))
    assert found.media_type == "application/pdf" and found.scriptable


def test_an_image_that_would_unpack_to_gigabytes_is_refused() -> None:
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, "PNG")  # 144 megapixels in a few kilobytes
    assert len(out.getvalue()) < 100_000
    assert inspect("bomb.png", out.getvalue()) == Refused("bomb.png", Refusal.UNREADABLE)


def test_a_damaged_image_is_refused() -> None:
    data = image("PNG")
    assert inspect("cut.png", data[:60]) == Refused("cut.png", Refusal.UNREADABLE)


def test_the_limits_of_one_message() -> None:
    big = b"a" * (MAX_FILE_BYTES + 1)
    assert inspect("big.txt", big) == Refused("big.txt", Refusal.TOO_LARGE)

    nine = b"b" * (9 * 1024 * 1024)
    kept_files, refused = inspect_all([("1.txt", nine), ("2.txt", nine), ("3.txt", nine)])
    assert [k.name for k in kept_files] == ["1.txt", "2.txt"]
    assert refused == [Refused("3.txt", Refusal.TOO_MUCH_IN_ALL)]

    small = [(f"{n}.txt", b"x") for n in range(7)]
    kept_files, refused = inspect_all(small)
    assert len(kept_files) == 5 and [r.reason for r in refused] == [Refusal.TOO_MANY] * 2


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\huda\\شهادة الحضور.pdf", "شهادة الحضور.pdf"),
        ("a\x00b\r\nc.png", "abc.png"),
        (".htaccess", "htaccess"),
        ("", "file"),
        (None, "file"),
        ("x" * 300 + ".pdf", "x" * 116 + ".pdf"),
    ],
)
def test_a_name_is_only_ever_a_name(given: str | None, shown: str) -> None:
    assert safe_name(given) == shown


def test_each_refusal_is_explained_in_arabic_and_english() -> None:
    for reason in Refusal:
        arabic, english = reason.explained("ar"), reason.explained("en")
        assert arabic != english and any("\u0600" <= c <= "\u06ff" for c in arabic)
        assert english.isascii()


def test_a_webp_loses_its_exif() -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (24.0, 42.0, 52.0)}
    exif[0x010F] = "Maker-Of-Cameras"
    data = image("WEBP", exif=exif)
    assert b"Maker-Of-Cameras" in data

    found = kept(inspect("shot.webp", data))

    assert found.media_type == "image/webp" and b"Maker-Of-Cameras" not in found.data
