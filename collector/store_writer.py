"""Writing to the time-series store the way a careful client does (issue 4).

- accepted: done;
- 413 (too large): split the batch in halves and write each;
- 429 / 5xx / timeouts / refused connections (``StoreUnavailable``): retry with capped, jittered
  exponential backoff, honouring the server's Retry-After; after ``spool_after_s`` the caller may
  spool the batch instead (``StoreDown``);
- 400 / 422 (``WriteRejected``): bisect to isolate exactly the offending points and hand them back
  with the server's message, write the rest; bisection always ends, so nothing loops;
- 401 / 403 (``StoreAuthFailed``): keep retrying with the alarm raised, drop nothing.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from collector.config import RetryPolicy
from collector.metrics import CollectorMetrics
from ganlink.errors import GanlinkError, StoreAuthFailed, StoreUnavailable, WriteRejected
from ganlink.schema import AnomalyEvent, Reading
from ganlink.store import TimeSeriesStore

__all__ = ["Refused", "StoreDown", "StoreWriter", "backoff_delay"]

logger = logging.getLogger(__name__)

Point = TypeVar("Point", Reading, AnomalyEvent)

_TOO_LARGE = 413
_MAX_RETRY_AFTER_S = 60.0


class StoreDown(GanlinkError):
    """The store stayed unavailable for longer than the retry window; the caller should spool."""

    def __init__(self, failing_for_s: float, last_error: Exception) -> None:
        self.failing_for_s = failing_for_s
        self.last_error = last_error
        super().__init__(f"store unavailable for {failing_for_s:.1f}s: {last_error}")


@dataclass(frozen=True, slots=True)
class Refused:
    """A point the store refused for good, by its index in the batch, with the server's message."""

    index: int
    status: int
    server_message: str


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after_s: float | None = None) -> float:
    """Delay before retry number ``attempt`` (0-based): capped exponential, jittered, >= Retry-After."""
    ceiling = min(policy.max_s, policy.initial_s * policy.multiplier**attempt)
    delay = ceiling * random.uniform(0.5, 1.0)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, _MAX_RETRY_AFTER_S))
    return delay


class StoreWriter:
    """Writes batches of readings or events and classifies every failure."""

    def __init__(
        self,
        store: TimeSeriesStore,
        policy: RetryPolicy,
        metrics: CollectorMetrics,
        *,
        spool_allowed: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._store = store
        self._policy = policy
        self._metrics = metrics
        self._spool_allowed = spool_allowed
        self._sleep = sleep

    async def write_readings(self, readings: Sequence[Reading]) -> list[Refused]:
        """Store ``readings``; returns those refused for good. Raises StoreDown when the caller may spool."""
        return await self._write(readings, self._store.write_readings, 0)

    async def write_events(self, events: Sequence[AnomalyEvent]) -> list[Refused]:
        return await self._write(events, self._store.write_events, 0)

    async def _write(
        self, points: Sequence[Point], write: Callable[[Sequence[Point]], Awaitable[None]], offset: int
    ) -> list[Refused]:
        if not points:
            return []
        try:
            await self._write_with_retry(points, write)
        except WriteRejected as exc:
            if len(points) == 1 and exc.status != _TOO_LARGE:
                return [Refused(offset, exc.status, exc.server_message)]
            if len(points) == 1:
                return [Refused(offset, exc.status, f"a single point is too large: {exc.server_message}")]
            middle = len(points) // 2
            if exc.status != _TOO_LARGE:
                logger.warning("store refused part of %d points (%s); isolating", len(points), exc.server_message)
            left = await self._write(points[:middle], write, offset)
            right = await self._write(points[middle:], write, offset + middle)
            return left + right
        return []

    async def _write_with_retry(
        self, points: Sequence[Point], write: Callable[[Sequence[Point]], Awaitable[None]]
    ) -> None:
        attempt = 0
        first_failure: float | None = None
        while True:
            try:
                await write(points)
            except StoreAuthFailed as exc:
                if not self._metrics.auth_alarm:
                    logger.error(  # noqa: TRY400 - an alarm for a person, not a traceback
                        "ALARM: store refuses our credentials (HTTP %d); retrying, nothing dropped", exc.status
                    )
                self._metrics.auth_alarm = True
                delay = backoff_delay(attempt, self._policy)
            except StoreUnavailable as exc:
                now = time.monotonic()
                first_failure = first_failure if first_failure is not None else now
                failing_for = now - first_failure
                if failing_for >= self._policy.spool_after_s and self._spool_allowed():
                    raise StoreDown(failing_for, exc) from exc
                if attempt == 0:
                    logger.warning("store unavailable, retrying with backoff: %s", exc)
                delay = backoff_delay(attempt, self._policy, exc.retry_after_s)
            else:
                if self._metrics.auth_alarm:
                    logger.warning("store accepts our credentials again; alarm cleared")
                    self._metrics.auth_alarm = False
                if attempt:
                    logger.warning("store write succeeded after %d retries", attempt)
                return
            self._metrics.write_retries += 1
            attempt += 1
            await self._sleep(delay)
