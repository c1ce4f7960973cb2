"""Background workers (projections, outbox relay, mailer, SLA watcher) and how they are run."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Protocol

log = logging.getLogger(__name__)


class Worker(Protocol):
    """Something that works until told to stop."""

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; return promptly after it is."""


class WorkerPool:
    """Runs workers in threads of this process and stops them together."""

    def __init__(self, workers: Mapping[str, Worker]) -> None:
        self.workers = dict(workers)
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one thread per worker."""
        for name, worker in self.workers.items():
            thread = threading.Thread(
                target=self._run, args=(name, worker), name=f"worker-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, name: str, worker: Worker) -> None:
        log.info("worker %s started", name)
        while not self.stopping.is_set():
            try:
                worker.run(self.stopping)
            except Exception:
                # A worker that fails (database restarting, broker away) starts again after a
                # pause instead of dying: everything it does resumes from recorded positions.
                log.exception("worker %s failed; restarting in 2 s", name)
                self.stopping.wait(2.0)
        log.info("worker %s stopped", name)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every worker to stop and wait for them."""
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_until_signalled(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT, then stop gracefully."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: stopping workers", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        self.stopping.wait()
        self.stop()
