"""Pick and open the configured time-series store: InfluxDB when ``GANLINK_INFLUX_URL`` is set,
otherwise the embedded SQLite store in ``GANLINK_DATA_DIR``.

``open_store(settings)`` can be awaited or used as an async context manager::

    store = await open_store(settings)          # caller closes it
    async with open_store(settings) as store:   # closed on exit
        ...
"""

from __future__ import annotations

from collections.abc import Generator
from types import TracebackType
from typing import Any, Protocol, Self

from ganlink.embedded_store import EmbeddedStore
from ganlink.influx import InfluxStore
from ganlink.settings import Settings
from ganlink.store import TimeSeriesStore

__all__ = ["ManagedStore", "OpeningStore", "open_store"]


class ManagedStore(TimeSeriesStore, Protocol):
    """A TimeSeriesStore that is also an async context manager (closes on exit)."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


async def _open(settings: Settings) -> ManagedStore:
    if settings.influx_url:
        store = InfluxStore.from_settings(settings)
        try:
            await store.ensure_database()
        except BaseException:
            await store.close()
            raise
        return store
    return await EmbeddedStore.open(settings.embedded_store_path)


class OpeningStore:
    """What :func:`open_store` returns: await it for the store, or ``async with`` it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._store: ManagedStore | None = None

    def __await__(self) -> Generator[Any, None, ManagedStore]:
        return _open(self._settings).__await__()

    async def __aenter__(self) -> ManagedStore:
        self._store = await _open(self._settings)
        return self._store

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()


def open_store(settings: Settings) -> OpeningStore:
    """The configured store (InfluxDB if ``settings.influx_url``, else embedded), opened and ready.

    InfluxDB: the database is created if missing. Embedded: the SQLite file and schema are created.
    """
    return OpeningStore(settings)
