"""Reading a ticket's files back: the team by its role, the requester by a link sent to their
own email, signed and expiring (P2.2, P7.3).

A file is opened with the key of the names recorded with it, and is given only when its bytes
still have the hash its event names: what is served is what the record says was received.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from PIL import Image

from application.attachments.inspection import MAX_PIXELS
from application.desk import Clock, SupportDesk
from application.privacy.keys import subject_of_sealed
from domain.errors import InvalidRequest
from domain.reference import InvalidReference, Reference

THUMBNAIL_PIXELS = 320
"""The longest side of a thumbnail the console shows."""

LINK_LIFETIME = timedelta(days=30)
"""How long a link in an email opens a file: long enough to come back to the email, short
enough that a forwarded or leaked email stops giving the file."""


class FileNotKept(Exception):
    """The ticket has no such file, or it can no longer be read (erased, or changed where it
    is kept, which `audit verify` names)."""


class LinkRefused(Exception):
    """A file link that was not made here, or has expired (`expired`)."""

    def __init__(self, expired: bool) -> None:
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


@dataclass(frozen=True)
class Download:
    """A file as served: its name as sent, its kind as sniffed, its bytes as kept."""

    name: str
    media_type: str
    data: bytes
    scriptable: bool

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")  # only images of the kept kinds are kept


class Downloads:
    """The files of the desk's tickets, as they may be read back."""

    def __init__(
        self,
        desk: SupportDesk,
        key_of: Callable[[str], bytes | None],
        secret: str,
        clock: Clock,
        lifetime: timedelta = LINK_LIFETIME,
    ) -> None:
        self.desk = desk
        self.key_of = key_of
        self.lifetime = lifetime
        self._links = URLSafeTimedSerializer(
            secret, salt="file-link", signer=_signer_on(clock), signer_kwargs={}
        )

    def file(self, reference: str, sha256: str) -> Download:
        """The ticket's file with this hash; TicketNotFound, or FileNotKept."""
        ticket = self.desk.ticket(reference)
        found = ticket.file(sha256)
        store = self.desk.attachments
        subject = subject_of_sealed(found["sealed_names"] or "") if found else None
        key = self.key_of(subject) if subject else None
        data = store.open(subject, key, sha256) if store and subject and key else None
        if found is None or data is None:
            raise FileNotKept(sha256)
        return Download(
            name=str(found["name"]),
            media_type=str(found["media_type"]),
            data=data,
            scriptable=bool(found.get("scriptable")),
        )

    def thumbnail(self, reference: str, sha256: str) -> bytes:
        """A small PNG of an image file, drawn here from the kept bytes."""
        download = self.file(reference, sha256)
        if not download.is_image:
            raise FileNotKept(sha256)
        return _thumbnail(download.data)

    def link(self, reference: str, sha256: str) -> str:
        """The token of a link that gives this file to whoever holds the email it is in."""
        return str(self._links.dumps([reference, sha256]))

    def by_link(self, token: str) -> tuple[str, Download]:
        """The reference and file a link names; LinkRefused, TicketNotFound or FileNotKept."""
        try:
            named: Any = self._links.loads(token, max_age=int(self.lifetime.total_seconds()))
        except SignatureExpired:
            raise LinkRefused(expired=True) from None
        except BadData:
            raise LinkRefused(expired=False) from None
        if not (
            isinstance(named, list) and len(named) == 2 and all(isinstance(n, str) for n in named)
        ):
            raise LinkRefused(expired=False)
        reference, sha256 = named
        try:
            Reference.parse(reference)
        except InvalidReference:
            raise LinkRefused(expired=False) from None
        return reference, self.file(reference, sha256)


def _signer_on(clock: Clock) -> type[TimestampSigner]:
    """A signer that dates its links by the desk's clock, so their expiry can be tested."""

    class DeskClockSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return DeskClockSigner


def _thumbnail(data: bytes) -> bytes:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise InvalidRequest("the image is too large to draw")
                image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
                out = io.BytesIO()
                image.convert("RGBA").save(out, format="PNG", optimize=True)
                return out.getvalue()
    except (OSError, Image.DecompressionBombWarning, ValueError) as error:
        raise InvalidRequest("the image cannot be drawn") from error
