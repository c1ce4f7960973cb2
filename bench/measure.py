"""Shared pieces of the benchmarks: repeated timing, a scratch PostgreSQL database, figures."""

from __future__ import annotations

import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ADMIN_DSN = os.environ.get(
    "SUPPORTDESK_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass
class Figure:
    """One measurement: median, min and max over repeats, with its reference in the same run."""

    name: str
    unit: str
    samples: list[float]
    reference: Figure | None = None
    target: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    paired: bool = False
    """Each sample was taken right after its reference's sample of the same round."""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def ratio(self) -> float | None:
        """The figure over its reference: for paired samples the median of the rounds' ratios,
        so that the machine slowing down between rounds, as a shared one does, cancels out."""
        reference = self.reference
        if reference is None or not reference.median:
            return None
        if self.paired and len(self.samples) == len(reference.samples) and all(reference.samples):
            return statistics.median(
                s / r for s, r in zip(self.samples, reference.samples, strict=True)
            )
        return self.median / reference.median

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "median": self.median,
            "min": min(self.samples),
            "max": max(self.samples),
            "samples": self.samples,
            "reference": self.reference.as_dict() if self.reference else None,
            "ratio": self.ratio,
            "ratio_of": "median of paired rounds" if self.paired else "medians",
            "target": self.target,
            **self.extra,
        }


class WaitedTooLong(RuntimeError):
    """Something another thread or process was to do did not happen in time."""


def wait_for(
    done: Callable[[], bool],
    what: str,
    *,
    timeout: float = 60.0,
    pause: float = 0.0002,
    failure: Callable[[], BaseException | None] = lambda: None,
) -> None:
    """Return once `done()` holds; raise, naming `what`, when `failure()` reports an error of
    the thread or process doing it, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        error = failure()
        if error is not None:
            raise WaitedTooLong(f"{what}: the one doing it failed: {error!r}") from error
        if time.monotonic() > deadline:
            raise WaitedTooLong(f"{what}: not done after {timeout:g} s")
        time.sleep(pause)


def rate(action: Callable[[int], None], count: int) -> float:
    """Operations per second of `action(i)` for i in range(count)."""
    began = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - began)


@contextmanager
def scratch_postgres(name: str = "bench") -> Iterator[str]:
    """A PostgreSQL database created for the run and dropped after; yields its DSN."""
    import psycopg2

    admin = psycopg2.connect(ADMIN_DSN, connect_timeout=5)
    admin.autocommit = True
    database = f"{name}_{uuid.uuid4().hex[:8]}" if name != "bench" else "bench"
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{database}"')
    try:
        yield ADMIN_DSN.rsplit("/", 1)[0] + "/" + database
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy form of a libpq DSN."""
    return dsn.replace("postgresql://", "postgresql+psycopg2://", 1)


def p95(samples: list[float]) -> float:
    """The 95th percentile of the samples."""
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


def describe(figures: list[Figure]) -> None:
    """Print figures one a line, each with its ratio to its reference."""
    for figure in figures:
        ratio = f"  ({figure.ratio:.0%} of {figure.reference.name})" if figure.reference else ""
        print(f"{figure.name:<45} median {figure.median:>10,.1f} {figure.unit}{ratio}")
