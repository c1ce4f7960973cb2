"""The files against the record: each kept file still has the hash its event names (P7.1).

The record names every file by the SHA-256 of its bytes; the bytes live elsewhere, sealed. A
file changed, swapped or removed where it is kept no longer opens to those bytes, and
`audit verify` names it. A file whose requester was erased cannot be opened by anyone: it is
counted, not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import select

from application.attachments.store import AttachmentStore
from application.audit.records import EventLog
from domain.personal import Personal
from domain.ticket import Ticket


@dataclass
class FileCheck:
    """What checking the files found."""

    checked: int = 0
    forgotten: int = 0
    """Files of erased requesters: unreadable by design."""
    problems: list[str] = field(default_factory=list)


def check_files(
    log: EventLog,
    store: AttachmentStore,
    subject_of: Callable[[str], str | None],
    key_of: Callable[[str], bytes | None],
) -> FileCheck:
    """Open every file the record names and compare it with the hash its event gives; the
    subject and key are those of the sealed names (`subject_of` reads a sealed form)."""
    found = FileCheck()
    table = log.table
    query = (
        select(table.c.id, table.c.originator_id, table.c.originator_version, table.c.state)
        .where(table.c.topic == get_topic(Ticket.FilesAttached))
        .order_by(table.c.id)
    )
    with log.engine.connect() as connection:
        rows = connection.execute(query).all()
    for position, ticket, version, state in rows:
        topic = get_topic(Ticket.FilesAttached)
        record = log.decode(StoredEvent(ticket, version, topic, bytes(state)), position)
        names = record.state.get("names")
        subject = subject_of(names.sealed) if isinstance(names, Personal) else None
        key = key_of(subject) if subject else None
        for file in record.state.get("files", []):
            if subject is None or key is None:
                found.forgotten += 1
            elif store.open(subject, key, file["sha256"]) is None:
                found.problems.append(
                    f"the file {file['sha256'][:16]}… named at version {version} of ticket "
                    f"{record.ticket_id} is missing or was changed where files are kept"
                )
            else:
                found.checked += 1
    return found
