"""The audit benchmark still runs (its tiny mode; figures from it mean nothing)."""

from __future__ import annotations

import pytest

from bench import audit_bench


@pytest.mark.postgres
def test_audit_bench_tiny_run_reports_every_figure(postgres_server: str) -> None:
    # `postgres_server` makes sure the server answers (skip locally, fail in CI otherwise).
    figures = audit_bench.run(tiny=True)
    assert figures["events"] == 1_000
    assert figures["tickets"] == 100
    for name in ("verify", "export", "read", "seal"):
        assert figures[name]["median"] > 0
    assert figures["verify"]["target"] == figures["export"]["target"] == 20_000
