"""What keeping personal data sealed costs, and how long forgetting a learner takes.

Submissions through the desk as built (texts sealed under a key of the ticket's own, the key
store beside the database) next to the same desk without a key store (texts stored as written),
on PostgreSQL and on the embedded SQLite, interleaved. Then erasing learners with ten tickets
each (a reply and a follow-up on every ticket, their emails written), the read models brought
along. Last, tickets recorded as an earlier release wrote them, re-keyed after the fact.

Run with `python -m bench.privacy_bench`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

from application.bootstrap import Container, bootstrap, persistence_env
from application.desk import SupportDesk
from application.settings import Settings
from bench.measure import Figure, describe, rate, scratch_postgres, sqlalchemy_url
from domain.categories import Category
from domain.request import Channel
from interfaces.mail.wiring import mail_broker, mailer, outbox_relay
from interfaces.privacy import eraser, rekeyer
from projections.runner import build_runners


@contextmanager
def _desks(database: str) -> Iterator[tuple[Container, SupportDesk]]:
    """The desk as built, and the same desk without a key store on a database of its own."""
    with TemporaryDirectory() as sealed_dir, TemporaryDirectory() as plain_dir:
        if database == "postgresql":
            with scratch_postgres("privacy_sealed") as a, scratch_postgres("privacy_plain") as b:
                urls = (sqlalchemy_url(a), sqlalchemy_url(b))
                yield _built(urls, sealed_dir, plain_dir)
        else:
            urls = (f"sqlite:///{sealed_dir}/desk.db", f"sqlite:///{plain_dir}/desk.db")
            yield _built(urls, sealed_dir, plain_dir)


def _built(urls: tuple[str, str], sealed_dir: str, plain_dir: str) -> tuple[Container, SupportDesk]:
    container = bootstrap(
        Settings(
            database_url=urls[0],
            data_dir=Path(sealed_dir),
            smtp_url=f"file:{sealed_dir}/out",
            mail_per_recipient_hourly=1_000,  # every email of the ten tickets is written
        )
    )
    plain = Settings(database_url=urls[1], data_dir=Path(plain_dir))
    return container, SupportDesk(container.sla, env=persistence_env(plain))


def _submitter(desk: SupportDesk, prefix: str) -> Callable[[int], None]:
    def submit(i: int) -> None:
        desk.submit(
            channel=Channel.WEB_FORM,
            requester_email=f"{prefix}{i}@example.org",
            requester_name="نورة",
            category=Category.LOGIN,
            course="Positive Parenting 101",
            subject="لا أستطيع تسجيل الدخول",
            description="The sign-in page rejects my password after the update.",
        )

    return submit


def submit_throughput(database: str, repeat: int, count: int) -> list[Figure]:
    sealed, plain = [], []
    with _desks(database) as (container, bare):
        for n, desk in enumerate((container.desk, bare)):
            rate(_submitter(desk, f"warm{n}-"), 20)
        for r in range(repeat):  # interleaved, so drift on a shared machine hits both
            sealed.append(rate(_submitter(container.desk, f"s{r}-"), count))
            plain.append(rate(_submitter(bare, f"p{r}-"), count))
        bare.close()
        container.close()
    name = "PostgreSQL" if database == "postgresql" else "SQLite"
    reference = Figure(f"submit, texts as written ({name})", "tickets/s", plain)
    return [
        Figure(
            f"submit, texts sealed ({name})",
            "tickets/s",
            sealed,
            reference=reference,
            target="≥ 85 %",
            paired=True,
        ),
        reference,
    ]


def erasure_time(database: str, learners: int, tickets: int = 10) -> Figure:
    """Seconds to erase one learner with `tickets` tickets, each answered and followed up."""
    samples = []
    with _desks(database) as (container, bare):
        bare.close()
        desk = container.desk
        for n in range(learners):
            email = f"learner{n}@example.org"
            for _ in range(tickets):
                reference = _submit_one(desk, email)
                desk.respond(reference, message="Please clear the cache.", actor="agent")
                desk.receive_follow_up(reference, message="Still broken", channel=Channel.EMAIL)
        broker = mail_broker(container.settings, "supportdesk.bench.privacy")
        relay, sender = outbox_relay(container, broker), mailer(container, broker)
        while relay.relay_once():
            pass
        sender.drain()
        for runner in build_runners(container).values():
            runner.catch_up()
        forget = eraser(container)
        for n in range(learners):
            started = time.perf_counter()
            forget.erase(f"learner{n}@example.org", reason="asked", basis="request", actor="dpo")
            samples.append(time.perf_counter() - started)
        container.close()
    name = "PostgreSQL" if database == "postgresql" else "SQLite"
    return Figure(f"erase a learner with {tickets} tickets ({name})", "s", samples, target="≤ 1 s")


def rekeying_rate(database: str, repeat: int, tickets: int) -> Figure:
    """Events per second sealed after the fact: tickets recorded as an earlier release wrote
    them (a reply and a follow-up each), then re-keyed in one run; `repeat` such rounds."""
    samples = []
    with _desks(database) as (container, bare):
        bare.close()
        desk, vault = container.desk, container.desk.vault
        for r in range(repeat):
            desk.vault = None  # the release before texts were sealed
            for n in range(tickets):
                reference = _submit_one(desk, f"early{r}-{n}@example.org")
                desk.respond(reference, message="Please clear the cache.", actor="agent")
                desk.receive_follow_up(reference, message="Still broken", channel=Channel.EMAIL)
            desk.vault = vault
            started = time.perf_counter()
            done = rekeyer(container).rekey(actor="bench")
            samples.append(done.events / (time.perf_counter() - started))
        container.close()
    name = "PostgreSQL" if database == "postgresql" else "SQLite"
    return Figure(f"re-key events recorded as written ({name})", "events/s", samples)


def _submit_one(desk: SupportDesk, email: str) -> str:
    return desk.submit(
        channel=Channel.WEB_FORM,
        requester_email=email,
        category=Category.LOGIN,
        course="Positive Parenting 101",
        subject="Cannot sign in",
        description="The sign-in page rejects my password.",
    ).reference


def figures(tiny: bool = False) -> list[Figure]:
    repeat, count, learners = (2, 20, 2) if tiny else (5, 300, 7)
    found: list[Figure] = []
    for database in ("postgresql", "sqlite"):
        found += submit_throughput(database, repeat, count)
        found.append(erasure_time(database, learners))
        found.append(rekeying_rate(database, repeat, 10 if tiny else 200))
    return found


if __name__ == "__main__":
    describe(figures())
