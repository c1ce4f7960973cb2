"""The running server, started as `supportdesk serve` on a free port with its own SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import service_missing

CHROMIUM = Path("/usr/bin/chromium")
SUPPORTDESK = Path(sys.executable).with_name("supportdesk")
START_SECONDS = 30


@dataclass(frozen=True)
class Server:
    """A running server and the environment its CLI commands need."""

    url: str
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """Run `supportdesk ARGS` against this server's database; its standard output."""
        done = subprocess.run(
            [str(SUPPORTDESK), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"supportdesk serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"supportdesk serve did not answer within {START_SECONDS} s:\n{log.read_text()}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`supportdesk serve` in a subprocess, stopped after the test."""
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTDESK_DATABASE_URL": f"sqlite:///{tmp_path}/supportdesk.db",
        "SUPPORTDESK_DATA_DIR": str(tmp_path / "var"),
        "SUPPORTDESK_SMTP_URL": f"file:{tmp_path}/var/outbox",
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(SUPPORTDESK), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process, log)
        yield Server(url=url, env=env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


@pytest.fixture
def chromium() -> Iterator[object]:
    """Headless Debian chromium driven by Playwright; never a downloaded browser."""
    if not CHROMIUM.exists():
        service_missing("chromium", FileNotFoundError(f"{CHROMIUM} (apt-get install chromium)"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        service_missing("the playwright package", error)
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()
