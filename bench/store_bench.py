"""Saving submitted tickets on PostgreSQL, next to a bare `eventsourcing` save and raw INSERTs.

Run with `python -m bench.store_bench`.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg2
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from application.bootstrap import bootstrap
from application.settings import Settings
from bench.measure import Figure, describe, rate, scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.request import Channel


class Bare(Aggregate):
    """The smallest aggregate: one created event with one field."""

    def __init__(self, note: str) -> None:
        self.note = note


class BareApplication(Application[uuid.UUID]):
    """An eventsourcing application with nothing of ours in it."""

    name = "bare"


def run(repeat: int = 5, count: int = 300) -> list[Figure]:
    """Tickets saved per second, bare aggregate saves per second, raw INSERT transactions."""
    submits, bares, inserts = [], [], []
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

        for action in (submit, save_bare, insert):  # warm up connections and caches
            rate(action, 20)
        for _ in range(repeat):  # interleaved, so drift on a shared machine hits all three
            submits.append(rate(submit, count))
            bares.append(rate(save_bare, count))
            inserts.append(rate(insert, count))
        raw.close()
        bare.close()
        container.close()
    raw_figure = Figure("single-row INSERT transaction (psycopg2)", "tx/s", inserts)
    bare_figure = Figure(
        "bare eventsourcing aggregate save", "saves/s", bares, reference=raw_figure, paired=True
    )
    return [
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
