"""The desk as operators run it, for fault, load and hostile-input tests.

Every process is the real command (`supportdesk serve`, `worker --only NAME`, `mailer`) in a
subprocess on a free port, against the real PostgreSQL (a database of this run), the real
RabbitMQ (a virtual host of this test) and a real SMTP server (aiosmtpd) in the test process.
Faults are real too: SIGKILL, terminated database backends, a broker proxy that is cut.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from application.bootstrap import Container, bootstrap
from application.settings import Settings
from interfaces.mail.listener import ListeningController
from projections.runner import READ_MODELS
from tests.conftest import service_missing

SUPPORTDESK = Path(sys.executable).with_name("supportdesk")
START_SECONDS = 60
RABBITMQ = ("127.0.0.1", 5672)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---- HTTP ----------------------------------------------------------------------------------------


class NoAnswer(Exception):
    """The connection broke or timed out before an answer arrived: the outcome is unknown."""


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Client:
    """A plain HTTP/1.1 client: one connection per request, so no request rides a stale one."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self.host, self.port, self.timeout = host, int(port), timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if body is not None:
            raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            sent.setdefault("Content-Type", "application/json")
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent["Connection"] = "close"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=raw, headers=sent)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise NoAnswer(f"{method} {path}: {error!r}") from error
        finally:
            connection.close()
        return Answer(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=data,
            seconds=time.perf_counter() - started,
        )

    def get(self, path: str, **options: Any) -> Answer:
        return self.request("GET", path, **options)

    def post(self, path: str, body: Any = None, **options: Any) -> Answer:
        return self.request("POST", path, body, **options)


# ---- processes ----------------------------------------------------------------------------------


class Process:
    """One command of the desk in a subprocess; its output is kept in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log
        self.popen: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> Process:
        with self.log_path.open("ab") as output:
            self.popen = subprocess.Popen(
                self.argv, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed, as in a power cut of this process."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self.kills += 1

    @staticmethod
    def kill_pid(pid: int) -> None:
        """SIGKILL a process this one did not start (a gunicorn worker)."""
        os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not stop in time."""
        if not self.alive():
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=30)

    def children(self) -> list[int]:
        """The process ids of its children (gunicorn's workers, for `serve`)."""
        listing = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in listing.read_text().split()]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Server:
    """`supportdesk serve` on a free port."""

    process: Process
    url: str

    @property
    def client(self) -> Client:
        return Client(self.url)

    def workers(self) -> list[int]:
        return self.process.children()


def rss_kib(pid: int) -> int:
    """A process's resident memory in KiB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError(f"no VmRSS for {pid}")


@dataclass
class Deployment:
    """The production shape on one machine: every process with the same `SUPPORTDESK_*`."""

    root: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)
    _container: Container | None = None

    def configure(self, **settings: str) -> None:
        """Set `SUPPORTDESK_<NAME>` for the processes started from now on."""
        self.env.update({f"SUPPORTDESK_{name.upper()}": value for name, value in settings.items()})

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """Run `supportdesk ARGS`; its standard output."""
        done = subprocess.run(
            [str(SUPPORTDESK), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"supportdesk {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done.stdout

    def token(self, name: str, role: str) -> str:
        """A bearer token issued the way operators issue them."""
        return self.cli("users", "add", name, "--role", role).strip()

    def start(self, name: str, *args: str) -> Process:
        """Start `supportdesk ARGS` as a named process of this deployment."""
        process = Process(name, [str(SUPPORTDESK), *args], self.env, self.root / f"{name}.log")
        self.processes.append(process.start())
        return process

    def serve(self, workers: int = 2, name: str = "serve") -> Server:
        """`supportdesk serve --workers N` on a free port, once it answers /health."""
        port = free_port()
        process = self.start(name, "serve", "--port", str(port), "--workers", str(workers))
        server = Server(process, f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if not process.alive():
                pytest.fail(f"serve exited:\n{process.log()}")
            try:
                if server.client.get("/health").status == 200 and len(server.workers()) == workers:
                    return server
            except NoAnswer:
                pass
            time.sleep(0.2)
        pytest.fail(f"serve did not answer in {START_SECONDS} s:\n{process.log()}")

    def container(self) -> Container:
        """The desk in this test's process, on the same database, to check what was recorded."""
        if self._container is None:
            self._container = bootstrap(Settings.from_env(self.env))
        return self._container

    def logs(self) -> str:
        """Each process's warnings, errors and exceptions first (a failure's cause is often long
        before the end of its log), then the end of its log."""
        parts = []
        for process in self.processes:
            log = process.log()
            parts += [f"--- {process.name}", "\n".join(problems(log))[-3000:]]
            parts += [f"--- {process.name}, its end", log[-1500:]]
        return "\n".join(parts)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        if self._container is not None:
            self._container.close()


_PROBLEM = re.compile(r" (WARNING|ERROR|CRITICAL) |^[\w.]+(Error|Exception|Conflict)\b|^DETAIL")


def problems(log: str) -> list[str]:
    """The lines of a log that tell of something going wrong: warnings, errors, and the last line
    of each traceback (the exception and its message)."""
    return [line[:400] for line in log.splitlines() if _PROBLEM.search(line)]


def deployment_env(root: Path) -> dict[str, str]:
    """The environment of every process: this test's settings only, none inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env.update(
        PYTHONUNBUFFERED="1",
        SUPPORTDESK_DATA_DIR=str(root / "var"),
        SUPPORTDESK_SMTP_URL=f"file:{root}/var/outbox",
        SUPPORTDESK_AUDIT_KEY=secrets.token_hex(32),
        SUPPORTDESK_SECRET_KEY=secrets.token_hex(32),
        SUPPORTDESK_RATE_LIMIT="1000000/minute",
        # Load and fault tests mail the same few learners again and again.
        SUPPORTDESK_MAIL_PER_RECIPIENT_HOURLY="1000000",
    )
    return env


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """The production shape on this run's PostgreSQL database; every process stopped after."""
    built = Deployment(tmp_path, deployment_env(tmp_path))
    built.configure(database_url=postgres_url)
    try:
        yield built
    finally:
        built.close()


def terminate_backends(postgres_url: str) -> int:
    """Cut every connection to the test database, as an operator or a failover does."""
    dsn = postgres_url.replace("postgresql+psycopg2://", "postgresql://", 1)
    database = dsn.rsplit("/", 1)[1]
    admin = psycopg2.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )
            row = cursor.fetchone()
            return int(row[0]) if row else 0
    finally:
        admin.close()


# ---- RabbitMQ ------------------------------------------------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def rabbitmq_url() -> Iterator[str]:
    """A virtual host of this test's own on the real RabbitMQ, so no queue is shared."""
    try:
        socket.create_connection(RABBITMQ, timeout=2).close()
        vhost = f"supportdesk-test-{uuid.uuid4().hex[:10]}"
        _rabbitmqctl("add_vhost", vhost)
    except (OSError, subprocess.SubprocessError) as error:
        service_missing("RabbitMQ (and rabbitmqctl)", error)
        raise
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


# ---- SMTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One email the SMTP server accepted."""

    message_id: str
    recipients: tuple[str, ...]
    message: EmailMessage


class SmtpSink:
    """A real SMTP server's handler: keeps what it accepts, and answers as `reply` decides."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.refusals: list[tuple[str, str]] = []  # (Message-ID, answer)
        self.reply: Callable[[EmailMessage], str | None] = lambda message: None
        self._lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content or b"")
        message_id = str(message["Message-ID"])
        answer = self.reply(message)
        with self._lock:
            if answer is not None:
                self.refusals.append((message_id, answer))
                return answer
            self.deliveries.append(Delivery(message_id, tuple(envelope.rcpt_tos), message))
        return "250 2.0.0 OK"

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def count_by_message_id(self) -> Counter[str]:
        return Counter(d.message_id for d in self.received())

    def wait_for(self, predicate: Callable[[list[Delivery]], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate(self.received()):
                return True
            time.sleep(0.1)
        return predicate(self.received())


@pytest.fixture
def smtp_sink() -> Iterator[tuple[SmtpSink, str]]:
    """A real SMTP server on a free port; its handler and its `smtp://` URL."""
    sink = SmtpSink()
    controller = ListeningController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield sink, f"smtp://127.0.0.1:{controller.port}?timeout=10"
    finally:
        controller.stop()


def eventually(predicate: Callable[[], bool], seconds: float, pause: float = 0.1) -> bool:
    """Whether `predicate` became true within `seconds` (no timing is asserted by this)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(pause)
    return predicate()


# ---- what the record says --------------------------------------------------------------------


def start_projections(deployment: Deployment, name: str = "projections") -> Process:
    """The projection runner, every read model of the query side, as its own process."""
    only = [arg for model in READ_MODELS for arg in ("--only", model)]
    return deployment.start(name, "worker", *only)


def audit_verified(deployment: Deployment, seconds: float = 30) -> dict[str, Any]:
    """`supportdesk audit verify --json` once the seal keeper has caught up; its report."""
    report: dict[str, Any] = {}

    def intact() -> bool:
        nonlocal report
        done = subprocess.run(
            [str(SUPPORTDESK), "audit", "verify", "--json"],
            env=deployment.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        report = json.loads(done.stdout) if done.stdout.strip() else {"error": done.stderr}
        return done.returncode == 0

    assert eventually(intact, seconds, pause=0.5), report
    return report


def recorded_events(container: Container) -> list[Any]:
    """Every event of the log, in order, as domain events."""
    recorder, mapper = container.desk.recorder, container.desk.mapper
    events: list[Any] = []
    position = 0
    while batch := recorder.select_notifications(
        start=position, limit=1000, inclusive_of_start=False
    ):
        events += [mapper.to_domain_event(n) for n in batch]
        position = batch[-1].id
    return events
