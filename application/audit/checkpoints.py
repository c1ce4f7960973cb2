"""Checkpoints: how far the record reached, kept where the database cannot reach (P7.1).

Seals and the watermark live in the database. Someone with SQL access but no audit key cannot
forge them, but can put back rows saved earlier (or restore an older backup) after removing
the newest events: every row is then genuinely signed, only old. What they cannot do is
reach a file on another machine. The seal keeper appends a signed `(position, digest)` line
to such a file as it seals; `audit verify` checks that the log still has, up to each line's
position, exactly the digest that line records, and that the seals have not gone back behind
it. The keeper refuses to go on when the database is behind the last line it wrote.

Keep the file where the database's administrators cannot rewrite it: an append-only mount,
a log host (syslog), object storage with retention. A copy that can be edited proves nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from application.audit.seals import AuditKey

DEFAULT_FILE = "audit.checkpoints"


class CheckpointError(ValueError):
    """A checkpoint line cannot be read."""


@dataclass(frozen=True)
class Checkpoint:
    """The log digest at a position, as the seal keeper had sealed it, signed."""

    position: int
    digest: str
    at: datetime
    mac: str
    accesses: int | None = None
    """How many entries the audit access log held then."""

    @classmethod
    def make(
        cls, key: AuditKey, position: int, digest: str, at: datetime, accesses: int | None = None
    ) -> Checkpoint:
        """A checkpoint signed with the key."""
        unsigned = cls(position, digest, at, "", accesses)
        return cls(position, digest, at, key.sign(*unsigned._signed()), accesses)

    def is_signed_by(self, key: AuditKey) -> bool:
        """Whether the checkpoint is exactly what the key signed."""
        return key.signed(self.mac, *self._signed())

    def _signed(self) -> list[object]:
        parts: list[object] = ["checkpoint", self.position, self.digest, self.at.isoformat()]
        return parts if self.accesses is None else [*parts, self.accesses]

    def line(self) -> str:
        """The checkpoint as one line of JSON."""
        fields = {
            "position": self.position,
            "digest": self.digest,
            "at": self.at.isoformat(),
            "accesses": self.accesses,
            "mac": self.mac,
        }
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """A checkpoint from one line of the file."""
        try:
            fields = json.loads(line)
            return cls(
                int(fields["position"]),
                str(fields["digest"]),
                datetime.fromisoformat(fields["at"]),
                str(fields["mac"]),
                None if fields.get("accesses") is None else int(fields["accesses"]),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise CheckpointError(f"not a checkpoint: {line[:80]!r}") from error


class CheckpointFile:
    """Checkpoints appended one a line to a file; nothing is ever rewritten."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def append(self, checkpoint: Checkpoint) -> None:
        """Add a line, on disk before this returns."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(checkpoint.line() + "\n")
            file.flush()
            os.fsync(file.fileno())

    def __iter__(self) -> Iterator[Checkpoint]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as file:
            for line in file:
                if line.strip():
                    yield Checkpoint.parse(line)

    def last(self) -> Checkpoint | None:
        """The newest checkpoint, if any."""
        newest = None
        for newest in self:  # noqa: B007 - the loop keeps the last one
            pass
        return newest
