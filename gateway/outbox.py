"""The on-disk outbox (SQLite in WAL mode): every telemetry message is committed here before it is
published and deleted only once the broker acknowledged it (QoS 1 PUBACK).

It also persists the gateway's next ``seq`` (never reused across restarts) and the exact count of
what a full outbox dropped. Commits use ``synchronous=NORMAL``: a killed gateway process loses
nothing committed; a power cut may lose the last moments unless ``durable=True`` (fsync per commit).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ganlink.timestamps import now_ns
from gateway.publisher import OutgoingMessage

__all__ = ["Outbox", "OutboxStats", "read_stats"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    readings INTEGER NOT NULL,
    oldest_ns INTEGER NOT NULL,
    committed_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
"""
_COUNTERS = (
    "next_seq",
    "dropped_readings",
    "dropped_messages",
    "rate_readings_per_s",
    "max_readings",
    "connected",
    "state_ns",
    "last_ack_ns",
)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What ``ganlink gateway status`` shows."""

    path: Path
    messages: int
    readings: int
    oldest_ns: int | None
    next_seq: int
    dropped_readings: int
    dropped_messages: int
    rate_readings_per_s: float
    max_readings: int
    connected: bool = False
    state_ns: int = 0
    last_ack_ns: int = 0

    def oldest_age_s(self, now: int) -> float | None:
        return None if self.oldest_ns is None else max(0.0, (now - self.oldest_ns) / 1e9)

    @property
    def hours_left(self) -> float | None:
        """Hours until full at the current rate (None when the rate is unknown)."""
        if self.rate_readings_per_s <= 0:
            return None
        return max(0, self.max_readings - self.readings) / self.rate_readings_per_s / 3600


class Outbox:
    """The outbox of one gateway. Not thread-safe: one owner (the gateway's event loop) uses it."""

    def __init__(
        self,
        path: Path,
        *,
        max_readings: int,
        when_full: Literal["drop-oldest", "drop-newest"] = "drop-oldest",
        durable: bool = False,
    ) -> None:
        if max_readings < 1:
            raise ValueError(f"max_readings must be positive, got {max_readings}")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_readings = max_readings
        self.when_full = when_full
        self._last_drop_log = -1e9
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        self._db.executescript(_SCHEMA)
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        max_seq = self._db.execute("SELECT max(seq) FROM message").fetchone()[0]
        # seq never goes back: the persisted counter, or past the newest row should meta lag
        self.next_seq = max(int(meta.get("next_seq", 0)), (max_seq + 1) if max_seq is not None else 0)
        self.dropped_readings = int(meta.get("dropped_readings", 0))
        self.dropped_messages = int(meta.get("dropped_messages", 0))
        count, total = self._db.execute("SELECT count(*), coalesce(sum(readings), 0) FROM message").fetchone()
        self.depth_messages, self.depth_readings = int(count), int(total)
        self._write_meta(max_readings=max_readings)
        if count:
            log.info("outbox %s holds %d readings in %d messages from before", path, total, count)

    def _write_meta(self, **values: float) -> None:
        self._db.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            values.items(),
        )

    def commit(
        self, messages: Sequence[OutgoingMessage], *, protected: Callable[[], Iterable[int]] = tuple
    ) -> list[OutgoingMessage]:
        """Commit messages (their seq must be ``next_seq`` onwards) in one transaction.

        When the outbox is full, ``drop-oldest`` deletes the oldest messages not in ``protected()``
        (those already handed to the broker); ``drop-newest`` refuses the new ones. Returns the
        messages actually committed; every dropped reading is counted.
        """
        if not messages:
            return []
        if messages[0].seq != self.next_seq:
            raise ValueError(f"outbox expects seq {self.next_seq}, got {messages[0].seq}")
        incoming = sum(m.reading_count for m in messages)
        accepted = list(messages)
        dropped_readings = dropped_messages = 0
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            overflow = self.depth_readings + incoming - self.max_readings
            if overflow > 0 and self.when_full == "drop-newest":
                while accepted and overflow > 0:
                    gone = accepted.pop()
                    overflow -= gone.reading_count
                    dropped_readings += gone.reading_count
                    dropped_messages += 1
            elif overflow > 0:
                dropped_readings, dropped_messages = self._drop_oldest(overflow, set(protected()))
                overflow -= dropped_readings
                while accepted and overflow > 0:  # still full of protected rows: the oldest new ones go
                    gone = accepted.pop(0)
                    overflow -= gone.reading_count
                    dropped_readings += gone.reading_count
                    dropped_messages += 1
            db.executemany(
                "INSERT INTO message(seq, topic, payload, readings, oldest_ns, committed_ns)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (m.seq, m.topic, m.payload, m.reading_count, m.oldest_ns, now_ns())
                    for m in accepted
                ],
            )
            self.next_seq = messages[-1].seq + 1
            self.dropped_readings += dropped_readings
            self.dropped_messages += dropped_messages
            self._write_meta(
                next_seq=self.next_seq,
                dropped_readings=self.dropped_readings,
                dropped_messages=self.dropped_messages,
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self.depth_messages += len(accepted)
        self.depth_readings += sum(m.reading_count for m in accepted)
        if dropped_readings and time.monotonic() - self._last_drop_log > 60:
            self._last_drop_log = time.monotonic()
            log.warning(
                "outbox %s full (%s): %d readings dropped so far", self.path, self.when_full, self.dropped_readings
            )
        return accepted

    def _drop_oldest(self, overflow: int, protected: set[int]) -> tuple[int, int]:
        """Delete the oldest unprotected rows covering ``overflow`` readings; returns (readings, messages)."""
        freed = 0
        doomed: list[int] = []
        for seq, readings in self._db.execute("SELECT seq, readings FROM message ORDER BY seq"):
            if freed >= overflow:
                break
            if seq in protected:
                continue
            doomed.append(seq)
            freed += readings
        self._db.executemany("DELETE FROM message WHERE seq = ?", ((s,) for s in doomed))
        self.depth_readings -= freed
        self.depth_messages -= len(doomed)
        return freed, len(doomed)

    def delete(self, seqs: Iterable[int]) -> int:
        """Forget acknowledged messages; returns how many rows went."""
        pending = list(seqs)
        if not pending:
            return 0
        db = self._db
        freed_readings = freed_messages = 0
        db.execute("BEGIN")
        for start in range(0, len(pending), 500):
            chunk = pending[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (readings,) in db.execute(f"DELETE FROM message WHERE seq IN ({marks}) RETURNING readings", chunk):  # noqa: S608 - only placeholders
                freed_readings += readings
                freed_messages += 1
        db.execute("COMMIT")
        self.depth_readings -= freed_readings
        self.depth_messages -= freed_messages
        return freed_messages

    def oldest(self, *, after_seq: int, limit: int) -> list[OutgoingMessage]:
        """Committed messages with seq above ``after_seq``, oldest first."""
        return [
            OutgoingMessage(seq, topic, bytes(payload), readings, oldest)
            for seq, topic, payload, readings, oldest in self._db.execute(
                "SELECT seq, topic, payload, readings, oldest_ns FROM message WHERE seq > ? ORDER BY seq LIMIT ?",
                (after_seq, limit),
            )
        ]

    def seqs(self) -> list[int]:
        return [row[0] for row in self._db.execute("SELECT seq FROM message ORDER BY seq")]

    def record_rate(self, readings_per_s: float) -> None:
        """Persist the current production rate so ``gateway status`` can state hours left."""
        self._write_meta(rate_readings_per_s=readings_per_s)

    def record_state(self, *, readings_per_s: float, connected: bool, last_ack_ns: int) -> None:
        """Persist what ``gateway status`` shows about the running gateway (rate, broker link)."""
        self._write_meta(
            rate_readings_per_s=readings_per_s,
            connected=1.0 if connected else 0.0,
            state_ns=now_ns(),
            last_ack_ns=last_ack_ns,
        )

    def stats(self) -> OutboxStats:
        return read_stats(self.path, self._db)

    def close(self) -> None:
        self._db.close()


def read_stats(path: Path, db: sqlite3.Connection | None = None) -> OutboxStats:
    """Stats of an outbox file, also from another process while the gateway runs."""
    own = db is None
    if db is None:
        if not path.exists():
            raise FileNotFoundError(f"no outbox at {path}")
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        meta = dict.fromkeys(_COUNTERS, 0.0) | dict(db.execute("SELECT key, value FROM meta").fetchall())
        count, total = db.execute("SELECT count(*), coalesce(sum(readings), 0) FROM message").fetchone()
        oldest = db.execute("SELECT min(oldest_ns) FROM message").fetchone()[0]
        max_seq = db.execute("SELECT max(seq) FROM message").fetchone()[0]
    finally:
        if own:
            db.close()
    next_seq = max(int(meta["next_seq"]), (max_seq + 1) if max_seq is not None else 0)
    return OutboxStats(
        path,
        int(count),
        int(total),
        int(oldest) if oldest is not None else None,
        next_seq,
        int(meta["dropped_readings"]),
        int(meta["dropped_messages"]),
        float(meta["rate_readings_per_s"]),
        int(meta["max_readings"]),
        bool(meta["connected"]),
        int(meta["state_ns"]),
        int(meta["last_ack_ns"]),
    )
