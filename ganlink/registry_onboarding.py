"""The onboarding part of the registry: sensors seen on the wire but not registered wait as pending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, select

from ganlink.registry_aliases import SensorAliasRegistry, backfill_state
from ganlink.registry_records import PendingSensor, SensorInfo, SensorSpec, SensorTarget
from ganlink.registry_tables import pending_sensors, plants, sensor_aliases, sensors
from ganlink.schema import Reading
from ganlink.topics import DevicePath

__all__ = ["OnboardingRegistry", "TargetRegistered"]


class TargetRegistered(ValueError):
    """An approval names a target that is already a registered sensor."""

    def __init__(self, sensor_id: str) -> None:
        self.sensor_id = sensor_id
        super().__init__(f"{sensor_id} is already a registered sensor; map the pending sensor to a new one")


def _pending_query() -> Select[Any]:
    """Pending sensors with the alias an approval with a mapping made (if any)."""
    return select(pending_sensors, sensor_aliases).outerjoin(
        sensor_aliases, sensor_aliases.c.wire_sensor_id == pending_sensors.c.sensor_id
    )


def _pending(row: Any) -> PendingSensor:
    record = {column.name: row._mapping[column] for column in pending_sensors.columns}
    if row._mapping[sensor_aliases.c.wire_sensor_id] is not None:
        record |= {"target_sensor_id": row._mapping[sensor_aliases.c.sensor_id], "backfill": backfill_state(row)}
    return PendingSensor.model_validate(record)


class OnboardingRegistry(SensorAliasRegistry):
    """Pending sensors: reported by the collector, approved (optionally mapped elsewhere in the plant,
    see :mod:`ganlink.registry_aliases`) or rejected by integrators."""

    # -- onboarding: sensors seen but not registered --------------------------------------------

    def known_sensor_ids(self, plant: str | None = None) -> set[str]:
        """Every registered sensor id (of one plant when given), for callers that cache the check."""
        query = select(sensors.c.sensor_id)
        if plant is not None:
            query = query.where(sensors.c.plant == plant)
        with self._begin() as conn:
            return {r.sensor_id for r in conn.execute(query)}

    def rejected_sensor_ids(self, plant: str | None = None) -> set[str]:
        """Sensors an integrator rejected (of one plant when given): not registered, not to be reported."""
        query = select(pending_sensors.c.sensor_id).where(pending_sensors.c.status == "rejected")
        if plant is not None:
            query = query.where(pending_sensors.c.plant == plant)
        with self._begin() as conn:
            return {r.sensor_id for r in conn.execute(query)}

    def report_unknown_readings(
        self, readings: Sequence[Reading], *, seen_counts: Mapping[str, int] | None = None
    ) -> int:
        """Record readings of sensors the registry does not know as pending (the collector calls this
        and still stores the readings, so nothing is lost). Returns how many sensors became newly pending.
        Readings of registered or rejected sensors are ignored here. ``seen_counts`` (sensor id ->
        readings seen) replaces counting ``readings`` when the caller passed only a summary of them."""
        newest: dict[str, Reading] = {}
        oldest: dict[str, Reading] = {}
        counts: dict[str, int] = {}
        for reading in readings:
            sid = reading.sensor_id
            counts[sid] = counts.get(sid, 0) + 1
            if sid not in newest or reading.time_ns > newest[sid].time_ns:
                newest[sid] = reading
            if sid not in oldest or reading.time_ns < oldest[sid].time_ns:
                oldest[sid] = reading
        if seen_counts is not None:
            counts = {sid: seen_counts.get(sid, n) for sid, n in counts.items()}
        if not newest:
            return 0
        ids = list(newest)
        with self._begin() as conn:
            registered = {
                r.sensor_id for r in conn.execute(select(sensors.c.sensor_id).where(sensors.c.sensor_id.in_(ids)))
            }
            pending = {
                r.sensor_id: r
                for r in conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id.in_(ids)))
            }
            added = 0
            arrived_after_approval = [sid for sid, row in pending.items() if row.status == "accepted"]
            for sid, reading in newest.items():
                if sid in registered:
                    continue
                row = pending.get(sid)
                if row is None:
                    conn.execute(
                        pending_sensors.insert().values(
                            sensor_id=sid,
                            plant=reading.device.plant,
                            area=reading.device.area,
                            line=reading.device.line,
                            device=reading.device.device,
                            sensor=reading.sensor,
                            first_seen_ns=oldest[sid].time_ns,
                            last_seen_ns=reading.time_ns,
                            seen_count=counts[sid],
                            last_value=reading.value,
                            status="pending",
                        )
                    )
                    added += 1
                elif row.status == "pending":
                    conn.execute(
                        pending_sensors.update()
                        .where(pending_sensors.c.sensor_id == sid)
                        .values(
                            last_seen_ns=max(row.last_seen_ns, reading.time_ns),
                            first_seen_ns=min(row.first_seen_ns, oldest[sid].time_ns),
                            seen_count=row.seen_count + counts[sid],
                            last_value=reading.value if reading.time_ns >= row.last_seen_ns else row.last_value,
                        )
                    )
        # Readings of a sensor approved with a mapping still landed under its wire path: move them too.
        self.requeue_backfills(arrived_after_approval)
        return added

    def pending_sensors(self, plant: str, status: str | None = "pending") -> list[PendingSensor]:
        query = _pending_query().where(pending_sensors.c.plant == plant)
        if status is not None:
            query = query.where(pending_sensors.c.status == status)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(pending_sensors.c.sensor_id)).all()
        return [_pending(r) for r in rows]

    def pending_sensor(self, sensor_id: str) -> PendingSensor | None:
        with self._begin() as conn:
            row = conn.execute(_pending_query().where(pending_sensors.c.sensor_id == sensor_id)).first()
        return _pending(row) if row else None

    def approve_pending(self, sensor_id: str, spec: SensorSpec, target: SensorTarget | None = None) -> SensorInfo:
        """Register a pending sensor (creating missing area, line and device): at the path it was seen on,
        where its stored readings become its series, or at ``target`` in the same plant, which records an
        alias (the collector stores its later readings there) and queues a backfill of the kept ones.
        Raises LookupError when it is not pending, TargetRegistered when the target is a registered sensor."""
        with self._begin() as conn:
            row = conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id == sensor_id)).first()
            if row is None or row.status != "pending":
                raise LookupError(f"no pending sensor {sensor_id}")
            self._require(conn, plants, {"id": row.plant}, f"plant {row.plant}")
            path = DevicePath(row.plant, row.area, row.line, row.device)
            name = row.sensor
            if target is not None:
                path, name = target.device_path(row.plant), target.sensor
            registered_id = path.sensor_id(name)
            if conn.execute(select(sensors.c.sensor_id).where(sensors.c.sensor_id == registered_id)).first():
                raise TargetRegistered(registered_id)
            self._ensure_parents(conn, [path])
            self._upsert(conn, sensors, [self._sensor_row(path, name, spec)])
            accepted = [sensor_id]
            if registered_id != sensor_id:
                self._add_alias(conn, sensor_id, registered_id, row.plant)
                accepted.append(registered_id)  # a pending sensor seen at the target is now registered too
            conn.execute(
                pending_sensors.update()
                .where(pending_sensors.c.sensor_id.in_(accepted), pending_sensors.c.status == "pending")
                .values(status="accepted")
            )
        info = self.sensor(registered_id)
        assert info is not None
        return info

    def reject_pending(self, sensor_id: str) -> bool:
        """Mark a pending sensor rejected (its later readings are no longer listed); True when it was pending."""
        query = pending_sensors.update().where(
            pending_sensors.c.sensor_id == sensor_id, pending_sensors.c.status == "pending"
        )
        with self._begin() as conn:
            return conn.execute(query.values(status="rejected")).rowcount > 0
