"""How fast this machine runs plain Python right now, to read the other figures against.

On a shared machine the same code can run at half speed an hour later; a figure with no
reference in the run (the calendar, the audit, the report latencies) is only comparable
across runs next to this one. Measured before and after the suite: a gap between the two
means the machine changed speed during the run.
"""

from __future__ import annotations

import time

LOOPS = 2_000_000


def _spin(loops: int) -> int:
    total = 0
    for i in range(loops):
        total += i ^ (i >> 3)
    return total


def run(repeat: int = 5, loops: int = LOOPS) -> list[float]:
    """Millions of interpreted loop iterations per second, once per repeat."""
    _spin(loops // 10)  # warm up
    rates = []
    for _ in range(repeat):
        began = time.perf_counter()
        _spin(loops)
        rates.append(loops / (time.perf_counter() - began) / 1e6)
    return rates
