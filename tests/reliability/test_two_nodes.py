"""Two complete nodes on one PostgreSQL and one RabbitMQ; every process of one is killed at once.

Each node runs the web server, every worker and the mailer, with its own data folder, as two
machines would. Mixed traffic goes to both. Killing the node whose workers lead leaves the other
to take over the relay, the SLA watcher and the seal keeper; nothing accepted is lost, every
receipt goes out once, the read models catch up and the audit verifies (P7.1).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from application.storage.leases import leaders
from projections.runner import wait_until
from tests.reliability.conftest import (
    Deployment,
    Process,
    Server,
    SmtpSink,
    audit_verified,
    eventually,
    recorded_events,
)
from tests.reliability.traffic import Traffic
from tests.waiting import DEADLINE

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.rabbitmq]

SINGLE_WRITERS = {"relay", "sla-watch", "audit-seals"}


@dataclass
class Node:
    """One machine's processes: its web server (master first), its worker, its mailer."""

    server: Server
    processes: list[Process]
    worker_pid: str

    def kill(self) -> None:
        """SIGKILL every process of the node at once, its web workers too."""
        for process in self.processes:
            for pid in [*process.children(), process.pid]:
                Process.kill_pid(pid)


def start_node(deployment: Deployment, name: str) -> Node:
    deployment.configure(data_dir=str(deployment.root / name))
    server = deployment.serve(workers=1, name=f"{name}-serve")
    worker = deployment.start(f"{name}-worker", "worker")
    mailer = deployment.start(f"{name}-mailer", "mailer")
    return Node(server, [server.process, worker, mailer], str(worker.pid))


def led_by(deployment: Deployment, pid: str) -> set[str]:
    """The single-writer workers whose live lease the process with this pid holds."""
    return {
        lease.name
        for lease in leaders(deployment.container().engine)
        if lease.live and lease.holder.split("/")[1] == pid
    }


def keep_going(traffic: Traffic, stop: threading.Event) -> None:
    while not stop.is_set():
        traffic.submit()
        answered = traffic.answered_references()
        if answered and random.random() < 0.5:
            traffic.reply(random.choice(answered[-10:]))
        stop.wait(random.uniform(0.05, 0.2))


def test_a_whole_node_killed_loses_nothing_and_the_other_takes_over(
    deployment: Deployment, rabbitmq_url: str, smtp_sink: tuple[SmtpSink, str]
) -> None:
    sink, smtp_url = smtp_sink
    deployment.configure(broker_url=rabbitmq_url, smtp_url=smtp_url)
    agent = deployment.token("nora", "agent")
    node_a = start_node(deployment, "node-a")
    assert eventually(lambda: led_by(deployment, node_a.worker_pid) == SINGLE_WRITERS, DEADLINE)
    node_b = start_node(deployment, "node-b")
    assert led_by(deployment, node_b.worker_pid) == set()  # standing by while node a leads
    traffic_a = Traffic(node_a.server.client, agent, give_up=20)
    traffic_b = Traffic(node_b.server.client, agent, give_up=20)

    stop = threading.Event()
    with ThreadPoolExecutor(4) as pool:
        load = [pool.submit(keep_going, t, stop) for t in (traffic_a, traffic_b) for _ in (1, 2)]
        try:
            time.sleep(4)
            node_a.kill()
            killed = time.monotonic()
            # The load balancer sends node a's clients, and their retries, to node b.
            traffic_a.client = node_b.server.client
            assert eventually(
                lambda: led_by(deployment, node_b.worker_pid) == SINGLE_WRITERS, DEADLINE
            )
            took_over = time.monotonic() - killed
            time.sleep(4)  # node b alone carries on
        finally:
            stop.set()
            for future in load:
                future.result(timeout=DEADLINE)

    # Requests cut off by the kill were retried on node b; no client got an error.
    assert not traffic_a.failures and not traffic_b.failures, traffic_a.failures[:5]
    answered = [s for t in (traffic_a, traffic_b) for s in t.submissions if s.answered]
    container = deployment.container()
    events = recorded_events(container)
    by_key = Counter(
        e.description.rsplit(" ", 1)[-1] for e in events if type(e).__name__ == "Submitted"
    )
    assert all(count == 1 for count in by_key.values()), by_key.most_common(3)
    assert all(by_key[s.key] == 1 for s in answered)  # every accepted request has its ticket

    references = {e.reference for e in events if type(e).__name__ == "Submitted"}
    receipts = {f"<receipt.1.{ref}@captainmama.org>" for ref in references}
    assert sink.wait_for(lambda got: receipts <= {d.message_id for d in got}, 90), (
        len(receipts - {d.message_id for d in sink.received()}),
        deployment.logs(),
    )
    # A receipt is sent twice only when node a's mailer died between the SMTP server's 250 and
    # recording it: the one message in its hands.
    delivered = sink.count_by_message_id()
    repeats = {m: n for m, n in delivered.items() if n > 1}
    assert sum(n - 1 for n in repeats.values()) <= 1, repeats

    head = container.desk.recorder.max_notification_id()
    assert wait_until(container, "all", head, 60), deployment.logs()
    report = audit_verified(deployment, 60)
    assert report["intact"] and report["events_checked"] == len(recorded_events(container))
    print(
        f"\n{len(answered)} requests accepted, {len(events)} events, {len(delivered)} emails, "
        f"{sum(n - 1 for n in repeats.values())} repeated; node b led every single-writer "
        f"worker {took_over:.1f} s after node a was killed"
    )
