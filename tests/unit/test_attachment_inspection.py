"""What is kept of a file: read from its bytes, cleaned of metadata, within the limits."""

from __future__ import annotations

import io
import zlib

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
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("a\x85b\u2067c.txt", "abc.txt"),
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


# ---- JPEG and PNG: the metadata goes, every other byte stays -----------------------------------

SOS = b"\xff\xda"


def noise(mode: str = "RGB", size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A picture with detail in every pixel, so a re-encoding would show."""
    count = size[0] * size[1] * len(mode)
    return Image.frombytes(mode, size, bytes(i * 37 % 251 for i in range(count)))


def jpeg(picture: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


def camera_exif() -> Image.Exif:
    """EXIF naming the camera and where the picture was taken, without a turn."""
    exif = Image.Exif()
    exif[0x010F] = "Maker-Of-Cameras"
    exif[0x8825] = {1: "N", 2: (24.0, 42.0, 52.0), 3: "E", 4: (46.0, 43.0, 9.0)}
    return exif


def upright_photo(**options: object) -> bytes:
    """A JPEG with its place and camera in EXIF, shown as stored."""
    return jpeg(noise(), exif=camera_exif(), **options)


def with_segments(data: bytes, *segments: tuple[int, bytes]) -> bytes:
    """The JPEG with marker segments inserted right after its start of image."""
    inserted = b"".join(
        bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2) + body for marker, body in segments
    )
    return data[:2] + inserted + data[2:]


def markers(data: bytes) -> list[int]:
    """The markers of a JPEG's segments up to its first scan."""
    found, at = [], 2
    while data[at + 1] != 0xDA:
        found.append(data[at + 1])
        at += 2 + int.from_bytes(data[at + 2 : at + 4])
    return found


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.tobytes()


def png_chunks(data: bytes) -> list[bytes]:
    found, at = [], 8
    while at < len(data):
        length = int.from_bytes(data[at : at + 4])
        found.append(data[at + 4 : at + 8])
        at += 12 + length
    return found


def chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4) + kind + body + zlib.crc32(kind + body).to_bytes(4)


def test_an_upright_photo_loses_its_location_and_keeps_its_coded_bytes() -> None:
    data = upright_photo()
    assert b"Maker-Of-Cameras" in data

    found = kept(inspect("IMG_2042.JPG", data))

    assert b"Maker-Of-Cameras" not in found.data and 0xE1 not in markers(found.data)
    assert not Image.open(io.BytesIO(found.data)).getexif()
    assert found.data[found.data.index(SOS) :] == data[data.index(SOS) :]
    assert pixels(found.data) == pixels(data)


def test_a_progressive_jpeg_keeps_every_scan_as_it_came() -> None:
    data = upright_photo(progressive=True)
    assert data.count(SOS) > 1

    found = kept(inspect("progressive.jpg", data))

    assert found.data[found.data.index(SOS) :] == data[data.index(SOS) :]
    assert pixels(found.data) == pixels(data)


def test_xmp_iptc_comments_and_thumbnails_go_and_the_colour_profile_stays() -> None:
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta><rdf:Description exif:GPSLatitude="24,42.87N"/></x:xmpmeta>'
    data = with_segments(
        jpeg(noise(), icc_profile=profile),
        (0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp),
        (0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0eHuda, Riyadh"),
        (0xFE, b"taken at home"),
    )

    found = kept(inspect("edited.jpg", data))

    for secret in (b"GPSLatitude", b"Huda, Riyadh", b"taken at home"):
        assert secret in data and secret not in found.data
    assert markers(found.data)[0] == 0xE0  # JFIF stays
    assert Image.open(io.BytesIO(found.data)).info["icc_profile"] == profile
    assert pixels(found.data) == pixels(data)


def test_a_jfif_thumbnail_goes() -> None:
    data = jpeg(noise())
    jfif_end = 4 + int.from_bytes(data[4:6])
    thumbnail = bytes(range(2 * 2 * 3))  # 2×2 RGB
    with_thumbnail = data[:4] + (16 + len(thumbnail)).to_bytes(2) + data[6 : jfif_end - 2]
    with_thumbnail += b"\x02\x02" + thumbnail + data[jfif_end:]

    found = kept(inspect("thumb.jpg", with_thumbnail))

    assert found.data == data


def test_a_cmyk_jpeg_keeps_its_adobe_segment_and_decodes_the_same() -> None:
    data = jpeg(noise("CMYK"), exif=camera_exif())
    assert 0xEE in markers(data) and b"Maker-Of-Cameras" in data

    found = kept(inspect("print.jpg", data))

    assert 0xEE in markers(found.data) and b"Maker-Of-Cameras" not in found.data
    assert Image.open(io.BytesIO(found.data)).mode == "CMYK"
    assert pixels(found.data) == pixels(data)


def test_a_phones_multi_picture_jpeg_keeps_its_first_picture_only() -> None:
    first, second = noise(), noise(size=(32, 32))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second], exif=camera_exif())
    data = out.getvalue()

    found = kept(inspect("IMG_2043.JPG", data))

    assert Image.open(io.BytesIO(found.data)).format == "JPEG"
    assert found.data.count(b"\xff\xd8") == 1 and pixels(found.data) == pixels(data)


def test_a_png_keeps_only_the_chunks_that_make_its_picture() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Huda")
    info.add_text("Comment", "at 24.7136,46.6753", zip=True)
    info.add_itxt("Location", "الرياض")
    out = io.BytesIO()
    exif = camera_exif()
    noise().save(out, "PNG", pnginfo=info, exif=exif, dpi=(144, 144))
    written = out.getvalue()
    iend = written.rindex(b"IEND") - 4
    extra = chunk(b"tIME", b"\x07\xea\x01\x04\x09\x00\x00") + chunk(b"vpAg", b"\x00" * 9)
    data = written[:iend] + extra + written[iend:] + b"trailing secret"
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME", b"vpAg"} <= set(png_chunks(data[:-15]))

    found = kept(inspect("screen.png", data))

    assert png_chunks(found.data) == [b"IHDR", b"pHYs", b"IDAT", b"IEND"]
    assert b"Maker-Of-Cameras" not in found.data and not found.data.endswith(b"secret")
    assert pixels(found.data) == pixels(data)


def test_an_animated_png_keeps_its_frames_and_loses_its_text() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Huda")
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], pnginfo=info)

    found = kept(inspect("steps.png", out.getvalue()))

    assert b"Huda" not in found.data and {b"acTL", b"fcTL", b"fdAT"} <= set(png_chunks(found.data))
    assert getattr(Image.open(io.BytesIO(found.data)), "n_frames", 1) == 3


def cut_jpeg() -> list[bytes]:
    data = upright_photo()
    scan = data.index(SOS)
    return [data[: scan - 30], data[: scan + 8], data[: (scan + len(data)) // 2], data[:-2]]


def cut_png() -> list[bytes]:
    data = image("PNG", (300, 200))
    idat = data.index(b"IDAT")
    wrong_crc = data[: idat + 10] + bytes([data[idat + 10] ^ 1]) + data[idat + 11 :]
    return [data[: idat + 20], data[:-12], data[:-1], wrong_crc]


@pytest.mark.parametrize("data", cut_jpeg() + cut_png())
def test_a_truncated_or_damaged_jpeg_or_png_is_refused(data: bytes) -> None:
    assert inspect("cut", data) == Refused("cut", Refusal.UNREADABLE)


def test_an_unknown_critical_png_chunk_is_refused() -> None:
    data = image("PNG")
    idat = data.index(b"IDAT") - 4
    data = data[:idat] + chunk(b"CgBI", b"\x00" * 4) + data[idat:]
    assert inspect("iphone.png", data) == Refused("iphone.png", Refusal.UNREADABLE)
