"""Where the bytes of attached files are kept: outside the event log, sealed, by address.

One small interface, two shapes. The embedded desk keeps each file under the data folder
(`attachments/ab/<address>`), written whole to a temporary name and renamed, so a reader
never sees half a file. Production keeps them in a table of the event store's database, so one
backup holds the events and the files they name, every web machine reads the same files, and a
file can be written in the transaction that records its event.

The address is the ticket's key subject and the SHA-256 of the file as received: the same file
sent twice to one ticket is kept once, and every file of a ticket is found (and forgotten) by
its subject. The bytes are sealed with AES-256-GCM under the ticket's key, the address bound
as associated data, so a sealed file moved to another address does not open.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Connection, Engine

metadata = sa.MetaData()
blobs_table = sa.Table(
    "supportdesk_blobs",
    metadata,
    sa.Column("address", sa.String(100), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

_ADDRESS = re.compile(r"^[0-9a-f]{32}-[0-9a-f]{64}$")


def address_of(subject: str, sha256: str) -> str:
    """Where a file of this subject with this hash is kept."""
    address = f"{subject}-{sha256}"
    if not _ADDRESS.match(address):
        raise ValueError("an address is a subject id and a SHA-256, both in hexadecimal")
    return address


def seal_bytes(key: bytes, address: str, data: bytes) -> bytes:
    """The file sealed under the key: nonce, ciphertext and tag."""
    nonce = os.urandom(12)
    return nonce + AESGCM(key).encrypt(nonce, data, address.encode("ascii"))


def open_bytes(key: bytes, address: str, sealed: bytes) -> bytes | None:
    """The file a sealed blob holds, or None when it does not open under this key."""
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], address.encode("ascii"))
    except (InvalidTag, ValueError):
        return None


class Blobs(Protocol):
    """Sealed files by address."""

    def put(self, address: str, sealed: bytes, connection: Connection | None = None) -> None:
        """Keep a sealed file (kept already: nothing changes); inside `connection`'s
        transaction where the store is a table of it."""

    def get(self, address: str) -> bytes | None:
        """The sealed file, or None."""

    def addresses(self, subjects: Iterable[str] | None = None) -> list[str]:
        """The addresses kept of these subjects (all when None)."""

    def delete(self, subjects: Iterable[str]) -> int:
        """Forget every file of these subjects; how many were forgotten."""


class FileBlobs:
    """Sealed files under a folder: the embedded shape."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, address: str) -> Path:
        if not _ADDRESS.match(address):
            raise ValueError(f"not an address: {address!r}")
        return self.folder / address[:2] / address

    def put(self, address: str, sealed: bytes, connection: Connection | None = None) -> None:
        path = self._path(address)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(sealed)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, address: str) -> bytes | None:
        try:
            return self._path(address).read_bytes()
        except FileNotFoundError:
            return None

    def addresses(self, subjects: Iterable[str] | None = None) -> list[str]:
        if subjects is None:
            found = self.folder.glob("??/*-*")
        else:
            found = (p for s in set(subjects) for p in self.folder.glob(f"{s[:2]}/{s}-*"))
        return sorted(p.name for p in found if _ADDRESS.match(p.name))

    def delete(self, subjects: Iterable[str]) -> int:
        gone = 0
        for address in self.addresses(subjects):
            path = self._path(address)
            size = path.stat().st_size
            with path.open("r+b") as out:  # overwritten first: a deleted file's blocks stay
                out.write(b"\0" * size)
                out.flush()
                os.fsync(out.fileno())
            path.unlink()
            gone += 1
        return gone


def _stored_as_is(engine: Engine) -> None:
    """Keep the sealed bytes out of line without trying to compress them: ciphertext does not
    compress, and the attempt costs a fifth of the write."""
    with engine.begin() as connection:
        storage = connection.execute(
            sa.text(
                "SELECT attstorage FROM pg_attribute "
                "WHERE attrelid = 'supportdesk_blobs'::regclass AND attname = 'data'"
            )
        ).scalar()
        if storage != "e":
            connection.execute(
                sa.text("ALTER TABLE supportdesk_blobs ALTER COLUMN data SET STORAGE EXTERNAL")
            )


# Binary COPY's header: its signature, no flags, no header extension.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)


def _copy_in(connection: Connection, address: str, sealed: bytes) -> None:
    """One file by binary COPY, in the connection's transaction: the driver would otherwise
    send the bytes as hex text, twice their size, for the server to parse back (a 5 MB file
    took 150 ms that way, about 30 ms this way)."""
    key = address.encode("ascii")
    fields = [(2).to_bytes(2, "big"), len(key).to_bytes(4, "big"), key]
    fields += [len(sealed).to_bytes(4, "big"), sealed]
    stream = io.BytesIO(b"".join([_COPY_HEADER, *fields, _COPY_TRAILER]))
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(
            "COPY supportdesk_blobs (address, data) FROM STDIN WITH (FORMAT binary)", stream
        )
    finally:
        cursor.close()


class TableBlobs:
    """Sealed files in a table of the event store's database: the production shape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, checkfirst=True)
        if engine.dialect.name == "postgresql":
            _stored_as_is(engine)

    def put(self, address: str, sealed: bytes, connection: Connection | None = None) -> None:
        if connection is None:
            with self.engine.begin() as own:
                self._put(own, address, sealed)
        else:
            self._put(connection, address, sealed)

    @staticmethod
    def _put(connection: Connection, address: str, sealed: bytes) -> None:
        present = connection.execute(
            sa.select(blobs_table.c.address).where(blobs_table.c.address == address)
        ).first()
        if present is None and connection.dialect.name == "postgresql":
            _copy_in(connection, address, sealed)
        elif present is None:
            connection.execute(blobs_table.insert().values(address=address, data=sealed))

    def get(self, address: str) -> bytes | None:
        with self.engine.connect() as connection:
            found = connection.execute(
                sa.select(blobs_table.c.data).where(blobs_table.c.address == address)
            ).scalar()
        return None if found is None else bytes(found)

    def addresses(self, subjects: Iterable[str] | None = None) -> list[str]:
        query = sa.select(blobs_table.c.address).order_by(blobs_table.c.address)
        if subjects is not None:
            wanted = set(subjects)
            if not wanted:
                return []
            query = query.where(
                sa.or_(*(blobs_table.c.address.startswith(f"{s}-") for s in wanted))
            )
        with self.engine.connect() as connection:
            return [str(a) for a in connection.execute(query).scalars()]

    def delete(self, subjects: Iterable[str]) -> int:
        wanted = set(subjects)
        if not wanted:
            return 0
        with self.engine.begin() as connection:
            done = connection.execute(
                blobs_table.delete().where(
                    sa.or_(*(blobs_table.c.address.startswith(f"{s}-") for s in wanted))
                )
            )
        return int(done.rowcount or 0)
