"""How long a finished call takes to reach the database: from the AMI event that ended it (its
own `Timestamp`) to the commit of the batch holding its row.

A log-scale histogram (buckets 5 % wide from 1 ms up), so memory stays a few hundred counters
however many calls pass, and a percentile is exact to within its bucket.
"""

from __future__ import annotations

import math
from typing import Callable

_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.max_s = 0.0
        # called with each sample as it is added (the metrics room's Prometheus histogram): the
        # writer need not know who else counts
        self.observers: list[Callable[[float], None]] = []

    @staticmethod
    def _bucket(seconds: float) -> int:
        ms = seconds * 1000
        return 0 if ms <= 1 else math.ceil(math.log(ms) / _LOG_GROWTH)

    def add(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)  # clocks a hair apart must not make a negative latency
        bucket = self._bucket(seconds)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.count += 1
        self.max_s = max(self.max_s, seconds)
        for observe in self.observers:
            observe(seconds)

    def percentile(self, share: float) -> float | None:
        """The latency (s) at or below which `share` of the samples fall: its bucket's upper end."""
        if not self.count:
            return None
        rank = max(1, math.ceil(share * self.count))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(_GROWTH ** bucket / 1000, self.max_s)
        return self.max_s  # pragma: no cover - the counts always add up to count

    def summary(self) -> dict:
        def ms(value: float | None) -> float | None:
            return None if value is None else round(value * 1000, 1)

        return {"count": self.count, "p50_ms": ms(self.percentile(0.50)), "p99_ms": ms(self.percentile(0.99)),
                "max_ms": ms(self.max_s) if self.count else None}
