"""Slow clients against the shipped production front (nginx before `supportdesk serve`).

The attack: connections that send a request body one byte at a time. Straight at the web
workers, nine of them held every thread of the embedded server and `/health` timed out.
Behind the front, nginx holds them and the workers go on answering.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from interfaces.cli.front import nginx_config
from tests.conftest import service_missing
from tests.reliability.conftest import Client, Deployment, deployment_env, free_port
from tests.reliability.traffic import request_body
from tests.waiting import DEADLINE, eventually, join

SLOW_CLIENTS = 24  # more than the threads of every web worker together
RUN_IN_FOREGROUND = "daemon off; user root;"
DRIP_SECONDS = 8  # how long each keeps sending, a byte at a time, under nginx's timeouts


@pytest.fixture
def nginx() -> str:
    found = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if found is None:
        service_missing("nginx", FileNotFoundError("no nginx on this machine"))
    assert found is not None
    return found


@pytest.fixture
def front(nginx: str, tmp_path: Path) -> Iterator[Client]:
    """The embedded desk behind the front; a client of the front."""
    deployment = Deployment(tmp_path, deployment_env(tmp_path))
    deployment.configure(database_url=f"sqlite:///{tmp_path}/var/supportdesk.db")
    server = deployment.serve(workers=1)
    prefix = tmp_path / "front"
    prefix.mkdir()
    port = free_port()
    upstream = server.url.removeprefix("http://")
    (prefix / "nginx.conf").write_text(nginx_config(f"127.0.0.1:{port}", upstream))
    # As root in tests, nginx's workers keep root's rights to the test's private folders.
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-g",
            "daemon off; user root;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: _listening(port) or process.poll() is not None, "nginx to listen")
        assert process.poll() is None, (prefix / "error.log").read_text()
        yield Client(f"http://127.0.0.1:{port}", timeout=10)
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)
        deployment.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _drip(port: int, stop: threading.Event) -> None:
    """A client that announces a body and sends it a byte at a time."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(
            b"POST /api/v1/tickets HTTP/1.1\r\nHost: desk\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n"
        )
        ends = time.monotonic() + DRIP_SECONDS
        while not stop.is_set() and time.monotonic() < ends:
            try:
                sock.sendall(b" ")
            except OSError:
                return  # the front cut it off: what it is there for
            stop.wait(0.5)


@pytest.mark.slow
def test_slow_clients_behind_the_front_leave_the_desk_answering(
    front: Client,
) -> None:
    through_front, port = front, front.port
    stop = threading.Event()
    drips = [
        threading.Thread(target=_drip, args=(port, stop), name=f"slow client {n}", daemon=True)
        for n in range(SLOW_CLIENTS)
    ]
    for drip in drips:
        drip.start()
    try:
        time.sleep(1)  # every slow client is connected and sending
        for _ in range(5):
            assert through_front.get("/health").status == 200
        submitted = through_front.post("/api/v1/tickets", request_body(uuid.uuid4().hex))
        assert submitted.status == 201, submitted.body
    finally:
        stop.set()
        for drip in drips:
            join(drip, "a slow client")
