"""The onboarding part of the registry: sensors seen on the wire but not registered wait as pending."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import (
    select,
)

from ganlink.registry_assets import AssetRegistry
from ganlink.registry_records import PendingSensor, SensorInfo, SensorSpec
from ganlink.registry_tables import pending_sensors, plants, sensors
from ganlink.schema import Reading
from ganlink.topics import DevicePath

__all__ = ["OnboardingRegistry"]


class OnboardingRegistry(AssetRegistry):
    """Pending sensors: reported by the collector, approved or rejected by integrators."""

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
        return added

    def pending_sensors(self, plant: str, status: str | None = "pending") -> list[PendingSensor]:
        query = select(pending_sensors).where(pending_sensors.c.plant == plant)
        if status is not None:
            query = query.where(pending_sensors.c.status == status)
        with self._begin() as conn:
            rows = conn.execute(query.order_by(pending_sensors.c.sensor_id)).all()
        return [PendingSensor.model_validate(dict(r._mapping)) for r in rows]

    def pending_sensor(self, sensor_id: str) -> PendingSensor | None:
        with self._begin() as conn:
            row = conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id == sensor_id)).first()
        return PendingSensor.model_validate(dict(row._mapping)) if row else None

    def approve_pending(self, sensor_id: str, spec: SensorSpec) -> SensorInfo:
        """Register a pending sensor at the path it was seen on (creating missing area, line and device);
        its readings already stored under that path become visible as its normal series."""
        with self._begin() as conn:
            row = conn.execute(select(pending_sensors).where(pending_sensors.c.sensor_id == sensor_id)).first()
            if row is None or row.status != "pending":
                raise LookupError(f"no pending sensor {sensor_id}")
            self._require(conn, plants, {"id": row.plant}, f"plant {row.plant}")
            path = DevicePath(row.plant, row.area, row.line, row.device)
            self._ensure_parents(conn, [path])
            self._upsert(conn, sensors, [self._sensor_row(path, row.sensor, spec)])
            conn.execute(
                pending_sensors.update().where(pending_sensors.c.sensor_id == sensor_id).values(status="accepted")
            )
        info = self.sensor(sensor_id)
        assert info is not None
        return info

    def reject_pending(self, sensor_id: str) -> bool:
        """Mark a pending sensor rejected (its later readings are no longer listed); True when it was pending."""
        query = pending_sensors.update().where(
            pending_sensors.c.sensor_id == sensor_id, pending_sensors.c.status == "pending"
        )
        with self._begin() as conn:
            return conn.execute(query.values(status="rejected")).rowcount > 0
