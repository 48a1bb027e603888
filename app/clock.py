"""The service's notion of now, injectable so tests can move time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """Wall-clock time; the default."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


def utc_iso(moment: float, timespec: str = "milliseconds") -> str:
    """``moment`` (seconds since the epoch) as ISO 8601 in UTC, ``Z``-suffixed."""
    text = datetime.fromtimestamp(moment, UTC).isoformat(timespec=timespec)
    return text.replace("+00:00", "Z")
