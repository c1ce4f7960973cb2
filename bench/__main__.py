"""`make bench`: every measurement, next to its reference from the same run, in one table.

Figures also go to `bench/results.json`. `--tiny` runs each measurement small, to prove the
suite still works (figures from a tiny run mean nothing).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import (
    attachments_bench,
    audit_bench,
    calendar_bench,
    console_bench,
    conversation_bench,
    http_bench,
    machine_bench,
    privacy_bench,
    projections_bench,
    search_bench,
    store_bench,
)
from bench.measure import Figure

RESULTS = Path(__file__).with_name("results.json")


def _calendar(tiny: bool) -> list[Figure]:
    figures = calendar_bench.run(repeat=3 if tiny else 5, calls=2_000 if tiny else 100_000)
    return [
        Figure(
            "add_business_hours, 40-hour spans",
            "calls/s",
            figures["samples"],
            target="≥ 100,000/s",
        )
    ]


def _store(tiny: bool) -> list[Figure]:
    return store_bench.run(repeat=2 if tiny else 5, count=20 if tiny else 300)


def _http(tiny: bool) -> list[Figure]:
    if tiny:
        return http_bench.run(repeat=1, per_client=20, memory_requests=2_000)
    return http_bench.run()


def _projections(tiny: bool) -> list[Figure]:
    found = projections_bench.run(tiny=tiny)
    raw = Figure("read the log, plain SQL (runner's read)", "events/s", found["read_rate_raw"])
    library = Figure(
        "read the log, select_notifications", "events/s", found["read_rate_select_notifications"]
    )
    figures = [raw, library]
    for name in ("queue", "sla", "reports", "suggestions"):
        rates = found[f"rebuild_rate_{name}"]
        events = found["events"]
        figures.append(
            Figure(f"rebuild {name}, {events:,} events", "events/s", rates, library, "≥ 25 %")
        )
        figures.append(Figure(f"rebuild {name} (vs plain read)", "events/s", rates, raw))
    for percentile in ("p50", "p99"):
        figures.append(
            Figure(
                f"commit → visible in the queue, {percentile}",
                "ms",
                [found[f"commit_to_visible_{percentile}_ms"]],
                target="p99 ≤ 50 ms" if percentile == "p99" else "",
            )
        )
    tickets = found["tickets"]
    for name, samples in found.items():
        if name.startswith(("queue_", "report_")) and name.endswith("_ms"):
            label = name.removesuffix("_ms").replace("_", " ")
            target = "p95 ≤ 20 ms" if name.startswith("queue_first") else ""
            if name.startswith("report_"):
                target = "p95 ≤ 500 ms"
            figures.append(Figure(f"{label} ({tickets:,} tickets)", "ms", samples, target=target))
    return figures


def _audit(tiny: bool) -> list[Figure]:
    found = audit_bench.run(tiny=tiny)
    read = Figure("read the stored log (audit reader)", "events/s", found["read"]["samples"])
    return [
        Figure(
            f"audit verify, {found['events']:,} events",
            "events/s",
            found["verify"]["samples"],
            read,
            "≥ 20,000/s, ≥ 90 % of the read",
            paired=True,
        ),
        Figure(
            "audit verify, one process",
            "events/s",
            found["verify_one_process"]["samples"],
            read,
            paired=True,
        ),
        Figure(
            f"audit export, {found['events']:,} events",
            "events/s",
            found["export"]["samples"],
            read,
            "≥ 20,000/s",
            paired=True,
        ),
        read,
    ]


SUITES: dict[str, Callable[[bool], list[Figure]]] = {
    "calendar": _calendar,
    "store": _store,
    "projections": _projections,
    "audit": _audit,
    "http": _http,
    "conversation": conversation_bench.figures,
    "search": search_bench.figures,
    "console": console_bench.figures,
    "privacy": privacy_bench.figures,
    "attachments": attachments_bench.figures,
}


def _row(figure: Figure) -> str:
    low, high = min(figure.samples), max(figure.samples)
    ratio = f"{figure.ratio:7.1%}" if figure.ratio is not None else " " * 7
    reference = figure.reference.name if figure.reference else ""
    return (
        f"{figure.name:<48} {figure.median:>12,.1f} {low:>12,.1f} {high:>12,.1f} "
        f"{figure.unit:<10} {ratio}  {reference:<40} {figure.target}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the suites and print the table."""
    parser = argparse.ArgumentParser(prog="supportdesk bench", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="small sizes: proves it runs")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    loops = 200_000 if args.tiny else machine_bench.LOOPS
    before = Figure(
        "machine speed before: Python loop", "M loops/s", machine_bench.run(loops=loops)
    )
    figures: list[Figure] = [before]
    for name in args.only or list(SUITES):
        print(f"running {name} …", file=sys.stderr, flush=True)
        figures.extend(SUITES[name](args.tiny))
    after = machine_bench.run(loops=loops)
    figures.append(Figure("machine speed after: Python loop", "M loops/s", after, before))
    header = (
        f"{'measurement':<48} {'median':>12} {'min':>12} {'max':>12} {'unit':<10} "
        f"{'ratio':>7}  {'reference (same run)':<40} target"
    )
    print(header)
    print("-" * len(header))
    for figure in figures:
        print(_row(figure))
    args.output.write_text(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                },
                "tiny": args.tiny,
                "seconds": time.perf_counter() - began,
                "figures": [f.as_dict() for f in figures],
            },
            indent=2,
        )
    )
    print(f"\nwritten {args.output} in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
