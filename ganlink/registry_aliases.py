"""Sensor aliases and their backfill jobs: a pending sensor approved with a mapping keeps arriving under
its wire path; the collector stores those readings as the registered sensor (``sensor_aliases``) and a
backfill job moves the readings kept under the wire path to the registered series.

A job is ``queued`` at approval; a collector claims it (``running``, with a lease it renews), moves the
readings and marks it ``done``; a failure marks it ``failed`` with the error, and it is claimed again
after ``retry_at_ns``. Readings that still land under the wire path later (a collector that had not
re-read the aliases yet, a spool replay) are reported like unknown sensors; :meth:`requeue_backfills`
then queues another pass (or flags the running one to run again), so none stays behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, or_, select

from ganlink.registry_assets import AssetRegistry
from ganlink.registry_records import BackfillState, SensorAlias
from ganlink.registry_tables import pending_sensors, sensor_aliases, sensors

__all__ = ["BackfillClaim", "SensorAliasRegistry", "backfill_state"]

_QUEUED, _RUNNING, _DONE, _FAILED = "queued", "running", "done", "failed"


def backfill_state(row: Any) -> BackfillState:
    """The backfill columns of a ``sensor_aliases`` row as a record."""
    failed = row.backfill_status == _FAILED
    return BackfillState(
        status=row.backfill_status,
        moved=row.backfill_moved,
        passes=row.backfill_passes,
        attempts=row.backfill_attempts,
        error=row.backfill_error,
        updated_ns=row.backfill_updated_ns,
        retry_at_ns=row.backfill_not_before_ns if failed else None,
    )


def _alias(row: Any) -> SensorAlias:
    return SensorAlias(
        wire_sensor_id=row.wire_sensor_id,
        sensor_id=row.sensor_id,
        plant=row.plant,
        approved_ns=row.approved_ns,
        backfill=backfill_state(row),
    )


class BackfillClaim(SensorAlias):
    """A backfill job a worker holds: the alias plus the oldest reading seen under the wire path."""

    worker: str
    first_seen_ns: int | None


class SensorAliasRegistry(AssetRegistry):
    """Aliases (wire sensor id -> registered sensor id) and the state of their backfill."""

    def _add_alias(self, conn: Connection, wire_sensor_id: str, sensor_id: str, plant: str) -> SensorAlias:
        now = time.time_ns()
        row = {
            "wire_sensor_id": wire_sensor_id,
            "sensor_id": sensor_id,
            "plant": plant,
            "approved_ns": now,
            "backfill_status": _QUEUED,
            "backfill_moved": 0,
            "backfill_passes": 0,
            "backfill_attempts": 0,
            "backfill_error": None,
            "backfill_again": False,
            "backfill_worker": None,
            "backfill_lease_ns": None,
            "backfill_not_before_ns": 0,
            "backfill_updated_ns": now,
        }
        self._upsert(conn, sensor_aliases, [row])
        query = select(sensor_aliases).where(sensor_aliases.c.wire_sensor_id == wire_sensor_id)
        return _alias(conn.execute(query).one())

    def sensor_aliases(self, plant: str | None = None) -> list[SensorAlias]:
        """Every alias whose wire path is not itself a registered sensor (of one plant when given)."""
        registered = select(sensors.c.sensor_id).where(sensors.c.sensor_id == sensor_aliases.c.wire_sensor_id)
        query = select(sensor_aliases).where(~registered.exists())
        if plant is not None:
            query = query.where(sensor_aliases.c.plant == plant)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(sensor_aliases.c.wire_sensor_id)).all()
        return [_alias(r) for r in rows]

    def sensor_alias(self, wire_sensor_id: str) -> SensorAlias | None:
        with self._begin() as conn:
            row = conn.execute(select(sensor_aliases).where(sensor_aliases.c.wire_sensor_id == wire_sensor_id)).first()
        return _alias(row) if row else None

    # -- backfill jobs (the collector runs them) --------------------------------------------------

    def claim_backfill(
        self, worker: str, *, lease_s: float, settle_s: float = 0.0, now_ns: int | None = None
    ) -> BackfillClaim | None:
        """Take one job that may run now: queued, failed and due for a retry, or running with an expired
        lease; only ``settle_s`` after its approval, so every collector has re-read the aliases by then.
        None when there is none (or another worker took it first)."""
        now = time.time_ns() if now_ns is None else now_ns
        c = sensor_aliases.c
        due = or_(
            c.backfill_status == _QUEUED,
            (c.backfill_status == _FAILED) & (c.backfill_not_before_ns <= now),
            (c.backfill_status == _RUNNING) & (c.backfill_lease_ns < now),
        )
        query = (
            select(sensor_aliases, pending_sensors.c.first_seen_ns)
            .outerjoin(pending_sensors, pending_sensors.c.sensor_id == c.wire_sensor_id)
            .where(due, c.approved_ns <= now - int(settle_s * 1e9))
            .order_by(c.backfill_updated_ns)
            .limit(1)
        )
        with self._begin() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            taken = conn.execute(
                sensor_aliases.update()
                .where(
                    c.wire_sensor_id == row.wire_sensor_id,
                    c.backfill_updated_ns == row.backfill_updated_ns,
                    c.backfill_status == row.backfill_status,
                )
                .values(
                    backfill_status=_RUNNING,
                    backfill_worker=worker,
                    backfill_lease_ns=now + int(lease_s * 1e9),
                    backfill_again=False,
                    backfill_updated_ns=max(now, row.backfill_updated_ns + 1),
                )
            )
            if taken.rowcount != 1:
                return None
            claimed = conn.execute(select(sensor_aliases).where(c.wire_sensor_id == row.wire_sensor_id)).one()
        return BackfillClaim(**_alias(claimed).model_dump(), worker=worker, first_seen_ns=row.first_seen_ns)

    def _update_own(self, claim: BackfillClaim, **values: Any) -> bool:
        """Change a job this worker still holds; False when it lost the lease to another worker."""
        c = sensor_aliases.c
        query = sensor_aliases.update().where(
            c.wire_sensor_id == claim.wire_sensor_id, c.backfill_status == _RUNNING, c.backfill_worker == claim.worker
        )
        with self._begin() as conn:
            return conn.execute(query.values(backfill_updated_ns=time.time_ns(), **values)).rowcount == 1

    def renew_backfill(self, claim: BackfillClaim, *, moved: int, lease_s: float) -> bool:
        """Record progress (``moved`` readings in this pass so far) and extend the lease."""
        lease = time.time_ns() + int(lease_s * 1e9)
        return self._update_own(claim, backfill_moved=claim.backfill.moved + moved, backfill_lease_ns=lease)

    def finish_backfill(self, claim: BackfillClaim, *, moved: int) -> bool:
        """End a pass: done, or queued again when wire readings were reported while it ran."""
        c = sensor_aliases.c
        with self._begin() as conn:
            again = conn.execute(select(c.backfill_again).where(c.wire_sensor_id == claim.wire_sensor_id)).scalar()
        return self._update_own(
            claim,
            backfill_status=_QUEUED if again else _DONE,
            backfill_moved=claim.backfill.moved + moved,
            backfill_passes=claim.backfill.passes + 1,
            backfill_attempts=0,
            backfill_error=None,
            backfill_again=False,
            backfill_worker=None,
            backfill_lease_ns=None,
        )

    def fail_backfill(self, claim: BackfillClaim, error: str, *, retry_in_s: float, moved: int = 0) -> bool:
        """Mark the job failed with the error; it is claimed again after ``retry_in_s``."""
        return self._update_own(
            claim,
            backfill_status=_FAILED,
            backfill_moved=claim.backfill.moved + moved,
            backfill_attempts=claim.backfill.attempts + 1,
            backfill_error=error[:2000],
            backfill_worker=None,
            backfill_lease_ns=None,
            backfill_not_before_ns=time.time_ns() + int(retry_in_s * 1e9),
        )

    def requeue_backfills(self, wire_sensor_ids: Iterable[str]) -> int:
        """Readings arrived under these wire paths after their approval: queue another pass (a running
        pass is flagged to run once more). Returns how many aliases it touched."""
        ids = list(wire_sensor_ids)
        if not ids:
            return 0
        c = sensor_aliases.c
        now = time.time_ns()
        with self._begin() as conn:
            flagged = conn.execute(
                sensor_aliases.update()
                .where(c.wire_sensor_id.in_(ids), c.backfill_status == _RUNNING)
                .values(backfill_again=True)
            ).rowcount
            queued = conn.execute(
                sensor_aliases.update()
                .where(c.wire_sensor_id.in_(ids), c.backfill_status == _DONE)
                .values(backfill_status=_QUEUED, backfill_updated_ns=now)
            ).rowcount
        return int(flagged) + int(queued)
