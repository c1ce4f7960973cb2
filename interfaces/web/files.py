"""The files of a ticket, for the team: agents and supervisors at work, auditors checking
what was received. Each download is recorded in the access log, as any read of the record is.
"""

from __future__ import annotations

import re

from flask import Response
from flask_smorest import Blueprint

from application.downloads import FileNotKept
from interfaces.web.auth import current_actor, current_role, requires
from interfaces.web.services import container
from interfaces.web.uploads import served

blp = Blueprint(
    "files",
    __name__,
    url_prefix="/api/v1",
    description="Agents, supervisors and auditors: the files sent with a ticket's messages.",
)

SHA256 = re.compile(r"^[0-9a-f]{64}$")


@blp.get("/tickets/<ref>/files/<sha256>")
@requires("agent", "supervisor", "auditor")
@blp.doc(
    responses={
        200: {
            "description": "The file, as an attachment (never shown inline)",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    }
)
@blp.alt_response(404, response="NOT_FOUND", description="No such ticket or file, or erased")
def download(ref: str, sha256: str) -> Response:
    """A file the ticket keeps, named by the SHA-256 its event gives (the conversation lists
    them). Served as a download with its sniffed type, never as a page: `nosniff`, a
    sandboxing CSP; a PDF that carries JavaScript as `application/octet-stream`."""
    if not SHA256.match(sha256):
        raise FileNotKept(sha256)
    built = container()
    found = built.downloads.file(ref, sha256)
    built.access_log.record(
        actor=current_actor(),
        role=current_role(),
        action="file",
        reference=ref,
        query=f"sha256={sha256}",
    )
    return served(found)
