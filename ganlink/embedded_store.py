"""``EmbeddedStore``: the time-series store on SQLite, for the demo and single-box installs.

Same semantics as the InfluxDB store: writes are idempotent per series and time (``INSERT OR
REPLACE`` on ``PRIMARY KEY (sensor_id, time_ns)``), buckets are aligned to multiples of the bucket
width since the epoch, empty buckets are skipped. Series are normalized into a ``sensors`` table so a
reading row is four numbers.

One connection, opened and used only by one worker thread, in WAL mode; every blocking call runs
there, so the event loop never waits on the disk. ``sqlite3`` errors are translated here: a locked,
full or unreadable database -> StoreUnavailable; a refused row or a value the store cannot keep
(NaN, infinity, text that is not valid Unicode) -> WriteRejected with status 400, like InfluxDB.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from ganlink.errors import StoreError, StoreUnavailable, WriteRejected
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.store import Aggregate, LatestValue, SensorKey, SensorSelector, SeriesPoint
from ganlink.topics import DevicePath

__all__ = ["EmbeddedStore"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_SensorKey = tuple[str, str, str, str, str]
_LEVELS = ("plant", "area", "line", "device", "sensor")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sensors (
    id INTEGER PRIMARY KEY,
    plant TEXT NOT NULL, area TEXT NOT NULL, line TEXT NOT NULL, device TEXT NOT NULL, sensor TEXT NOT NULL,
    UNIQUE (plant, area, line, device, sensor)
);
CREATE TABLE IF NOT EXISTS readings (
    sensor_id INTEGER NOT NULL REFERENCES sensors (id),
    time_ns INTEGER NOT NULL,
    value REAL NOT NULL,
    quality INTEGER NOT NULL,
    PRIMARY KEY (sensor_id, time_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    sensor_id INTEGER NOT NULL REFERENCES sensors (id),
    detector TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    score REAL NOT NULL,
    value REAL NOT NULL,
    alarm_id TEXT NOT NULL,
    PRIMARY KEY (sensor_id, detector, time_ns)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_by_time ON events (time_ns);
"""

_RANGE_WHERE = "sensor_id = :sensor_id AND time_ns >= :start AND time_ns < :end"
MOVE_CHUNK_READINGS = 10_000  # move_series copies and deletes this many readings per transaction
_MOVE_CHUNK_END_SQL = f"SELECT time_ns + 1 FROM readings WHERE {_RANGE_WHERE} ORDER BY time_ns LIMIT 1 OFFSET :last"  # noqa: S608
_MOVE_COPY_SQL = (
    "INSERT OR REPLACE INTO readings (sensor_id, time_ns, value, quality) "  # noqa: S608 - fixed text
    f"SELECT :target, time_ns, value, quality FROM readings WHERE {_RANGE_WHERE}"
)
_MOVE_COUNT_SQL = "SELECT count(*) FROM readings WHERE sensor_id = :target AND time_ns >= :start AND time_ns < :end"
_MOVE_DELETE_SQL = f"DELETE FROM readings WHERE {_RANGE_WHERE}"  # noqa: S608 - fixed text
_RAW_RANGE_SQL = f"SELECT time_ns, value FROM readings WHERE {_RANGE_WHERE} ORDER BY time_ns"  # noqa: S608
# Floor to a multiple of the bucket width, correct before the epoch too (SQLite's % keeps the sign).
_BUCKET_START = "(time_ns - (((time_ns % :width) + :width) % :width))"
# LAST relies on SQLite's rule that a bare column comes from the row that max() picked.
_AGGREGATE_SQL = {
    Aggregate.MEAN: "avg(value)",
    Aggregate.MIN: "min(value)",
    Aggregate.MAX: "max(value)",
    Aggregate.LAST: "value, max(time_ns)",
    Aggregate.COUNT: "count(value)",
}
_BUCKET_SQL = {
    aggregate: f"SELECT {_BUCKET_START} AS bucket, {expression} FROM readings "  # noqa: S608 - fixed text
    f"WHERE {_RANGE_WHERE} GROUP BY bucket ORDER BY bucket"
    for aggregate, expression in _AGGREGATE_SQL.items()
}


def _selector_where(selector: SensorSelector) -> tuple[str, list[str]]:
    levels = [(level, getattr(selector, level)) for level in _LEVELS]
    chosen = [(level, value) for level, value in levels if value is not None]
    return " AND ".join(f"s.{level} = ?" for level, _ in chosen), [value for _, value in chosen]


def _non_finite(value: float, what: str) -> str | None:
    return None if math.isfinite(value) else f"not storable: {what} {value!r} is not finite"


class EmbeddedStore:
    """A ``TimeSeriesStore`` in one SQLite file (``":memory:"`` for a throwaway one).

    Build it with :meth:`open` (creates the file and schema); use ``async with`` or :meth:`close`.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedded-store")
        self._connection: sqlite3.Connection | None = None
        self._sensor_ids: dict[_SensorKey, int] = {}

    @classmethod
    async def open(cls, path: Path | str) -> EmbeddedStore:
        """Open (creating if needed) the store at ``path``."""
        store = cls(path)
        try:
            await store._run(store._connect)
        except BaseException:
            await store.close()
            raise
        log.info("embedded time-series store open at %s", store.path)
        return store

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._disconnect)
        self._worker.shutdown(wait=True)

    # -- worker thread -----------------------------------------------------------------------------

    async def _run(self, call: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._worker, call)
        except (sqlite3.IntegrityError, UnicodeEncodeError) as exc:  # a refused row; a lone surrogate in text
            raise WriteRejected(url=self.path, status=400, server_message=f"not storable: {exc}") from exc
        except sqlite3.DatabaseError as exc:  # locked, full, corrupt, unreadable
            raise StoreUnavailable(f"SQLite failed: {exc}", url=self.path) from exc
        except OSError as exc:  # the directory cannot be made
            raise StoreUnavailable(f"cannot open the store file: {exc}", url=self.path) from exc
        except RuntimeError as exc:  # the executor was shut down: the store is closed
            raise StoreUnavailable(f"store is closed ({exc})", url=self.path) from exc

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout=5000")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            connection.close()
            raise
        self._connection = connection
        for row in connection.execute("SELECT id, plant, area, line, device, sensor FROM sensors"):
            self._sensor_ids[tuple(row[1:])] = row[0]

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("embedded store is not open (use EmbeddedStore.open)")
        return self._connection

    def _find_sensor_id(self, key: _SensorKey) -> int | None:
        sensor_id = self._sensor_ids.get(key)
        if sensor_id is None:
            row = self._db.execute(
                "SELECT id FROM sensors WHERE plant = ? AND area = ? AND line = ? AND device = ? AND sensor = ?", key
            ).fetchone()
            if row is not None:
                sensor_id = self._sensor_ids[key] = int(row[0])
        return sensor_id

    def _sensor_id(self, device: DevicePath, sensor: str) -> int:
        key = (device.plant, device.area, device.line, device.device, sensor)
        sensor_id = self._sensor_ids.get(key)
        if sensor_id is None:
            self._db.execute(
                "INSERT OR IGNORE INTO sensors (plant, area, line, device, sensor) VALUES (?, ?, ?, ?, ?)", key
            )
            found = self._find_sensor_id(key)
            assert found is not None  # inserted just above in this transaction
            sensor_id = found
        return sensor_id

    def _write_readings(self, readings: Sequence[Reading]) -> None:
        with self._transaction():
            rows = [
                (self._sensor_id(r.device, r.sensor), int(r.time_ns), float(r.value), int(r.quality)) for r in readings
            ]
            self._db.executemany(
                "INSERT OR REPLACE INTO readings (sensor_id, time_ns, value, quality) VALUES (?, ?, ?, ?)", rows
            )

    def _write_events(self, events: Sequence[AnomalyEvent]) -> None:
        with self._transaction():
            rows = [
                (
                    self._sensor_id(e.device, e.sensor),
                    e.detector,
                    int(e.time_ns),
                    float(e.score),
                    float(e.value),
                    e.alarm_id,
                )
                for e in events
            ]
            self._db.executemany(
                "INSERT OR REPLACE INTO events (sensor_id, detector, time_ns, score, value, alarm_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._sensor_ids)

    # -- TimeSeriesStore ---------------------------------------------------------------------------

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        for reading in readings:
            if problem := _non_finite(reading.value, f"value of {reading.sensor_id}"):
                raise WriteRejected(url=self.path, status=400, server_message=problem)
        await self._run(lambda: self._write_readings(readings))

    async def write_events(self, events: Sequence[AnomalyEvent]) -> None:
        if not events:
            return
        for event in events:
            where = event.device.sensor_id(event.sensor)
            if problem := _non_finite(event.score, f"score of {where}") or _non_finite(
                event.value, f"value of {where}"
            ):
                raise WriteRejected(url=self.path, status=400, server_message=problem)
        await self._run(lambda: self._write_events(events))

    async def query_range(
        self,
        device: DevicePath,
        sensor: str,
        start_ns: int,
        end_ns: int,
        *,
        bucket_ns: int | None = None,
        aggregate: Aggregate = Aggregate.MEAN,
    ) -> list[SeriesPoint]:
        if bucket_ns is not None and bucket_ns <= 0:
            raise ValueError(f"bucket_ns must be positive, got {bucket_ns}")
        key = (device.plant, device.area, device.line, device.device, sensor)
        return await self._run(lambda: self._query_range(key, start_ns, end_ns, bucket_ns, Aggregate(aggregate)))

    def _query_range(
        self, key: _SensorKey, start_ns: int, end_ns: int, bucket_ns: int | None, aggregate: Aggregate
    ) -> list[SeriesPoint]:
        sensor_id = self._find_sensor_id(key)
        if sensor_id is None:
            return []
        named = {"sensor_id": sensor_id, "start": int(start_ns), "end": int(end_ns)}
        if bucket_ns is None:
            return [SeriesPoint(time_ns, value) for time_ns, value in self._db.execute(_RAW_RANGE_SQL, named)]
        named["width"] = int(bucket_ns)
        return [SeriesPoint(int(row[0]), float(row[1])) for row in self._db.execute(_BUCKET_SQL[aggregate], named)]

    async def latest(self, selector: SensorSelector, *, since_ns: int | None = None) -> list[LatestValue]:
        return await self._run(lambda: self._latest(selector, since_ns))

    def _latest(self, selector: SensorSelector, since_ns: int | None = None) -> list[LatestValue]:
        where, levels = _selector_where(selector)
        parameters: list[str | int] = [*levels]
        if since_ns is not None:
            where += " AND r.time_ns >= ?"
            parameters.append(int(since_ns))
        sql = (
            "SELECT s.plant, s.area, s.line, s.device, s.sensor, r.time_ns, r.value, r.quality "  # noqa: S608
            "FROM sensors s JOIN readings r ON r.sensor_id = s.id "
            "AND r.time_ns = (SELECT max(time_ns) FROM readings WHERE sensor_id = s.id) "
            f"WHERE {where} ORDER BY s.plant, s.area, s.line, s.device, s.sensor"
        )
        return [
            LatestValue(DevicePath(plant, area, line, device), sensor, time_ns, value, Quality(quality))
            for plant, area, line, device, sensor, time_ns, value, quality in self._db.execute(sql, parameters)
        ]

    async def events(
        self, selector: SensorSelector, start_ns: int, end_ns: int, *, limit: int = 1000
    ) -> list[AnomalyEvent]:
        if limit <= 0:
            return []
        return await self._run(lambda: self._events(selector, start_ns, end_ns, limit))

    def _events(self, selector: SensorSelector, start_ns: int, end_ns: int, limit: int) -> list[AnomalyEvent]:
        where, parameters = _selector_where(selector)
        sql = (
            "SELECT s.plant, s.area, s.line, s.device, s.sensor, e.detector, e.time_ns, e.score, e.value, "  # noqa: S608
            "e.alarm_id FROM events e JOIN sensors s ON s.id = e.sensor_id "
            f"WHERE {where} AND e.time_ns >= ? AND e.time_ns < ? ORDER BY e.time_ns DESC LIMIT ?"
        )
        rows = self._db.execute(sql, [*parameters, int(start_ns), int(end_ns), int(limit)])
        return [
            AnomalyEvent(DevicePath(plant, area, line, device), sensor, detector, time_ns, score, value, alarm_id)
            for plant, area, line, device, sensor, detector, time_ns, score, value, alarm_id in rows
        ]

    async def count_readings(self, selector: SensorSelector, start_ns: int, end_ns: int) -> int:
        return await self._run(lambda: self._count_readings(selector, start_ns, end_ns))

    def _count_readings(self, selector: SensorSelector, start_ns: int, end_ns: int) -> int:
        where, parameters = _selector_where(selector)
        sql = (
            "SELECT count(*) FROM sensors s JOIN readings r ON r.sensor_id = s.id "  # noqa: S608
            f"WHERE {where} AND r.time_ns >= ? AND r.time_ns < ?"
        )
        row = self._db.execute(sql, [*parameters, int(start_ns), int(end_ns)]).fetchone()
        return int(row[0])

    async def move_series(self, source: SensorKey, target: SensorKey, *, start_ns: int, end_ns: int) -> int:
        """Copy, check and delete one chunk per transaction, so a concurrent write cannot slip between."""
        if source == target:
            raise ValueError(f"cannot move {source.sensor_id} onto itself")
        moved, cursor, end_ns = 0, int(start_ns), int(end_ns)
        while cursor < end_ns:
            chunk_moved, cursor = await self._run(functools.partial(self._move_chunk, source, target, cursor, end_ns))
            moved += chunk_moved
        return moved

    def _move_chunk(self, source: SensorKey, target: SensorKey, start_ns: int, end_ns: int) -> tuple[int, int]:
        """Move the next chunk at or after ``start_ns``; returns (readings moved, where the next chunk starts)."""
        device = source.device
        source_id = self._find_sensor_id((device.plant, device.area, device.line, device.device, source.sensor))
        if source_id is None:
            return 0, end_ns
        with self._transaction():
            named = {"sensor_id": source_id, "start": start_ns, "end": end_ns, "last": MOVE_CHUNK_READINGS - 1}
            row = self._db.execute(_MOVE_CHUNK_END_SQL, named).fetchone()
            named["end"] = end_ns if row is None else int(row[0])
            named["target"] = self._sensor_id(target.device, target.sensor)
            copied = self._db.execute(_MOVE_COPY_SQL, named).rowcount
            held = int(self._db.execute(_MOVE_COUNT_SQL, named).fetchone()[0])
            if held < copied:  # rolled back: nothing deleted
                raise StoreError(f"moving {source.sensor_id} to {target.sensor_id}: {copied} copied but "
                                 f"{held} found in [{start_ns}, {named['end']})", url=self.path)  # fmt: skip
            deleted = self._db.execute(_MOVE_DELETE_SQL, named).rowcount
        return deleted, named["end"]


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT; on error ROLLBACK and forget cached sensor ids (some may be undone)."""

    def __init__(self, connection: sqlite3.Connection, sensor_ids: dict[_SensorKey, int]) -> None:
        self._connection = connection
        self._sensor_ids = sensor_ids

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self._connection.execute("COMMIT")
            return
        self._connection.execute("ROLLBACK")
        self._sensor_ids.clear()  # refilled lazily from the sensors table
