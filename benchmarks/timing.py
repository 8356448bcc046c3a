"""Wall-clock timing shared by the benchmarks: best-of repeats, so a burst of background load counts once.

Benchmarks run as scripts (``python benchmarks/bench_x.py``), so this folder is on ``sys.path`` and they
``from timing import best_of``.
"""

from __future__ import annotations

import time
from typing import Any, Callable


def best_of_with_result(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """The shortest of `repeats` timed calls of `fn` in seconds, and the last call's result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def best_of(fn: Callable[[], Any], repeats: int, warm_up: bool = False) -> float:
    """The shortest of `repeats` timed calls of `fn` in seconds (after one untimed call with `warm_up`)."""
    if warm_up:
        fn()
    return best_of_with_result(fn, repeats)[0]


def timed_pair(fn_a: Callable[[], Any], fn_b: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Best-of times of two functions run alternately (after one untimed call each): background load hits both alike."""
    fn_a(), fn_b()
    best_a = best_b = float("inf")
    for _ in range(repeats):
        best_a = min(best_a, best_of(fn_a, 1))
        best_b = min(best_b, best_of(fn_b, 1))
    return best_a, best_b
