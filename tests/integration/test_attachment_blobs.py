"""The bytes of attached files, sealed, kept by address: as files or in the database."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from application.attachments.blobs import (
    Blobs,
    FileBlobs,
    TableBlobs,
    address_of,
    open_bytes,
    seal_bytes,
)
from application.bootstrap import Container

SUBJECT, OTHER = "a" * 32, "b" * 32
CERTIFICATE = b"%PDF-1.4 attendance certificate of Huda"


@pytest.fixture(params=["files", "table"])
def blobs(request: pytest.FixtureRequest, container: Container, tmp_path: Path) -> Blobs:
    if request.param == "files":
        return FileBlobs(tmp_path / "attachments")
    return TableBlobs(container.engine)


def test_a_sealed_file_is_kept_once_read_back_and_forgotten_with_its_subject(blobs: Blobs) -> None:
    key = os.urandom(32)
    address = address_of(SUBJECT, hashlib.sha256(CERTIFICATE).hexdigest())
    sealed = seal_bytes(key, address, CERTIFICATE)
    assert CERTIFICATE not in sealed

    blobs.put(address, sealed)
    blobs.put(address, seal_bytes(key, address, CERTIFICATE))  # the same file again: kept once
    other = address_of(OTHER, hashlib.sha256(b"x").hexdigest())
    blobs.put(other, seal_bytes(key, other, b"x"))

    assert blobs.get(address) == sealed
    assert open_bytes(key, address, sealed) == CERTIFICATE
    assert blobs.addresses([SUBJECT]) == [address]
    assert sorted(blobs.addresses()) == sorted([address, other])
    assert blobs.delete([SUBJECT]) == 1
    assert blobs.get(address) is None and blobs.addresses([SUBJECT]) == []
    assert blobs.get(other) is not None
    assert blobs.delete([]) == 0 and blobs.addresses([]) == []


def test_a_sealed_file_opens_only_under_its_key_and_at_its_address() -> None:
    key = os.urandom(32)
    address = address_of(SUBJECT, "0" * 64)
    sealed = seal_bytes(key, address, CERTIFICATE)
    assert open_bytes(os.urandom(32), address, sealed) is None
    assert open_bytes(key, address_of(OTHER, "0" * 64), sealed) is None
    assert open_bytes(key, address, sealed[:-1] + bytes([sealed[-1] ^ 1])) is None


def test_an_address_is_never_a_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        address_of("../../etc", "passwd")
    with pytest.raises(ValueError):
        FileBlobs(tmp_path).get("../../etc/passwd")


def test_a_forgotten_file_is_overwritten_before_it_is_removed(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path)
    address = address_of(SUBJECT, "1" * 64)
    blobs.put(address, b"sealed bytes")
    path = tmp_path / address[:2] / address
    opened = path.open("rb")  # a reader still holding the file sees zeros, not the bytes
    blobs.delete([SUBJECT])
    assert opened.read() == b"\0" * len(b"sealed bytes")
    opened.close()
    assert not path.exists() and not list(tmp_path.rglob(".incoming-*"))
