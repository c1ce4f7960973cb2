"""A load generator that is not the server: client processes with keep-alive connections."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.measure import WaitedTooLong

RequestMaker = Callable[[int, int], tuple[str, str, dict[str, Any] | None, dict[str, str]]]
"""(client number, request number) → (method, path, JSON body or None, headers)."""


@dataclass
class LoadResult:
    """What the clients saw."""

    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def _client(args: tuple[str, int, int, int, RequestMaker, Any]) -> tuple[int, int, list[float]]:
    host, port, number, count, make, start_at = args
    connection = http.client.HTTPConnection(host, port, timeout=30)
    latencies: list[float] = []
    errors = 0
    while time.time() < start_at:  # all clients start together
        time.sleep(0.001)
    for i in range(count):
        method, path, body, headers = make(number, i)
        payload = json.dumps(body).encode() if body is not None else None
        if payload is not None:
            headers = {"Content-Type": "application/json", **headers}
        began = time.perf_counter()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status >= 400:
                errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=30)
        latencies.append((time.perf_counter() - began) * 1000)
    connection.close()
    return count, errors, latencies


def run_load(host: str, port: int, make: RequestMaker, clients: int, per_client: int) -> LoadResult:
    """Send `per_client` requests from each of `clients` processes at once; measure."""
    start_at = time.time() + 0.5
    jobs = [(host, port, n, per_client, make, start_at) for n in range(clients)]
    context = multiprocessing.get_context("fork")
    # A floor of 20 requests a second: far below any run's, so only a stuck client reaches it.
    deadline = 120 + clients * per_client / 20
    with context.Pool(clients) as pool:
        try:
            outcomes = pool.map_async(_client, jobs).get(timeout=deadline)
        except multiprocessing.TimeoutError as error:
            raise WaitedTooLong(
                f"{clients} load clients to send {per_client} requests each: "
                f"not done after {deadline:g} s"
            ) from error
    seconds = time.time() - start_at
    latencies = [latency for _, _, batch in outcomes for latency in batch]
    return LoadResult(
        requests=sum(count for count, _, _ in outcomes),
        errors=sum(errors for _, errors, _ in outcomes),
        seconds=seconds,
        latencies_ms=latencies,
    )
