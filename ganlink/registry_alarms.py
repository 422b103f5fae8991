"""The alarm part of the registry: rows of ganlink.alarms.Alarm, changed one atomic transition at a time."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    select,
)

from ganlink.alarms import Alarm, Comment, Label, Severity
from ganlink.registry_core import RegistryCore
from ganlink.registry_tables import alarm_comments, alarms

__all__ = ["AlarmRegistry"]


class AlarmRegistry(RegistryCore):
    """Alarms and their comments."""

    # -- alarms -----------------------------------------------------------------------------

    @staticmethod
    def _alarm_row(alarm: Alarm) -> dict[str, Any]:
        plant, area, line = alarm.sensor_id.split(".")[:3]
        return {
            "id": alarm.id,
            "sensor_id": alarm.sensor_id,
            "plant": plant,
            "area": area,
            "line": line,
            "detector": alarm.detector,
            "model_version": alarm.model_version,
            "severity": str(alarm.severity),
            "raised_ns": alarm.raised_ns,
            "details": alarm.details,
            "cleared_ns": alarm.cleared_ns,
            "acknowledged_ns": alarm.acknowledged_ns,
            "acknowledged_by": alarm.acknowledged_by,
            "shelved_until_ns": alarm.shelved_until_ns,
            "shelved_by": alarm.shelved_by,
            "label": str(alarm.label) if alarm.label else None,
            "labeled_by": alarm.labeled_by,
            "updated_ns": time.time_ns(),
        }

    @staticmethod
    def _alarm_of(row: Any, comments: Sequence[Any]) -> Alarm:
        return Alarm(
            id=row.id,
            sensor_id=row.sensor_id,
            detector=row.detector,
            model_version=row.model_version,
            severity=Severity(row.severity),
            raised_ns=row.raised_ns,
            details=dict(row.details),
            cleared_ns=row.cleared_ns,
            acknowledged_ns=row.acknowledged_ns,
            acknowledged_by=row.acknowledged_by,
            shelved_until_ns=row.shelved_until_ns,
            shelved_by=row.shelved_by,
            label=Label(row.label) if row.label else None,
            labeled_by=row.labeled_by,
            comments=tuple(Comment(c.user, c.time_ns, c.text) for c in comments),
        )

    def _load_alarms(self, conn: Connection, rows: Sequence[Any]) -> list[Alarm]:
        ids = [r.id for r in rows]
        comments: dict[str, list[Any]] = {}
        if ids:
            query = select(alarm_comments).where(alarm_comments.c.alarm_id.in_(ids)).order_by(alarm_comments.c.id)
            for c in conn.execute(query).all():
                comments.setdefault(c.alarm_id, []).append(c)
        return [self._alarm_of(r, comments.get(r.id, [])) for r in rows]

    def open_alarm(self, alarm: Alarm) -> bool:
        """Record a newly raised alarm; False (and nothing changes) when its id is already known."""
        with self._begin() as conn:
            if conn.execute(select(alarms.c.id).where(alarms.c.id == alarm.id)).first() is not None:
                return False
            conn.execute(alarms.insert().values(**self._alarm_row(alarm)))
            self._insert_comments(conn, alarm.id, alarm.comments)
        return True

    @staticmethod
    def _insert_comments(conn: Connection, alarm_id: str, comments: Sequence[Comment]) -> None:
        if comments:
            rows = [{"alarm_id": alarm_id, "user": c.user, "time_ns": c.time_ns, "text": c.text} for c in comments]
            conn.execute(alarm_comments.insert(), rows)

    def update_alarm(self, alarm_id: str, change: Callable[[Alarm], Alarm]) -> Alarm | None:
        """Apply one transition atomically (the row is locked first); None when the alarm is unknown.

        ``change`` may raise (e.g. AlarmTransitionError); then nothing is written.
        """
        with self._begin() as conn:
            # Take the write lock before reading so concurrent writers cannot lose an update.
            touched = conn.execute(
                alarms.update().where(alarms.c.id == alarm_id).values(updated_ns=alarms.c.updated_ns)
            ).rowcount
            if not touched:
                return None
            row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).one()
            (before,) = self._load_alarms(conn, [row])
            after = change(before)
            values = self._alarm_row(after)
            del values["id"]
            conn.execute(alarms.update().where(alarms.c.id == alarm_id).values(**values))
            self._insert_comments(conn, alarm_id, after.comments[len(before.comments) :])
        return after

    def alarm(self, alarm_id: str) -> Alarm | None:
        with self._begin() as conn:
            row = conn.execute(select(alarms).where(alarms.c.id == alarm_id)).first()
            return self._load_alarms(conn, [row])[0] if row else None

    def alarm_plant(self, alarm_id: str) -> str | None:
        """The plant an alarm belongs to (for scope checks), or None when unknown."""
        with self._begin() as conn:
            row = conn.execute(select(alarms.c.plant).where(alarms.c.id == alarm_id)).first()
        return str(row.plant) if row else None

    def alarms(
        self,
        plant: str,
        area: str | None = None,
        line: str | None = None,
        *,
        active_only: bool = False,
        since_ns: int | None = None,
        limit: int = 200,
    ) -> list[Alarm]:
        """Alarms of a plant (narrowed to an area and line), newest first."""
        query = select(alarms).where(alarms.c.plant == plant)
        if area is not None:
            query = query.where(alarms.c.area == area)
        if line is not None:
            query = query.where(alarms.c.line == line)
        if active_only:
            query = query.where(alarms.c.cleared_ns.is_(None))
        if since_ns is not None:
            query = query.where(alarms.c.raised_ns >= since_ns)
        query = query.order_by(alarms.c.raised_ns.desc(), alarms.c.id).limit(limit)
        with self._begin() as conn:
            return self._load_alarms(conn, conn.execute(query).all())

    def alarm_labels(self, sensor_id: str, recent: int = 20) -> list[Label | None]:
        """Labels of a sensor's most recent alarms, oldest first (input to ganlink.alarms.sensitivity_for)."""
        query = (
            select(alarms.c.label)
            .where(alarms.c.sensor_id == sensor_id)
            .order_by(alarms.c.raised_ns.desc())
            .limit(recent)
        )
        with self._begin() as conn:
            labels = [Label(r.label) if r.label else None for r in conn.execute(query).all()]
        return labels[::-1]
