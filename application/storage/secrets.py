"""Secrets the embedded shape makes for itself and keeps under its data folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def persisted_secret(path: Path) -> str:
    """The secret in `path`, made once (random, readable by us only) if it is not there yet.

    Processes or threads starting together may all try to make it: each writes its own draft and
    links it into place, so the file appears whole or not at all and one draft wins.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # made before, or by another process at the same moment
        finally:
            draft.unlink()
    return path.read_text().strip()
