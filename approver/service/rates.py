"""How many events of a kind happened in the last minute and the last hour (amortised O(1) per event)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RecentCounts(Generic[K]):
    """Feeds risk ("unusual call rates": per server and tool) and rate-limited rules (per rule)."""

    def __init__(self) -> None:
        self._minute: dict[K, deque[float]] = {}
        self._hour: dict[K, deque[float]] = {}

    def record(self, key: K, now: float | None = None) -> None:
        moment = time.monotonic() if now is None else now
        self._minute.setdefault(key, deque()).append(moment)
        self._hour.setdefault(key, deque()).append(moment)

    def counts(self, key: K, now: float | None = None) -> tuple[int, int]:
        """(in the last 60 s, in the last 3600 s)."""
        moment = time.monotonic() if now is None else now
        minute, hour = self._minute.get(key), self._hour.get(key)
        if minute is None or hour is None:
            return (0, 0)
        while minute and minute[0] <= moment - 60:
            minute.popleft()
        while hour and hour[0] <= moment - 3600:
            hour.popleft()
        return len(minute), len(hour)
