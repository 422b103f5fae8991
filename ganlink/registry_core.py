"""The registry's engine, transactions, schema creation and upsert, shared by its parts."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from ganlink.errors import GanlinkError
from ganlink.registry_records import SensorInfo
from ganlink.registry_tables import metadata

__all__ = ["RegistryCore", "RegistryError", "sensor_info"]


class RegistryError(GanlinkError):
    """The registry database failed; ``url`` names which one (without credentials)."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(f"{message} (registry {url})")


def sensor_info(row: Any) -> SensorInfo:
    return SensorInfo.model_validate(dict(row._mapping))


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class RegistryCore:
    """The connection, transactions and schema; the registry's parts build on it."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self._safe_url = url.rsplit("@", maxsplit=1)[-1]
        self.engine = engine or create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _enable_sqlite_pragmas)

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            message = f"{type(exc).__name__}: {exc.args[0] if exc.args else exc}"
            raise RegistryError(message, url=self._safe_url) from exc

    def create_schema(self) -> None:
        """Create missing tables and add missing nullable/defaulted columns (idempotent, additive only)."""
        with self._begin() as conn:
            metadata.create_all(conn)
            existing = inspect(conn)
            for table in metadata.sorted_tables:
                present = {c["name"] for c in existing.get_columns(table.name)}
                for column in table.columns:
                    if column.name not in present:
                        ddl = CreateColumn(column).compile(dialect=conn.dialect)
                        conn.execute(text(f'ALTER TABLE "{table.name}" ADD COLUMN {ddl}'))

    def close(self) -> None:
        self.engine.dispose()

    def _upsert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        keys = [c.name for c in table.primary_key.columns]
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(table)
        updates = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), list(rows))
