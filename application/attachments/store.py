"""The files of tickets: sealed under each ticket's key, kept by address, read back checked.

A file is sealed before anything is written, under the key that seals the ticket's texts, so
erasing the requester leaves it unreadable and the purge removes it. Where the files are a
table of the event store's database, the desk writes them in the transaction that records the
event naming them: an event never names a file that is not there, and a file is never left
without its event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from application.attachments.blobs import Blobs, TableBlobs, address_of, open_bytes, seal_bytes
from application.attachments.inspection import Kept
from domain.attachment import Attachment


@dataclass(frozen=True)
class Prepared:
    """A file ready to be kept: what the event records, where it goes, and its sealed bytes."""

    attachment: Attachment
    address: str
    sealed: bytes


class AttachmentStore:
    """Seals, keeps, opens and forgets the files of tickets."""

    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs

    @property
    def in_database(self) -> bool:
        """Whether the files are kept in the event store's database (one transaction)."""
        return isinstance(self.blobs, TableBlobs)

    def prepare(self, subject: str, key: bytes, files: Sequence[Kept]) -> list[Prepared]:
        """The files sealed under the ticket's key, at their addresses."""
        found = []
        for kept in files:
            sha256 = hashlib.sha256(kept.data).hexdigest()
            address = address_of(subject, sha256)
            attachment = Attachment(
                kept.name, kept.media_type, len(kept.data), sha256, kept.scriptable
            )
            found.append(Prepared(attachment, address, seal_bytes(key, address, kept.data)))
        return found

    def put(self, prepared: Sequence[Prepared], connection: Connection | None = None) -> None:
        """Keep the files (in `connection`'s transaction where they are a table of it)."""
        for file in prepared:
            self.blobs.put(file.address, file.sealed, connection)

    def open(self, subject: str, key: bytes, sha256: str) -> bytes | None:
        """The file as it was received, or None: gone, or not what its event names."""
        address = address_of(subject, sha256)
        sealed = self.blobs.get(address)
        data = None if sealed is None else open_bytes(key, address, sealed)
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            return None
        return data

    def forget(self, subjects: Iterable[str]) -> int:
        """Remove every file of these subjects; how many."""
        return self.blobs.delete(subjects)
