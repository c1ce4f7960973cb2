"""Who holds a claim: a process, named by its host, its pid and when it started, so that a claim
dies with the process that made it.

On the claim's own host the desk can tell at once whether that process still runs: the pid is
alive and started when the name says (a pid reused by a later process started later). On
another host it cannot, and a claim then lasts as long as a request may run (the web server
stops any request after its timeout).
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import cache

_HOST = socket.gethostname()


def _started(pid: int) -> str | None:
    """When the process started, in clock ticks since boot (Linux); None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19] if len(fields) > 19 else None  # field 22 of stat, after pid and name


@cache
def _identity(pid: int) -> str:
    # Cached per pid: a forked worker names itself, not its parent.
    return f"{_HOST}/{pid}/{_started(pid) or uuid.uuid4().hex[:12]}"


def this_process() -> str:
    """The name of the running process, as claims record it."""
    return _identity(os.getpid())


def has_ended(holder: str) -> bool | None:
    """Whether the named process has ended: True or False when it ran on this host, None when
    that cannot be told here (another host, or a name this release did not write)."""
    host, _, rest = holder.partition("/")
    pid_text, _, started = rest.partition("/")
    if host != _HOST or not pid_text.isdigit():
        return None
    if not os.path.exists("/proc/self/stat"):
        return None  # no /proc on this system: cannot tell
    now = _started(int(pid_text))
    return now is None or now != started
