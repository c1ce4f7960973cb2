"""How fast `BusinessCalendar.add_business_hours` computes 40-hour deadlines (P5.3).

Run with `python -m bench.calendar_bench`.
"""

import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.calendar import BusinessCalendar

HOURS = 40.0
CALLS = 100_000
FIRST = datetime(2026, 1, 1, tzinfo=UTC)
SPAN_SECONDS = (datetime(2028, 1, 1, tzinfo=UTC) - FIRST).total_seconds()


def run(repeat: int = 5, calls: int = CALLS, seed: int = 2026) -> dict[str, Any]:
    """Calls per second of add_business_hours(start, 40) from random instants in 2026-2027."""
    rng = random.Random(seed)
    starts = [FIRST + timedelta(seconds=rng.uniform(0, SPAN_SECONDS)) for _ in range(calls)]
    calendar = BusinessCalendar.policy_default()
    add = calendar.add_business_hours
    for start in starts[:1000]:  # lay out the timeline before timing
        add(start, HOURS)
    rates = []
    for _ in range(repeat):
        began = time.perf_counter()
        for start in starts:
            add(start, HOURS)
        rates.append(calls / (time.perf_counter() - began))
    return {
        "hours": HOURS,
        "calls": calls,
        "repeat": repeat,
        "median_calls_per_s": statistics.median(rates),
        "min_calls_per_s": min(rates),
        "max_calls_per_s": max(rates),
        "samples": rates,
    }


if __name__ == "__main__":
    figures = run()
    print(f"add_business_hours, {figures['hours']:g}-hour spans, {figures['calls']:,} calls")
    for name in ("median", "min", "max"):
        print(f"  {name:>6}: {figures[f'{name}_calls_per_s']:>12,.0f} calls/s")
