"""A learner's rights over their data, as the command line and the API exercise them.

The copy: the read model finds their tickets (brought up to the log's head first), the record
gives every event. The erasure: the same look-up, then the copies outside the record go: the
read models take the erasure from the log at once, the embedded outbox's `.eml` files are
deleted, and on SQLite the search index is merged and the write-ahead log emptied.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from application.audit.chain import Verification
from application.audit.files import check_files
from application.audit.records import EventLog
from application.bootstrap import Container
from application.privacy.erasure import Eraser
from application.privacy.export import RequesterCopy, requester_copy
from application.privacy.keys import Vault, subject_of_sealed
from application.privacy.rekeying import BATCH, Rekeyer
from projections.runner import build_runners
from projections.search import FTS_TABLE, tickets_of_requester

log = logging.getLogger(__name__)

ERASING_READ_MODELS = ("queue", "search", "conversation")
"""The read models that keep personal texts, and forget them on the erasure's event."""


def copy_for(container: Container, email: str) -> RequesterCopy:
    references = _tickets_of(container, email)
    return requester_copy(container.audit, references, email, container.desk.clock())


def eraser(container: Container) -> Eraser:
    """The erasure service with the purges of this deployment's shape."""

    def read_models(_references: Sequence[str], _version: int | None) -> None:
        runners = build_runners(container)
        for name in ERASING_READ_MODELS:
            runners[name].catch_up()

    def outbox_files(references: Sequence[str], version: int | None) -> None:
        url = container.settings.smtp_url
        if not url.startswith("file:"):
            return  # sent by SMTP: the copies are the relay's and the recipients'
        folder = Path(url.removeprefix("file:").removeprefix("//"))
        for reference in references:
            named = f"{version}.{reference}" if version else reference
            for path in folder.glob(f"*.{named}@*.eml"):
                path.unlink(missing_ok=True)

    def freed_pages(_references: Sequence[str], _version: int | None) -> None:
        engine = container.engine
        if engine.dialect.name != "sqlite":
            return  # PostgreSQL's dead rows are vacuumed and never dumped
        with engine.connect() as connection:
            # The index keeps deleted words until its segments are merged; every connection
            # zeroes what it frees (bootstrap), and the write-ahead log is emptied last.
            connection.exec_driver_sql(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES('optimize')")
            connection.commit()
            busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
        if busy and busy[0]:
            log.warning("the write-ahead log could not be emptied: a reader held it")

    return Eraser(
        container.desk,
        container.keys,
        container.engine,
        tickets_of=lambda email: _tickets_of(container, email),
        purges=(read_models, outbox_files, freed_pages),
        rekeyer=rekeyer(container),
    )


def rekeyer(container: Container, batch: int = BATCH) -> Rekeyer:
    """Seals the texts of events recorded before texts were sealed, with a signed statement."""
    vault = Vault(container.keys)
    log = EventLog(container.desk)
    return Rekeyer(log, vault, container.audit.key, container.desk.clock, batch=batch)


def checked_files(
    container: Container, result: Verification
) -> tuple[Verification, dict[str, object]]:
    """A verification with every kept file compared with the hash its event names."""
    store = container.desk.attachments
    if store is None:
        return result, {}
    log = EventLog(container.desk)
    check = check_files(log, store, subject_of_sealed, container.keys.key)
    if check.problems:
        result = replace(result, problems=[*result.problems, *check.problems])
    return result, {"files_checked": check.checked, "files_forgotten": check.forgotten}


def checked_formers(
    container: Container, result: Verification
) -> tuple[Verification, dict[str, object]]:
    """A verification with the former hashes of rewritten events computed again: a mismatch
    is a problem of the store."""
    if not result.rekeyed_events:
        return result, {}
    check = rekeyer(container).check()
    problems = [
        f"a re-keyed event no longer gives back its former hash: {where}"
        for where in check.mismatched
    ]
    if problems:
        result = replace(result, problems=[*result.problems, *problems])
    return result, {
        "rekeyed_events": result.rekeyed_events,
        "former_hashes_checked": check.checked,
        "former_hashes_forgotten": check.forgotten,
        "former_hashes_mismatched": check.mismatched,
    }


def _tickets_of(container: Container, email: str) -> list[str]:
    build_runners(container)["search"].catch_up()
    return tickets_of_requester(container.engine, email)
