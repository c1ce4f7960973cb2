"""The conversation kept live, in batches of any size down to one event, equals a rebuild.

Random histories hold every kind of ticket event: notes (with tabs, line breaks, backslashes
and a NUL), ownership, owner warnings, answers from canned responses (whose own events pass
through the log too), unverified follow-ups. After each history the rows kept live are
compared with a rebuild from the first event, and with the log itself: one item per ticket
event, in the ticket's order, of the event's kind.
"""

from __future__ import annotations

import random
import re
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from application.bootstrap import Container
from projections.conversation import ConversationProjection, conversation_table
from projections.runner import Runner, tracking_view
from projections.ticket_events import EVERY_TICKET_EVENT
from tests.builders import EVERY_KIND, act_at_random
from tests.conftest import FakeClock


def kept_rows(container: Container) -> list[tuple[Any, ...]]:
    table = conversation_table
    with container.engine.connect() as connection:
        query = sa.select(table).order_by(*table.primary_key.columns)
        return [tuple(row) for row in connection.execute(query)]


def logged_items(container: Container) -> list[tuple[Any, int, str]]:
    """(ticket, version, kind) of every ticket event in the log, the kind named after its class."""
    log = container.desk.recorder.select_notifications(start=None, limit=1_000_000)
    return sorted(
        (n.originator_id, n.originator_version, _snake(n.topic.rsplit(".", 1)[-1]))
        for n in log
        if n.topic in EVERY_TICKET_EVENT
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


histories = st.lists(
    st.tuples(st.integers(1, 60), st.sampled_from([1, 2, 3, 5, 8, 13, 50, 500])),
    min_size=1,
    max_size=4,
)
"""Parts of a history: how many steps, then the batch size the live runner catches up with."""


def test_kept_live_in_any_batches_equals_a_rebuild_and_the_log(
    container: Container, clock: FakeClock
) -> None:
    model = ConversationProjection(tracking_view(container), container.calendar.timezone)
    model.create_tables()
    runner = Runner(container.desk, model)
    seen: set[str] = set()

    @given(seed=st.integers(0, 2**32 - 1), parts=histories)
    @example(seed=1, parts=[(120, 1), (120, 7)])  # event by event, then in batches
    @settings(
        max_examples=20,
        deadline=None,
        database=None,
        derandomize=True,  # the same histories on every run: a failure is never a fluke
        suppress_health_check=list(HealthCheck),
    )
    def kept_live_equals_rebuilt(seed: int, parts: list[tuple[int, int]]) -> None:
        rng = random.Random(seed)
        for steps, batch_size in parts:
            act_at_random(container, clock, rng, steps, kinds=EVERY_KIND)
            runner.batch_size = batch_size
            runner.catch_up()
        live = kept_rows(container)
        assert [(t, v, kind) for t, v, kind, *_ in live] == logged_items(container)
        seen.update(kind for _, _, kind, *_ in live)

        runner.rebuild()
        assert kept_rows(container) == live

    kept_live_equals_rebuilt()
    # The histories held every kind of item, so every kind was compared.
    assert len(seen) == len(EVERY_TICKET_EVENT), " ".join(sorted(seen))
