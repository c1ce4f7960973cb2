"""The HTTP API under load: gunicorn with 2 workers on PostgreSQL, 8 client processes.

Each figure stands next to the same server's `GET /health` rate, measured in the same run.
Run with `python -m bench.http_bench`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.loadgen import LoadResult, run_load
from bench.measure import Figure, describe, scratch_postgres, sqlalchemy_url

HOST = "127.0.0.1"
CLIENTS = 8

# Set before the client processes fork, so they inherit them.
_token = ""
_references: list[str] = []
_per_client = 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _health(client: int, i: int) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    return "GET", "/health", None, {}


def _submit(client: int, i: int) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    body = {
        "email": f"learner{client}.{i}@example.org",
        "category": "login",
        "course": "Positive Parenting 101",
        "subject": "Cannot sign in",
        "description": "The sign-in page rejects my password since this morning.",
        "language": "ar",
    }
    return "POST", "/api/v1/tickets", body, {}


def _agent(client: int, i: int) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    # Each client works on its own tickets: respond, then resolve, ticket after ticket.
    reference = _references[client * _per_client // 2 + i // 2]
    auth = {"Authorization": f"Bearer {_token}"}
    if i % 2 == 0:
        return "POST", f"/api/v1/tickets/{reference}/respond", {"message": "Please retry."}, auth
    return "POST", f"/api/v1/tickets/{reference}/resolve", {"summary": "Password reset."}, auth


def _read(client: int, i: int) -> tuple[str, str, dict[str, Any] | None, dict[str, str]]:
    if i % 10 == 0:
        return _submit(client, i)
    reference = _references[(client * 7919 + i) % len(_references)]
    return "GET", f"/api/v1/tickets/{reference}", None, {"Authorization": f"Bearer {_token}"}


def _worker_rss_kib(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _wait_healthy(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


def _prepare_tickets(url: str, data_dir: Path, count: int) -> list[str]:
    from application.bootstrap import bootstrap
    from application.settings import Settings
    from domain.categories import Category
    from domain.request import Channel

    container = bootstrap(Settings(database_url=url, data_dir=data_dir))
    references = [
        container.desk.submit(
            channel=Channel.WEB_FORM,
            requester_email=f"prepared{i}@example.org",
            category=Category.CONTENT_LOADING,
            course="Lesson 3",
            subject="Video does not load",
            description="The lesson video stays black.",
        ).reference
        for i in range(count)
    ]
    container.close()
    return references


def run(repeat: int = 5, per_client: int = 250, memory_requests: int = 100_000) -> list[Figure]:
    """Submit and agent-command rates against `/health`, and web worker memory growth."""
    global _token, _references, _per_client
    healths: list[LoadResult] = []
    submits: list[LoadResult] = []
    agents: list[LoadResult] = []
    with scratch_postgres("bench_http") as dsn, tempfile.TemporaryDirectory() as tmp:
        url = sqlalchemy_url(dsn)
        env = {
            **os.environ,
            "SUPPORTDESK_DATABASE_URL": url,
            "SUPPORTDESK_DATA_DIR": tmp,
            "SUPPORTDESK_RATE_LIMIT": "100000000/minute",
            "SUPPORTDESK_ACCESS_LOG": "off",
        }
        supportdesk = str(Path(sys.executable).with_name("supportdesk"))
        _token = subprocess.run(
            [supportdesk, "users", "add", "bench", "--role", "agent"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout.strip()
        _per_client = per_client
        _references = _prepare_tickets(url, Path(tmp), CLIENTS * per_client // 2 * repeat)
        all_references = list(_references)
        port = _free_port()
        server = subprocess.Popen(
            [supportdesk, "serve", "--host", HOST, "--port", str(port), "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_healthy(port, server)
            run_load(HOST, port, _health, CLIENTS, 50)  # warm up every worker
            run_load(HOST, port, _submit, CLIENTS, 20)
            for round_ in range(repeat):
                share = CLIENTS * per_client // 2
                _references = all_references[round_ * share : (round_ + 1) * share]
                healths.append(run_load(HOST, port, _health, CLIENTS, per_client))
                submits.append(run_load(HOST, port, _submit, CLIENTS, per_client))
                agents.append(run_load(HOST, port, _agent, CLIENTS, per_client))
            _references = all_references
            memory: dict[str, int] = {}
            if memory_requests:
                run_load(HOST, port, _read, CLIENTS, 1000 // CLIENTS)
                memory["after_1000"] = _worker_rss_kib(server.pid)
                run_load(HOST, port, _read, CLIENTS, memory_requests // CLIENTS)
                memory["after_all"] = _worker_rss_kib(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    health = Figure("GET /health over HTTP", "req/s", [r.rate for r in healths])
    figures = [
        Figure(
            "submit over HTTP (2 workers, 8 clients)",
            "tickets/s",
            [r.rate for r in submits],
            reference=health,
            target="≥ 40 % of /health",
            paired=True,
            extra=_latency(submits),
        ),
        Figure(
            "respond/resolve over HTTP",
            "commands/s",
            [r.rate for r in agents],
            reference=health,
            target="≥ 40 % of /health",
            paired=True,
            extra=_latency(agents),
        ),
        health,
    ]
    if memory:
        first = Figure("web workers' RSS after 1,000 requests", "KiB", [memory["after_1000"]])
        figures.append(
            Figure(
                f"web workers' RSS after {memory_requests + 1000:,} requests",
                "KiB",
                [memory["after_all"]],
                reference=first,
                target="grows < 10 %",
            )
        )
    return figures


def _latency(results: list[LoadResult]) -> dict[str, Any]:
    return {
        "p50_ms": [round(r.p50, 2) for r in results],
        "p99_ms": [round(r.p99, 2) for r in results],
        "errors": sum(r.errors for r in results),
    }


if __name__ == "__main__":
    describe(run())
