"""Paging the queue by cursor when many tickets share one due instant (P5)."""

from __future__ import annotations

from application.bootstrap import Container
from projections.queue import QueueFilter, queue_page
from tests.builders import caught_up, riyadh, submit
from tests.conftest import FakeClock


def test_tickets_due_at_the_same_instant_are_paged_by_reference_without_loss(
    container: Container, clock: FakeClock
) -> None:
    clock.now = riyadh(11, 1, 10)
    together = [submit(container) for _ in range(5)]  # one submission instant: one due instant
    clock.now = riyadh(11, 1, 11)
    later = submit(container)
    caught_up(container)
    seen, cursor = [], None
    while True:
        page = queue_page(container.engine, container.sla, clock.now, QueueFilter(), 2, cursor)
        seen += [row["reference"] for row in page.rows]
        if (cursor := page.next_cursor) is None:
            break
    assert seen == [*sorted(together), later]
