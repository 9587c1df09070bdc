"""How a cost grows with its input, for tests that guard against catastrophic backtracking and other
superlinear paths. A ratio of two runs in the same process, not a time limit: a busy machine slows both alike,
and the suite keeps no timed assertions (speed targets live in benchmarks/)."""

from __future__ import annotations

import time
from collections.abc import Callable

LINEAR = 10.0  # four times the input: linear work costs about 4x, quadratic 16x


def growth(run: Callable[[int], object], size: int) -> float:
    """How much longer `run` takes on four times `size` than on `size` (after a warm-up run)."""

    def timed(n: int) -> float:
        started = time.perf_counter()
        run(n)
        return time.perf_counter() - started

    run(size // 4)
    small = min(timed(size) for _ in range(2))
    return timed(4 * size) / max(small, 1e-6)
