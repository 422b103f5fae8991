"""Backfill: the collector moves the readings kept under a mapped sensor's wire path to its registered
series (the collector is the only writer of telemetry, DESIGN.md).

A job is queued in the registry at approval (ganlink.registry_aliases). :class:`SeriesMover` wakes when
the alias refresh sees an unfinished job, claims it (one collector wins; a lease it renews lets another
take over if this one dies), and moves the readings a day at a time with ``TimeSeriesStore.move_series``
(which copies in bounded chunks, checks the count and only then deletes the wire copy). Claims wait
``settle_s`` after the approval, by which time every collector has re-read the aliases and stores new
readings under the target; readings that still land under the wire path later are reported as unknown
and queue another pass. Failures are recorded on the job with the error and retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from collector.aliases import SensorAliases
from ganlink.errors import StoreError
from ganlink.registry import BackfillClaim, RegistryError
from ganlink.store import SensorKey, TimeSeriesStore

__all__ = ["BackfillRegistry", "SeriesMover", "move_windows"]

logger = logging.getLogger(__name__)

_DAY_NS = 86_400 * 1_000_000_000
_HORIZON_NS = 6 * 3600 * 1_000_000_000  # beyond any accepted clock skew; later readings go in one last window
_END_OF_TIME_NS = 2**62


class BackfillRegistry(Protocol):
    """The registry's backfill side, as the mover uses it (ganlink.registry.Registry is one)."""

    def claim_backfill(
        self, worker: str, *, lease_s: float, settle_s: float = 0.0, now_ns: int | None = None
    ) -> BackfillClaim | None: ...

    def renew_backfill(self, claim: BackfillClaim, *, moved: int, lease_s: float) -> bool: ...

    def finish_backfill(self, claim: BackfillClaim, *, moved: int) -> bool: ...

    def fail_backfill(self, claim: BackfillClaim, error: str, *, retry_in_s: float, moved: int = 0) -> bool: ...


def move_windows(first_seen_ns: int | None, now_ns: int) -> list[tuple[int, int]]:
    """The time windows a move goes through: everything before the first day seen, one window per day up
    to a few hours past now, then everything later, so progress is recorded a day at a time."""
    horizon = now_ns + _HORIZON_NS
    day = (first_seen_ns if first_seen_ns is not None else now_ns) // _DAY_NS * _DAY_NS
    day = min(day, horizon)
    windows = [(0, day)]
    while day < horizon:
        windows.append((day, min(day + _DAY_NS, horizon)))
        day += _DAY_NS
    windows.append((horizon, _END_OF_TIME_NS))
    return windows


class SeriesMover:
    """Runs the backfill jobs of sensors approved with a mapping; one at a time per collector."""

    def __init__(
        self,
        registry: BackfillRegistry,
        store: TimeSeriesStore,
        aliases: SensorAliases,
        *,
        worker: str,
        settle_s: float,
        lease_s: float = 120.0,
        max_retry_s: float = 300.0,
    ) -> None:
        self._registry = registry
        self._store = store
        self._aliases = aliases
        self._worker = worker
        self._settle_s = settle_s
        self._lease_s = lease_s
        self._max_retry_s = max_retry_s
        self.moved = 0
        self.jobs_done = 0
        self.jobs_failed = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Whenever the alias refresh reports unfinished jobs, run those that may run now; until ``stop``."""
        waiting = self._aliases.backfill_waiting
        while not stop.is_set():
            stopping = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(waiting.wait())
            await asyncio.wait({stopping, woken}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopping, woken):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if stop.is_set():
                return
            waiting.clear()
            while not stop.is_set() and await self.run_once(stop):
                pass

    async def run_once(self, stop: asyncio.Event | None = None) -> bool:
        """Claim and run one job; False when there was none to run (or the registry failed)."""
        try:
            claim = await asyncio.to_thread(
                self._registry.claim_backfill, self._worker, lease_s=self._lease_s, settle_s=self._settle_s
            )
        except RegistryError as exc:
            logger.warning("could not look for backfill jobs: %s", exc)
            return False
        if claim is None:
            return False
        await self._run_job(claim, stop)
        return True

    async def _run_job(self, claim: BackfillClaim, stop: asyncio.Event | None) -> None:
        source, target = (SensorKey(*claim.wire_key), SensorKey(*claim.target_key))
        logger.info("backfill %s -> %s started (pass %d)", claim.wire_sensor_id, claim.sensor_id,
                    claim.backfill.passes + 1)  # fmt: skip
        moved = 0
        try:
            for start_ns, end_ns in move_windows(claim.first_seen_ns, time.time_ns()):
                if stop is not None and stop.is_set():
                    # Not finished: failed with a retry at once, so this or another collector resumes it.
                    await asyncio.to_thread(self._registry.fail_backfill, claim, "collector stopped during the move",
                                            retry_in_s=0.0, moved=moved)  # fmt: skip
                    return
                moved += await self._store.move_series(source, target, start_ns=start_ns, end_ns=end_ns)
                await asyncio.to_thread(self._registry.renew_backfill, claim, moved=moved, lease_s=self._lease_s)
            await asyncio.to_thread(self._registry.finish_backfill, claim, moved=moved)
        except (StoreError, RegistryError) as exc:
            self.jobs_failed += 1
            retry_s = min(self._max_retry_s, 5.0 * 2 ** min(claim.backfill.attempts, 10))
            logger.warning("backfill %s -> %s failed after %d readings (retry in %.0f s): %s",
                           claim.wire_sensor_id, claim.sensor_id, moved, retry_s, exc)  # fmt: skip
            with contextlib.suppress(RegistryError):  # else the lease runs out and the job is retaken
                await asyncio.to_thread(self._registry.fail_backfill, claim, str(exc), retry_in_s=retry_s, moved=moved)
            return
        finally:
            self.moved += moved
        self.jobs_done += 1
        logger.info("backfill %s -> %s moved %d readings", claim.wire_sensor_id, claim.sensor_id, moved)
