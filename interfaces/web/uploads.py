"""Files sent to the web doors (the support form, the API), and files served back.

A request with files is multipart; only the views marked `accepts_files` take one, and only
they may be as large as the files allow. A file over a limit refuses the whole request (413,
naming it): the sender still has it and can send a smaller one, and nothing is recorded.
What is kept is decided from the bytes (application/attachments/inspection.py). Files are
served back as downloads only, in a sandbox, so a file can never act as a page of this site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from flask import Response, current_app, request
from werkzeug.datastructures import FileStorage

from application.downloads import Download
from domain.attachment import (
    MAX_FILE_BYTES,
    MAX_FILES,
    MAX_TOTAL_BYTES,
    Refusal,
    safe_name,
)

F = TypeVar("F", bound=Callable[..., Any])

FIELD = "files"
MAX_UPLOAD_REQUEST_BYTES = MAX_TOTAL_BYTES + 1024 * 1024
"""The files at their limit, and the request's text fields and multipart framing besides."""

_SANDBOX = "sandbox; default-src 'none'"


class OverLimit(Exception):
    """A file, or the files together, over a limit: the request is refused whole."""

    def __init__(self, name: str, reason: Refusal) -> None:
        super().__init__(f"{name}: {reason.value}")
        self.name = name
        self.reason = reason


def accepts_files(view: F) -> F:
    """Mark a view that takes a multipart request with files."""
    view._supportdesk_files = True  # type: ignore[attr-defined]
    return view


def takes_files() -> bool:
    """Whether this request is multipart and its view takes files."""
    view = current_app.view_functions.get(request.endpoint or "")
    return request.mimetype == "multipart/form-data" and bool(
        getattr(view, "_supportdesk_files", False)
    )


def allow_files() -> None:
    """Before a view that takes files: let the request be as large as its files may be."""
    if takes_files():
        request.max_content_length = MAX_UPLOAD_REQUEST_BYTES


def received() -> list[tuple[str, bytes]]:
    """The files of this request, as (name, bytes); OverLimit for one over a limit. A file
    field left empty (a browser sends one) is no file."""
    sent = [f for f in request.files.getlist(FIELD) if f.filename]
    files: list[tuple[str, bytes]] = []
    total = 0
    for position, storage in enumerate(sent):
        name = safe_name(storage.filename)
        if position >= MAX_FILES:
            raise OverLimit(name, Refusal.TOO_MANY)
        data = _read(storage, name)
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            raise OverLimit(name, Refusal.TOO_MUCH_IN_ALL)
        files.append((name, data))
    return files


def _read(storage: FileStorage, name: str) -> bytes:
    data = storage.stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OverLimit(name, Refusal.TOO_LARGE)
    return data


def served(download: Download) -> Response:
    """A file as a download: never shown by the browser as a page, never sniffed into one."""
    # A PDF that can run scripts is not even named as a PDF: no viewer opens it inline.
    kind = "application/octet-stream" if download.scriptable else download.media_type
    return Response(
        download.data,
        mimetype=kind,
        headers={
            "Content-Disposition": disposition("attachment", download.name),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _SANDBOX,
            "Cache-Control": "private, no-store",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


def thumbnail(png: bytes) -> Response:
    """A thumbnail drawn here, shown inline on the console's pages."""
    return Response(
        png,
        mimetype="image/png",
        headers={
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": _SANDBOX,
            "Cache-Control": "private, max-age=3600",
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


def disposition(kind: str, name: str) -> str:
    """A Content-Disposition naming the file in any script (RFC 6266), with a plain-ASCII
    fallback for old clients."""
    ascii_name = name.encode("ascii", "ignore").decode() or "file"
    ascii_name = ascii_name.replace('"', "").replace("\\", "")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
