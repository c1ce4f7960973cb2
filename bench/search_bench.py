"""Ticket search on PostgreSQL over a million tickets, next to the queue's first page.

`figures(tiny)` gives the figures for `supportdesk bench`; `python -m bench.search_bench
[--tiny] [--explain]` prints them (and the plans of one query of each kind). Each run works in
a database it creates and drops.

The read tables `search_tickets` and `queue_tickets` are filled directly, by COPY as the read
models write: tickets in Arabic and English whose words follow a Zipf-like law over a real
vocabulary and a long tail of rarer words, so that some words are in most tickets and some in
a handful; real references and a pool of requesters, some with several tickets. The indexes
are built after the fill, then the tables are vacuumed and analysed as autovacuum would.

Each kind of query is asked with many different terms of its kind (a rare word, a common
word, ...), chosen from the words' real frequencies in the data, in rounds: each round asks the
queue's first page on the same data first, the reference of every figure.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from bench.measure import Figure, describe, scratch_postgres, sqlalchemy_url
from bench.projections_bench import NOW, SPAN, START, queue_row
from domain.categories import Category
from domain.reference import Reference
from domain.sla import SlaPolicy, SlaState
from projections.queue import QueueFilter, queue_page, queue_table
from projections.rows import insert_rows
from projections.search import (
    create_reference_index,
    search_page,
    search_statements,
    search_table,
    tsvector_literal,
)
from projections.search_text import compact_reference, terms, words

PER_PAGE = 50
CHUNK = 100_000  # rows a COPY transaction


@dataclass(frozen=True)
class Sizes:
    tickets: int
    rounds: int


FULL = Sizes(tickets=1_000_000, rounds=60)
TINY = Sizes(tickets=4_000, rounds=6)

# ---- the vocabulary ----------------------------------------------------------------------------

# The most frequent words of support requests first, as people write them.
ENGLISH = """
i the to my and a is not in it of can you for on this have with be but do when that please
course lesson video account login password page error help was are no after app from an
certificate sign get how at open email link again cannot able working work me problem access
time any what there same still code quiz click button new reset send would your shows phone
use or all order payment registration register name wrong check try tried website screen
thank thanks hello issue student teacher exam score missing module unit progress complete
completed download upload file pdf audio sound play stops loading load slow blank message
verification verify activate activation mobile browser chrome safari update updated
support team question answer submit submitted assignment deadline extend week today yesterday
refund card bank charged twice subscription cancel renew parent child children parenting
positive discipline sleep feeding toddler baby mother father family session live zoom join
""".split()

ARABIC = """
في من على لا أن إلى ما هل تم عند مع عن لم هذا هذه كل بعد قبل الدورة الدرس الفيديو الحساب
تسجيل الدخول كلمة المرور الصفحة خطأ رسالة مساعدة المنصة الشهادة البريد الإلكتروني الرابط
أستطيع يمكنني مشكلة لدي الوصول الوقت الرمز الاختبار الزر جديد إعادة إرسال اسم الدفع الطلب
شكرا مرحبا السلام عليكم الطالب المعلم الامتحان الدرجة مفقود الوحدة التقدم مكتمل تحميل ملف
الصوت التشغيل يتوقف بطيء فارغة التحقق تفعيل الجوال المتصفح تحديث الدعم الفريق سؤال إجابة
الواجب الموعد النهائي الأسبوع اليوم أمس استرداد البطاقة البنك مرتين الاشتراك إلغاء تجديد
الأم الأب الأسرة الطفل الأطفال التربية الإيجابية النوم الرضاعة الجلسة المباشرة الانضمام
لماذا كيف متى أين أرجو الرجاء ضروري عاجل أحتاج أريد أعرف حاولت مرة أخرى يظهر تظهر يعمل
""".split()

_SYLLABLES = "ka lo mi ter van sol rix den pra quo zel bor fin gal hep jus lum nor pex ros tiv ul"
_LETTERS = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"

FIRST_NAMES = (
    "noura sara fatima aisha maha reem layla hana omar ahmed khalid faisal saad ali".split()
)
LAST_NAMES = "alharbi alqahtani alghamdi alzahrani alshehri aldosari alotaibi smith hassan".split()
DOMAINS = ["gmail.com", "hotmail.com", "outlook.sa", "yahoo.com", "icloud.com", "ksu.edu.sa"]


@dataclass
class Language:
    """Words of one language, raw and normalised, with their cumulative Zipf weights."""

    raw: list[str]
    normal: list[str]
    weights: list[float] = field(default_factory=list)


def _language(real: list[str], tail: list[str], exponent: float = 1.05) -> Language:
    raw, normal, known = [], [], set()
    for word in dict.fromkeys([*real, *tail]):
        found = words(word)
        if len(found) == 1 and found[0] not in known:
            raw.append(word)
            normal.append(found[0])
            known.add(found[0])
    weights = list(itertools.accumulate(1 / (rank + 1) ** exponent for rank in range(len(raw))))
    return Language(raw, normal, weights)


def vocabulary(rng: random.Random, tail: int = 150_000) -> dict[str, Language]:
    """English and Arabic: the real words first, then a long tail of rarer made-up ones (names,
    places, typing mistakes, product codes), so that the rarest are in a handful of tickets."""
    syllables = _SYLLABLES.split()
    english_tail = {
        "".join(rng.choice(syllables) for _ in range(rng.randint(2, 5))) for _ in range(tail)
    }
    arabic_tail = {
        "".join(rng.choice(_LETTERS) for _ in range(rng.randint(3, 6))) for _ in range(tail)
    }
    return {
        "en": _language(ENGLISH, sorted(english_tail, key=lambda _: rng.random())),
        "ar": _language(ARABIC, sorted(arabic_tail, key=lambda _: rng.random())),
    }


# ---- the tickets -------------------------------------------------------------------------------


@dataclass
class Corpus:
    """What the queries are chosen from: the tickets' references and emails, how many
    tickets hold each word, and the language of each word."""

    references: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    tickets_with: Counter[str] = field(default_factory=Counter)


def tickets(
    count: int, vocab: dict[str, Language], corpus: Corpus, seed: int = 17
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(queue row, search row) of `count` tickets submitted over `SPAN`, oldest first."""
    rng = random.Random(seed)
    requesters = [
        f"{rng.choice(FIRST_NAMES).title()}.{rng.choice(LAST_NAMES).title()}{n}"
        f"@{rng.choice(DOMAINS)}"
        for n in range(max(1, count * 2 // 5))
    ]
    seen: set[str] = set()
    for i in range(count):
        reference = str(Reference.generate(rng))
        while reference in seen:
            reference = str(Reference.generate(rng))
        seen.add(reference)
        corpus.references.append(reference)
        email = rng.choice(requesters)
        corpus.emails.append(email)
        language = "ar" if rng.random() < 0.65 else "en"
        lang = vocab[language]
        length = 5 + rng.randint(15, 50) + rng.choice((0, 0, 1, 2, 3, 4)) * rng.randint(8, 25)
        drawn = rng.choices(range(len(lang.raw)), cum_weights=lang.weights, k=length)
        kept = list(dict.fromkeys(lang.normal[d] for d in drawn))
        corpus.tickets_with.update(kept)
        submitted = START + SPAN * (i / count)
        ticket_id = uuid.UUID(int=rng.getrandbits(128))
        queue = queue_row(rng, i, submitted) | {
            "ticket_id": ticket_id,
            "reference": reference,
            "language": language,
            "requester_email": email,
            "requester_name": email.split(".")[0],
            "subject": " ".join(lang.raw[d] for d in drawn[:5]),
            "description": " ".join(lang.raw[d] for d in drawn[5:]),
        }
        filters = {name: queue[name] for name in ("category", "course", "assignee")}
        filters |= {"status": queue["status"], "is_open": queue["is_open"]}
        search = {
            "ticket_id": ticket_id,
            "reference": reference,
            "symbols": compact_reference(reference),
            "fts_key": i,
            "requester_email": email.lower(),
            "submitted_at": submitted,
            **filters,
            "words": None,  # PostgreSQL keeps the words in `vector` only
            "vector": tsvector_literal(kept),
        }
        yield queue, search


def fill(engine: sa.Engine, count: int, vocab: dict[str, Language]) -> Corpus:
    """Both tables filled by COPY, their indexes built afterwards, vacuumed and analysed."""
    corpus = Corpus()
    tables = (queue_table, search_table)
    with engine.begin() as connection:
        for table in tables:
            table.create(connection)
            for index in table.indexes:
                connection.execute(sa.text(f"DROP INDEX IF EXISTS {index.name}"))
    rows = tickets(count, vocab, corpus)
    while chunk := list(itertools.islice(rows, CHUNK)):
        with engine.begin() as connection:
            insert_rows(connection, queue_table, [queue for queue, _ in chunk])
            insert_rows(connection, search_table, [search for _, search in chunk])
    with engine.begin() as connection:
        connection.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
        for table in tables:
            for index in table.indexes:
                index.create(connection)
    if not create_reference_index(engine):
        raise RuntimeError("pg_trgm is needed to measure the search by a piece of a reference")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in tables:
            connection.execute(sa.text(f"VACUUM ANALYZE {table.name}"))
    return corpus


# ---- the queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One query: its text, filters, and the cursor of the page asked (None: the first)."""

    text: str
    where: QueueFilter = QueueFilter()
    cursor: str | None = None


def _with_share(corpus: Corpus, count: int, low: float, high: float) -> list[str]:
    """Words held by between `low` and `high` of the tickets, commonest first."""
    return [
        word
        for word, held in corpus.tickets_with.most_common()
        if low * count <= held <= high * count
    ]


def _pick(rng: random.Random, among: list[str], n: int) -> list[str]:
    if not among:
        raise RuntimeError("no word of that frequency in the data")
    return [rng.choice(among) for _ in range(n)]


def _arabic(vocab: dict[str, Language], corpus: Corpus, count: int) -> list[str]:
    """Arabic words of the real vocabulary in 1 % to 20 % of tickets, as typed with tashkeel."""
    arabic = vocab["ar"]
    typed = []
    for raw, normal in zip(arabic.raw, arabic.normal, strict=True):
        if raw in ARABIC and 0.01 * count <= corpus.tickets_with[normal] <= 0.2 * count:
            typed.append(raw[0] + "\u064e" + raw[1:])  # a fatha after the first letter
    return typed


def asks(
    engine: sa.Engine, vocab: dict[str, Language], corpus: Corpus, n: int, seed: int = 23
) -> dict[str, list[Ask]]:
    """`n` queries of each kind, by name."""
    rng = random.Random(seed)
    count = len(corpus.references)
    rare = _with_share(corpus, count, 5 / count, 100 / count)
    middling = _with_share(corpus, count, 0.005, 0.02)
    common = _with_share(corpus, count, 0.2, 0.9)
    frequent = _with_share(corpus, count, 0.01, 0.2)
    categories = [c.value for c in Category]

    def piece(reference: str) -> str:
        symbols = reference[3:7] if rng.random() < 0.5 else reference[8:]
        return symbols.lower() if rng.random() < 0.5 else symbols

    def two_words() -> str:
        first, second = rng.sample(frequent, 2)
        return f"{first} {second}"

    def second_page(word: str) -> Ask:
        first = search_page(engine, _POLICY, NOW, terms(word), QueueFilter(), PER_PAGE)
        return Ask(word, cursor=first.next_cursor)

    return {
        "rare word": [Ask(w) for w in _pick(rng, rare, n)],
        "middling word (~1 %)": [Ask(w) for w in _pick(rng, middling, n)],
        "common word": [Ask(w) for w in _pick(rng, common, n)],
        "Arabic word, with tashkeel": [
            Ask(w) for w in _pick(rng, _arabic(vocab, corpus, count), n)
        ],
        "two words": [Ask(two_words()) for _ in range(n)],
        "reference piece": [Ask(piece(r)) for r in rng.sample(corpus.references, n)],
        "exact email": [Ask(e.upper()) for e in rng.sample(corpus.emails, n)],
        "word + category": [
            Ask(w, QueueFilter(category=rng.choice(categories))) for w in _pick(rng, frequent, n)
        ],
        "word + assignee": [
            Ask(w, QueueFilter(assignee=f"agent{rng.randrange(20)}"))
            for w in _pick(rng, frequent, n)
        ],
        "word + status": [
            Ask(w, QueueFilter(status=rng.choice(("new", "acknowledged", "in_progress"))))
            for w in _pick(rng, frequent, n)
        ],
        "word + SLA state": [
            Ask(w, QueueFilter(sla=rng.choice((SlaState.AT_RISK, SlaState.BREACHED))))
            for w in _pick(rng, frequent + rare, n)
        ],
        "second page by cursor": [second_page(w) for w in _pick(rng, common + frequent, n)],
    }


_POLICY = SlaPolicy.policy_default()


def _timed_ms(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def measure(engine: sa.Engine, kinds: dict[str, list[Ask]]) -> dict[str, list[float]]:
    """ms of each query, in rounds: the queue's first page, then one query of every kind."""

    def ask(query: Ask) -> Callable[[], Any]:
        wanted = terms(query.text)
        return lambda: search_page(
            engine, _POLICY, NOW, wanted, query.where, PER_PAGE, query.cursor
        )

    def queue() -> Any:
        return queue_page(engine, _POLICY, NOW, QueueFilter(), PER_PAGE)

    for queries in kinds.values():  # warm up: the first query of each kind, and connections
        ask(queries[0])()
    queue()
    samples: dict[str, list[float]] = {name: [] for name in ["queue", *kinds]}
    for round_ in range(len(next(iter(kinds.values())))):
        samples["queue"].append(_timed_ms(queue))
        for name, queries in kinds.items():
            samples[name].append(_timed_ms(ask(queries[round_])))
    return samples


def explain(engine: sa.Engine, kinds: dict[str, list[Ask]]) -> None:
    """The plans PostgreSQL runs for the first query of each kind, with their timings: the
    statements `search_page` runs in turn, until one gave a page."""
    for name, queries in kinds.items():
        query = queries[0]
        print(f"\n-- {name}: {query.text!r} {query.where}", file=sys.stderr)
        with engine.begin() as connection:
            for statement in search_statements(
                connection, NOW, terms(query.text), query.where, PER_PAGE, query.cursor
            ):
                compiled = statement.compile(dialect=engine.dialect)
                plan = connection.exec_driver_sql(
                    f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params
                )
                for (line,) in plan:
                    print(line, file=sys.stderr)
                rows = connection.execute(statement).all()
                if len(rows) > PER_PAGE:
                    break


def figures(tiny: bool = False, show_plans: bool = False) -> list[Figure]:
    """The queue's first page, then each kind of search: all samples (median = p50) and p95."""
    sizes = TINY if tiny else FULL
    rng = random.Random(5)
    vocab = vocabulary(rng)
    with scratch_postgres("search_bench") as dsn:
        engine = sa.create_engine(sqlalchemy_url(dsn))
        try:
            corpus = fill(engine, sizes.tickets, vocab)
            kinds = asks(engine, vocab, corpus, sizes.rounds)
            if show_plans:
                explain(engine, kinds)
            samples = measure(engine, kinds)
        finally:
            engine.dispose()
    count = f"{sizes.tickets:,} tickets"
    reference = Figure(f"queue first page ({count})", "ms", samples.pop("queue"))
    found = [reference]
    for name, timings in samples.items():
        p95 = percentile(timings, 0.95)
        found.append(
            Figure(
                f"search: {name}",
                "ms",
                timings,
                reference,
                extra={"p50_ms": statistics.median(timings), "p95_ms": p95, "tickets": count},
            )
        )
        found.append(Figure(f"search: {name}, p95", "ms", [p95], target="p95 ≤ 50 ms"))
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the figures, one a line."""
    parser = argparse.ArgumentParser(prog="bench.search_bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="small sizes: proves it runs")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    describe(figures(tiny=args.tiny, show_plans=args.explain))
    print(f"{time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
