"""What a 5 MB file adds to a submission through the desk, on SQLite and on PostgreSQL.

`figures(tiny)` gives the table's rows; `python -m bench.attachments_bench [--tiny]` prints
them. Each run works in databases and folders it creates and removes.

Each round submits requests three at a time: one without a file, then the same with a 5 MB
JPEG photo (12 megapixels, EXIF with a camera and a place), then with a 5 MB PDF (a scanned
certificate). A file is inspected as the web request does (`inspect_all`: the photo loses its
EXIF, the PDF is searched for scripts), sealed, and kept with its event: under the data
folder beside SQLite, in the event store's own transaction on PostgreSQL. A figure's samples
are its p50 or p95 in each round; the time a file adds is taken submission by submission
(with − the one without just before). Target: a file adds ≤ 50 ms at p95. Last, the time to
clean the photo alone, and the same photo shown turned (EXIF orientation), which is written
again from its pixels.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from tempfile import TemporaryDirectory

from PIL import Image

from application.attachments.inspection import inspect, inspect_all
from application.bootstrap import bootstrap
from application.desk import SupportDesk
from application.settings import Settings
from bench.measure import Figure, describe, p95, scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.request import Channel

TARGET = "≤ 50 ms p95"
PHOTO_SIZE = (4032, 3024)  # a phone's 12 megapixels
PHOTO_NOISE = 15  # the spread of the noise that makes 12 megapixels weigh about 5 MB
FILE_NAMES = {"JPEG photo": "IMG_2041.JPG", "PDF": "certificate.pdf"}
KINDS = tuple(FILE_NAMES)


@dataclass(frozen=True)
class Sizes:
    """How big a run is."""

    submissions: int  # per round, of each of the three
    cleans: int  # per round
    rounds: int


FULL = Sizes(submissions=40, cleans=20, rounds=5)
TINY = Sizes(submissions=3, cleans=2, rounds=2)


def figures(tiny: bool) -> list[Figure]:
    """Per database: p50 and p95 with each file beside without, and what each file adds; then
    the time to clean the photo."""
    sizes = TINY if tiny else FULL
    rows: list[Figure] = []
    for database in ("SQLite", "PostgreSQL"):
        found = run(database, sizes)
        for percentile in ("p50", "p95"):
            without = Figure(
                f"submit, no file ({database}), {percentile}",
                "ms",
                found[f"without_{percentile}"],
            )
            rows.append(without)
            for kind in KINDS:
                rows.append(
                    Figure(
                        f"submit + 5 MB {kind} ({database}), {percentile}",
                        "ms",
                        found[f"{kind}_{percentile}"],
                        without,
                        paired=True,
                    )
                )
        for kind in KINDS:
            for percentile in ("p50", "p95"):
                rows.append(
                    Figure(
                        f"time a 5 MB {kind} adds ({database}), {percentile}",
                        "ms",
                        found[f"{kind}_added_{percentile}"],
                        target=TARGET if percentile == "p95" else "",
                        extra={"bytes": len(_files()[kind])},
                    )
                )
    rows += clean_times(sizes)
    return rows


def run(database: str, sizes: Sizes) -> dict[str, list[float]]:
    """p50 and p95 (ms) of each kind of submission, and of what each file adds, per round."""
    with _desk(database) as desk:
        actions = {"without": _submitter(desk, None)}
        actions |= {kind: _submitter(desk, kind) for kind in KINDS}
        for action in actions.values():  # warm the pool, the caches and the code paths
            action()
        found: dict[str, list[float]] = {}
        for _ in range(sizes.rounds):
            times: dict[str, list[float]] = {name: [] for name in actions}
            for _ in range(sizes.submissions):
                for name, action in actions.items():
                    times[name].append(_ms(action))
            for kind in KINDS:
                added = [w - o for w, o in zip(times[kind], times["without"], strict=True)]
                times[f"{kind}_added"] = added
            for name, samples in times.items():
                found.setdefault(f"{name}_p50", []).append(statistics.median(samples))
                found.setdefault(f"{name}_p95", []).append(p95(samples))
        return found


def clean_times(sizes: Sizes) -> list[Figure]:
    """The median time to inspect the photo as sent, and as shown turned, per round."""
    photos = {
        "clean a 5 MB JPEG photo (inspect)": _photo(orientation=1),
        "clean it shown turned (written again)": _photo(orientation=6),
    }
    samples: dict[str, list[float]] = {name: [] for name in photos}
    for _ in range(sizes.rounds):
        for name, data in photos.items():
            times = [_ms(partial(inspect, "IMG.JPG", data)) for _ in range(sizes.cleans)]
            samples[name].append(statistics.median(times))
    return [Figure(name, "ms", found) for name, found in samples.items()]


@contextmanager
def _desk(database: str) -> Iterator[SupportDesk]:
    with TemporaryDirectory() as folder, _database_url(database, folder) as url:
        container = bootstrap(Settings(database_url=url, data_dir=Path(folder)))
        try:
            yield container.desk
        finally:
            container.close()


@contextmanager
def _database_url(database: str, folder: str) -> Iterator[str]:
    if database == "PostgreSQL":
        with scratch_postgres("attachments_bench") as dsn:
            yield sqlalchemy_url(dsn)
    else:
        yield f"sqlite:///{folder}/desk.db"


def _submitter(desk: SupportDesk, kind: str | None) -> Callable[[], None]:
    named = [(FILE_NAMES[kind], _files()[kind])] if kind else []

    def submit() -> None:
        kept, refused = inspect_all(named)  # as the web request does
        if refused or len(kept) != (1 if kind else 0):
            raise RuntimeError(f"the {kind} was refused: {refused}")
        desk.submit(
            channel=Channel.WEB_FORM,
            requester_email="huda@example.org",
            requester_name="هدى",
            category=Category.ATTENDANCE_CERTIFICATE,
            course="Positive Parenting 101",
            subject="شهادة الحضور تحمل اسمًا خاطئًا",
            description="The certificate shows the wrong name; the scan is attached.",
            files=kept,
            refused=refused,
        )

    return submit


# ---- the files --------------------------------------------------------------------------------


@cache
def _files() -> dict[str, bytes]:
    return {"JPEG photo": _photo(orientation=1), "PDF": _scanned_pdf(_photo(orientation=None))}


@cache
def _photo(orientation: int | None) -> bytes:
    """A 12-megapixel JPEG of noise, about 5 MB, with the EXIF a phone writes."""
    bands = [Image.effect_noise(PHOTO_SIZE, PHOTO_NOISE) for _ in range(3)]
    exif = Image.Exif()
    if orientation is not None:
        exif[0x010F], exif[0x0110] = "Maker-Of-Cameras", "Phone 15"
        exif[0x0112] = orientation
        exif[0x8825] = {1: "N", 2: (24.0, 42.0, 52.0), 3: "E", 4: (46.0, 43.0, 9.0)}
    out = io.BytesIO()
    Image.merge("RGB", bands).save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


def _scanned_pdf(scan: bytes) -> bytes:
    """A one-page PDF showing a scanned JPEG, with its cross-reference table."""
    width, height = PHOTO_SIZE
    content = b"q 595 0 0 842 0 0 cm /Scan Do Q"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /XObject << /Scan 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
        b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%b\nendstream"
        % (width, height, len(scan), scan),
        b"<< /Length %d >>\nstream\n%b\nendstream" % (len(content), content),
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%b\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer << /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _ms(action: Callable[[], object]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="bench.attachments_bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="small sizes: proves it runs")
    describe(figures(parser.parse_args().tiny))


if __name__ == "__main__":
    main()
