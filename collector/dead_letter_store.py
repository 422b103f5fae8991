"""The local dead-letter store (SQLite): every dead letter with its reason, for list and replay."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from collector.dead_letter import DeadLetter

__all__ = ["DeadLetterStore", "StoredDeadLetter"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    gateway TEXT,
    seq INTEGER,
    original_size INTEGER,
    replayed_ns INTEGER
);
CREATE INDEX IF NOT EXISTS dead_letter_reason ON dead_letter (reason, id);
"""


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as kept locally, with its id and when it was last replayed (if ever)."""

    id: int
    letter: DeadLetter
    replayed_ns: int | None


class DeadLetterStore:
    """Dead letters in one SQLite file; safe to open from several processes (WAL)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @property
    def path(self) -> Path:
        return self._path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path, timeout=30)) as db:
            db.execute("PRAGMA journal_mode=WAL")
            with db:
                yield db

    def add(self, letters: Sequence[DeadLetter]) -> None:
        """Keep ``letters`` durably (committed before this returns)."""
        if not letters:
            return
        rows = [
            (d.received_ns, d.reason, d.detail, d.topic, d.payload, d.gateway, d.seq, d.original_size) for d in letters
        ]
        with self._connect() as db:
            db.executemany(
                "INSERT INTO dead_letter (received_ns, reason, detail, topic, payload, gateway, seq, original_size)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def list(
        self, *, reason: str | None = None, limit: int = 100, include_replayed: bool = True, ids: Sequence[int] = ()
    ) -> list[StoredDeadLetter]:
        """Dead letters oldest first, optionally one reason only or the given ids."""
        query = "SELECT id, received_ns, reason, detail, topic, payload, gateway, seq, original_size, replayed_ns"
        query += " FROM dead_letter WHERE 1=1"
        params: list[object] = []
        if reason is not None:
            query += " AND reason = ?"
            params.append(reason)
        if not include_replayed:
            query += " AND replayed_ns IS NULL"
        if ids:
            query += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        query += " ORDER BY id LIMIT ?"
        params.append(limit)
        with self._connect() as db:
            rows = db.execute(query, params).fetchall()
        return [
            StoredDeadLetter(
                row[0],
                DeadLetter(row[2], row[3], row[4], bytes(row[5]), row[1], row[6], row[7], row[8]),
                row[9],
            )
            for row in rows
        ]

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            return dict(db.execute("SELECT reason, COUNT(*) FROM dead_letter GROUP BY reason ORDER BY reason"))

    def mark_replayed(self, ids: Sequence[int], replayed_ns: int) -> None:
        with self._connect() as db:
            db.executemany("UPDATE dead_letter SET replayed_ns = ? WHERE id = ?", [(replayed_ns, i) for i in ids])
