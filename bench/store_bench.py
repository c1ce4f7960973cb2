"""Saving submitted tickets on PostgreSQL, next to a bare `eventsourcing` save and raw INSERTs;
and what testing a pooled connection before use costs.

Run with `python -m bench.store_bench`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg2
import sqlalchemy as sa
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from application.bootstrap import bootstrap
from application.settings import Settings
from bench.measure import Figure, describe, rate, scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.request import Channel

ONE_ROW = sa.text("SELECT 1")


class Bare(Aggregate):
    """The smallest aggregate: one created event with one field."""

    def __init__(self, note: str) -> None:
        self.note = note


class BareApplication(Application[uuid.UUID]):
    """An eventsourcing application with nothing of ours in it."""

    name = "bare"


def run(repeat: int = 5, count: int = 300) -> list[Figure]:
    """Tickets saved per second, bare aggregate saves per second, raw INSERT transactions."""
    submits, bares, inserts, pinged, unpinged = [], [], [], [], []
    with scratch_postgres("bench") as dsn, TemporaryDirectory() as tmp:
        url = sqlalchemy_url(dsn)
        container = bootstrap(Settings(database_url=url, data_dir=Path(tmp)))
        bare = BareApplication(
            env={"PERSISTENCE_MODULE": "eventsourcing_sqlalchemy", "SQLALCHEMY_URL": url}
        )
        raw = psycopg2.connect(dsn)
        with raw, raw.cursor() as cursor:
            cursor.execute("CREATE TABLE raw_insert (id bigserial PRIMARY KEY, body bytea)")
        body = b"x" * 400
        # The cost of testing a pooled connection before use: the store's engine does (after
        # a failover every pooled connection is dead); a twin engine does not.
        tested = container.engine
        untested = sa.create_engine(url, pool_size=2, pool_pre_ping=False)
        assert tested.pool._pre_ping and not untested.pool._pre_ping  # noqa: SLF001

        def submit(i: int) -> None:
            container.desk.submit(
                channel=Channel.WEB_FORM,
                requester_email=f"learner{i}@example.org",
                category=Category.LOGIN,
                course="Positive Parenting 101",
                subject="Cannot sign in",
                description="The sign-in page rejects my password after the update.",
            )

        def save_bare(i: int) -> None:
            bare.save(Bare(note=f"note {i}"))

        def insert(i: int) -> None:
            with raw, raw.cursor() as cursor:
                cursor.execute("INSERT INTO raw_insert (body) VALUES (%s)", (body,))

        def query_tested(i: int) -> None:
            with tested.connect() as connection:
                connection.execute(ONE_ROW)

        def query_untested(i: int) -> None:
            with untested.connect() as connection:
                connection.execute(ONE_ROW)

        actions = (submit, save_bare, insert, query_tested, query_untested)
        for action in actions:  # warm up connections and caches
            rate(action, 20)
        for _ in range(repeat):  # interleaved, so drift on a shared machine hits them all
            submits.append(rate(submit, count))
            bares.append(rate(save_bare, count))
            inserts.append(rate(insert, count))
            unpinged.append(rate(query_untested, count * 4))
            pinged.append(rate(query_tested, count * 4))
        untested.dispose()
        raw.close()
        bare.close()
        container.close()
    raw_figure = Figure("single-row INSERT transaction (psycopg2)", "tx/s", inserts)
    bare_figure = Figure(
        "bare eventsourcing aggregate save", "saves/s", bares, reference=raw_figure, paired=True
    )
    unpinged_figure = Figure("pooled connection + 1 query, untested", "queries/s", unpinged)
    return [
        Figure(
            "pooled connection + 1 query, tested (pre-ping)",
            "queries/s",
            pinged,
            reference=unpinged_figure,
            paired=True,
        ),
        unpinged_figure,
        Figure(
            "submit a ticket in-process (PostgreSQL)",
            "tickets/s",
            submits,
            reference=bare_figure,
            target="≥ 90 % of the bare save",
            paired=True,
        ),
        bare_figure,
        raw_figure,
    ]


if __name__ == "__main__":
    describe(run())
