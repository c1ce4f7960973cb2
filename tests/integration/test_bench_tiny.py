"""`supportdesk bench --tiny` still runs every suite and prints the whole table.

Figures from a tiny run mean nothing: only that each measurement ran and gave one.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_DSN

BENCH_DEADLINE = 480  # seconds; a tiny run takes a fraction of it


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


EXPECTED = (
    "machine speed before",
    "add_business_hours, 40-hour spans",
    "submit a ticket in-process (PostgreSQL)",
    "bare eventsourcing aggregate save",
    "rebuild queue",
    "commit → visible in the queue, p99",
    "queue first page",
    "report by course all tickets",
    "audit verify",
    "audit export",
    "submit over HTTP (2 workers, 8 clients)",
    "respond/resolve over HTTP",
    "GET /health over HTTP",
    "web workers' RSS after",
    "GET conversation, 200 items, p95",
    "search: rare word, p95",
    "search: exact email, p95",
    "console queue all open",
    "console ticket 200 messages",
    "submit, texts sealed (PostgreSQL)",
    "erase a learner with 10 tickets (SQLite)",
    "re-key events recorded as written (SQLite)",
    "time a 5 MB JPEG photo adds (SQLite), p95",
    "time a 5 MB PDF adds (PostgreSQL), p95",
    "clean a 5 MB JPEG photo (inspect)",
    "machine speed after",
)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(BENCH_DEADLINE + 60)
def test_the_whole_benchmark_runs_in_tiny_mode(postgres_server: str, tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    command = Path(sys.executable).with_name("supportdesk")
    try:
        finished = subprocess.run(
            [str(command), "bench", "--tiny", "--output", str(output)],
            env={**os.environ, "SUPPORTDESK_BENCH_POSTGRES": POSTGRES_ADMIN_DSN},
            capture_output=True,
            text=True,
            timeout=BENCH_DEADLINE,
            check=False,
        )
    except subprocess.TimeoutExpired as stuck:  # what it printed says how far it came
        raise AssertionError(
            f"bench --tiny still running after {BENCH_DEADLINE} s:\n"
            f"{_text(stuck.stdout)[-2000:]}\n{_text(stuck.stderr)[-3000:]}"
        ) from stuck
    assert finished.returncode == 0, finished.stderr[-3000:]
    table = finished.stdout.splitlines()
    assert table[0].split()[:4] == ["measurement", "median", "min", "max"]
    for name in EXPECTED:
        assert any(line.startswith(name) for line in table), (name, finished.stdout)
    results = json.loads(output.read_text())
    assert results["tiny"] is True
    figures = {figure["name"]: figure for figure in results["figures"]}
    assert len(figures) == len(table) - 2  # every printed row, and nothing else
    for figure in figures.values():
        assert figure["median"] > 0, figure
        reference = figure["reference"]
        if reference is None:
            continue
        if figure["ratio_of"] == "medians":
            assert figure["ratio"] == figure["median"] / reference["median"]
        else:  # rounds side by side
            rounds = zip(figure["samples"], reference["samples"], strict=True)
            assert figure["ratio"] == statistics.median(s / r for s, r in rounds)
    paired = [f["name"] for f in figures.values() if f["ratio_of"] != "medians"]
    assert len(paired) == 18, paired  # store 3, audit 3, HTTP 2, privacy 2, attachments 8
