"""The running server, started as `supportdesk serve` on a free port with its own SQLite file;
headless Debian chromium; and the desk console's users, signed in through its own form."""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from tests.conftest import service_missing

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
SUPPORTDESK = Path(sys.executable).with_name("supportdesk")
START_SECONDS = 30


@dataclass(frozen=True)
class Server:
    """A running server and the environment its CLI commands need."""

    url: str
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `supportdesk ARGS` against this server's database; its standard output."""
        done = subprocess.run(
            [str(SUPPORTDESK), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            command = " ".join(args)
            pytest.fail(f"supportdesk {command} exited with {done.returncode}:\n{done.stderr}")
        return done.stdout


@dataclass(frozen=True)
class DeskUser:
    """A console user: an API token, a password, and the second factor's secret if any."""

    name: str
    role: str
    token: str
    password: str
    totp_secret: str | None = None

    def code(self) -> str:
        """A one-time code of the user's authenticator app not used yet: a code signs in
        once, so a second sign-in within the same 30 s waits for the next, as a person would."""
        assert self.totp_secret is not None, f"{self.name} has no second factor"
        totp = pyotp.TOTP(self.totp_secret)
        while (code := str(totp.now())) == _USED_CODES.get(self.name):
            time.sleep(0.5)
        _USED_CODES[self.name] = code
        return code


_USED_CODES: dict[str, str] = {}


def desk_user(server: Server, name: str, role: str, *, second_factor: bool = False) -> DeskUser:
    """Add NAME with a token and a console password (and a second factor if asked)."""
    token = server.cli("users", "add", name, "--role", role, "--email", f"{name}@example.com")
    password = secrets.token_urlsafe(18)
    server.cli("users", "passwd", name, stdin=password + "\n")
    secret = None
    if second_factor:
        uri = server.cli("users", "totp", name).strip()
        secret = parse_qs(urlsplit(uri).query)["secret"][0]
    return DeskUser(name, role, token.strip(), password, secret)


def sign_in(page: Page, server: Server, user: DeskUser) -> None:
    """Sign USER in on PAGE through the console's form; the queue is then shown."""
    page.goto(f"{server.url}/desk/login")
    page.locator("#name").fill(user.name)
    page.locator("#password").fill(user.password)
    page.locator("#password").press("Enter")
    if user.totp_secret is not None:  # the second step asks for the password again
        page.locator("#password").fill(user.password)
        page.locator("#code").fill(user.code())
        page.locator("#code").press("Enter")
    page.wait_for_url(re.compile(r"/desk/(\?.*)?$"))


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


@contextmanager
def serving(directory: Path, settings: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`supportdesk serve` in a subprocess with its data in DIRECTORY and these SETTINGS
    (`SUPPORTDESK_*` variables) besides, stopped on leaving."""
    port = free_port()
    env = {
        **os.environ,
        "SUPPORTDESK_DATABASE_URL": f"sqlite:///{directory}/supportdesk.db",
        "SUPPORTDESK_DATA_DIR": str(directory / "var"),
        "SUPPORTDESK_SMTP_URL": f"file:{directory}/var/outbox",
        **(settings or {}),
    }
    log = directory / "serve.log"
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
def server(tmp_path: Path) -> Iterator[Server]:
    """`supportdesk serve` in a subprocess, stopped after the test."""
    with serving(tmp_path) as running:
        yield running


@pytest.fixture(scope="module")
def module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `supportdesk serve` for a whole test module, whose tests keep to their own tickets."""
    with serving(tmp_path_factory.mktemp("server")) as running:
        yield running


@contextmanager
def launched_chromium() -> Iterator[Browser]:
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


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Headless Debian chromium for one test."""
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def module_chromium() -> Iterator[Browser]:
    """Headless Debian chromium for a whole test module; each test opens its own contexts."""
    with launched_chromium() as browser:
        yield browser
