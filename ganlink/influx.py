"""``InfluxStore``: the time-series store over InfluxDB's v1 HTTP API (``/write``, ``/query``, ``/ping``).

Only these three endpoints are used, so InfluxDB 1.x and the v1-compatibility API of 2.x/3.x both
serve. One ``httpx.AsyncClient`` (a keep-alive pool) is owned per store. Every foreign failure is
translated here, once, into ``ganlink.errors``::

    connection refused / timeout / 5xx / 429 / missing database  -> StoreUnavailable (retry_after_s)
    401 / 403                                                     -> StoreAuthFailed
    400 / 413 / 422 on /write                                     -> WriteRejected (server's message)
    a point line protocol cannot carry (NaN, line break in a tag)  -> WriteRejected (status 400)
    a query the server refuses                                    -> StoreError

InfluxQL is built only from quoted identifiers and escaped string literals (:func:`quote_identifier`,
:func:`quote_string`), never by pasting tag values in.
"""

from __future__ import annotations

import email.utils
import json
import logging
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import httpx

from ganlink.errors import StoreAuthFailed, StoreError, StoreUnavailable, WriteRejected
from ganlink.lineprotocol import encode_events, encode_readings
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.settings import Settings
from ganlink.store import (
    ANOMALY_MEASUREMENT,
    TELEMETRY_MEASUREMENT,
    Aggregate,
    LatestValue,
    SensorKey,
    SensorSelector,
    SeriesPoint,
)
from ganlink.topics import DevicePath

__all__ = ["InfluxStore", "quote_identifier", "quote_string"]

log = logging.getLogger(__name__)

_REJECTED_STATUSES = frozenset({400, 413, 422})
_AUTH_STATUSES = frozenset({401, 403})
_QUERY_CHUNK_ROWS = 10_000
_TAG_LEVELS = ("plant", "area", "line", "device", "sensor")
MOVE_CHUNK_READINGS = 10_000  # move_series reads, writes and deletes this many readings at a time
_MOVE_RECOPIES = 5  # a chunk whose source keeps growing while it is copied is copied again, this often


def quote_identifier(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    """An InfluxQL single-quoted string literal; quotes, backslashes and newlines are escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def _selector_clause(selector: SensorSelector) -> str:
    levels = {level: getattr(selector, level) for level in _TAG_LEVELS}
    return " AND ".join(
        f"{quote_identifier(level)} = {quote_string(value)}" for level, value in levels.items() if value is not None
    )


def _select(columns: str, measurement: str, where: str, tail: str = "") -> str:
    """One SELECT statement; callers pass only quoted identifiers and escaped literals."""
    statement = f"SELECT {columns} FROM {quote_identifier(measurement)} WHERE {where}"  # noqa: S608 - parts quoted
    return f"{statement} {tail}" if tail else statement


def _time_clause(start_ns: int, end_ns: int) -> str:
    return f"time >= {int(start_ns)} AND time < {int(end_ns)}"


def _device_levels(device: DevicePath) -> tuple[str, str, str, str]:
    return (device.plant, device.area, device.line, device.device)


def _retry_after_s(response: httpx.Response) -> float | None:
    header = response.headers.get("Retry-After")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text.strip()


class InfluxStore:
    """A ``TimeSeriesStore`` on InfluxDB's v1 HTTP API; use ``async with`` or call :meth:`close`.

    ``write_lines`` is the low-level write the collector batches and bisects with; the typed
    ``write_readings``/``write_events`` encode with :mod:`ganlink.lineprotocol` and call it.
    """

    def __init__(
        self,
        url: str,
        database: str = "ganlink",
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        max_connections: int = 16,
    ) -> None:
        if token is not None and username is not None:
            raise ValueError("give an InfluxDB token or a username/password, not both")
        self.url = url.rstrip("/")
        self.database = database
        headers = {"Authorization": f"Token {token}"} if token is not None else {}
        auth = httpx.BasicAuth(username, password or "") if username is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> InfluxStore:
        """A store for ``GANLINK_INFLUX_*`` settings (``influx_url`` must be set)."""
        if settings.influx_url is None:
            raise ValueError("settings.influx_url is not set")
        return cls(
            settings.influx_url,
            settings.influx_db,
            token=settings.influx_token.get_secret_value() if settings.influx_token else None,
            username=settings.influx_username,
            password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    # -- HTTP boundary ---------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise StoreUnavailable(f"{method} {path} timed out ({type(exc).__name__})", url=self.url) from exc
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"{method} {path} failed: {exc or type(exc).__name__}", url=self.url) from exc
        status = response.status_code
        if status >= 500 or status == 429:
            raise StoreUnavailable(
                f"{method} {path} answered HTTP {status}: {_server_message(response)}",
                url=self.url,
                retry_after_s=_retry_after_s(response),
            )
        if status in _AUTH_STATUSES:
            raise StoreAuthFailed(
                f"{method} {path} refused our credentials: {_server_message(response)}", url=self.url, status=status
            )
        if status == 404:
            # A missing database: a person or ensure_database() must create it; nothing is dropped.
            raise StoreUnavailable(f"{method} {path} answered HTTP 404: {_server_message(response)}", url=self.url)
        return response

    async def ping(self) -> None:
        """Check the server answers; raises StoreUnavailable otherwise."""
        response = await self._request("GET", "/ping")
        if response.status_code != 204:
            raise StoreUnavailable(f"/ping answered HTTP {response.status_code}", url=self.url)

    async def write_lines(self, lines: Sequence[str]) -> None:
        """POST already-encoded line-protocol lines (ns precision) in one request.

        Raises WriteRejected with the server's message when it refuses (part of) the batch, so the
        caller can bisect; StoreUnavailable / StoreAuthFailed as in the module docstring.
        """
        if not lines:
            return
        try:
            body = "\n".join(lines).encode()
        except UnicodeEncodeError as exc:  # a lone surrogate, e.g. from a JSON "\ud800" escape
            raise self._unstorable(exc) from exc
        response = await self._request(
            "POST",
            "/write",
            params={"db": self.database, "precision": "ns"},
            content=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        if response.status_code in _REJECTED_STATUSES:
            raise WriteRejected(url=self.url, status=response.status_code, server_message=_server_message(response))
        if response.status_code != 204:
            raise StoreError(f"/write answered HTTP {response.status_code}: {_server_message(response)}", url=self.url)

    async def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run one InfluxQL statement; the series it returns (``name``, ``tags``, ``columns``, ``values``).

        Results come chunked and are merged, so no server row limit truncates them; times are epoch ns.
        """
        response = await self._request(
            "POST",
            "/query",
            params={"db": self.database, "epoch": "ns", "chunked": "true", "chunk_size": str(_QUERY_CHUNK_ROWS)},
            data={"q": influxql},
        )
        if response.status_code != 200:
            raise StoreError(f"query answered HTTP {response.status_code}: {_server_message(response)}", url=self.url)
        return self._merge_chunks(response.text, influxql)

    def _merge_chunks(self, body: str, influxql: str) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        # Chunks end in "\n" (escaped inside JSON strings); splitlines() would also cut at U+0085 and U+2028.
        for chunk_text in body.split("\n"):
            if not chunk_text.strip():
                continue
            try:
                chunk = json.loads(chunk_text)
            except ValueError as exc:
                raise StoreError(f"query {influxql!r} answered something not JSON: {exc}", url=self.url) from None
            if "error" in chunk:
                raise StoreError(f"query {influxql!r} failed: {chunk['error']}", url=self.url)
            for result in chunk.get("results", []):
                if "error" in result:
                    raise StoreError(f"query {influxql!r} failed: {result['error']}", url=self.url)
                for series in result.get("series", []):
                    key = (series.get("name", ""), json.dumps(series.get("tags", {}), sort_keys=True))
                    if key in merged:
                        merged[key]["values"].extend(series.get("values", []))
                    else:
                        merged[key] = {**series, "values": list(series.get("values", []))}
        return list(merged.values())

    async def ensure_database(self) -> None:
        """``CREATE DATABASE`` (a no-op when it exists).

        Servers that refuse it (a 1.x user without admin rights, 2.x/3.x v1-compat APIs whose buckets
        are mapped by an operator) get a warning, not an error: the database may well exist, and a
        write to a missing one fails loudly anyway.
        """
        try:
            await self.query(f"CREATE DATABASE {quote_identifier(self.database)}")
        except StoreAuthFailed as exc:
            log.warning("cannot create InfluxDB database %r, assuming it exists: %s", self.database, exc)
        except StoreUnavailable:
            raise
        except StoreError as exc:
            log.warning("cannot create InfluxDB database %r, assuming it exists: %s", self.database, exc)
        else:
            log.info("InfluxDB database %r ready at %s", self.database, self.url)

    async def drop_database(self) -> None:
        """``DROP DATABASE``; for tests and tools, never used by the services."""
        await self.query(f"DROP DATABASE {quote_identifier(self.database)}")

    # -- TimeSeriesStore -------------------------------------------------------------------------

    async def write_readings(self, readings: Sequence[Reading]) -> None:
        try:
            lines = encode_readings(readings)
        except ValueError as exc:
            raise self._unstorable(exc) from exc
        await self.write_lines(lines)

    async def write_events(self, events: Sequence[AnomalyEvent]) -> None:
        try:
            lines = encode_events(events)
        except ValueError as exc:
            raise self._unstorable(exc) from exc
        await self.write_lines(lines)

    def _unstorable(self, exc: ValueError) -> WriteRejected:
        # Refused like a server refusal, so the collector bisects to the one bad point and dead-letters it.
        return WriteRejected(url=self.url, status=400, server_message=f"not storable: {exc}")

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
        selector = SensorSelector(device.plant, device.area, device.line, device.device, sensor)
        where = f"{_selector_clause(selector)} AND {_time_clause(start_ns, end_ns)}"
        if bucket_ns is None:
            statement = _select('"value"', TELEMETRY_MEASUREMENT, where)
        else:
            if bucket_ns <= 0:
                raise ValueError(f"bucket_ns must be positive, got {bucket_ns}")
            function = Aggregate(aggregate).value
            statement = _select(
                f'{function}("value")', TELEMETRY_MEASUREMENT, where, f"GROUP BY time({int(bucket_ns)}ns) fill(none)"
            )
        points = [
            SeriesPoint(int(row[0]), None if row[1] is None else float(row[1]))
            for series in await self.query(statement)
            for row in series["values"]
        ]
        points.sort(key=lambda point: point.time_ns)
        return points

    async def latest(self, selector: SensorSelector, *, since_ns: int | None = None) -> list[LatestValue]:
        # last() alone as the selector: 1.x then returns the point's own time and its quality.
        where = _selector_clause(selector)
        if since_ns is not None:  # without a time bound InfluxDB opens every shard of the history
            where += f" AND time >= {int(since_ns)}"
        statement = _select(
            'last("value"), "quality"',
            TELEMETRY_MEASUREMENT,
            where,
            f"GROUP BY {', '.join(map(quote_identifier, _TAG_LEVELS))}",
        )
        latest: list[LatestValue] = []
        for series in await self.query(statement):
            tags = series["tags"]
            device = DevicePath(tags["plant"], tags["area"], tags["line"], tags["device"])
            for row in series["values"]:
                time_ns, value, quality = row[0], row[1], row[2]
                latest.append(
                    LatestValue(device, tags["sensor"], int(time_ns), float(value), Quality(int(quality or 0)))
                )
        latest.sort(key=lambda item: (*_device_levels(item.device), item.sensor))
        return latest

    async def events(
        self, selector: SensorSelector, start_ns: int, end_ns: int, *, limit: int = 1000
    ) -> list[AnomalyEvent]:
        if limit <= 0:
            return []
        columns = ("plant", "area", "line", "device", "sensor", "detector", "score", "value", "alarm_id")
        statement = _select(
            ", ".join(map(quote_identifier, columns)),
            ANOMALY_MEASUREMENT,
            f"{_selector_clause(selector)} AND {_time_clause(start_ns, end_ns)}",
            f"ORDER BY time DESC LIMIT {int(limit)}",
        )
        events: list[AnomalyEvent] = []
        for series in await self.query(statement):
            index = {name: position for position, name in enumerate(series["columns"])}
            for row in series["values"]:
                device = DevicePath(row[index["plant"]], row[index["area"]], row[index["line"]], row[index["device"]])
                events.append(
                    AnomalyEvent(
                        device=device,
                        sensor=row[index["sensor"]],
                        detector=row[index["detector"]],
                        time_ns=int(row[index["time"]]),
                        score=float(row[index["score"]]),
                        value=float(row[index["value"]]),
                        alarm_id=row[index["alarm_id"]] or "",
                    )
                )
        events.sort(key=lambda event: event.time_ns, reverse=True)
        return events[:limit]

    async def count_readings(self, selector: SensorSelector, start_ns: int, end_ns: int) -> int:
        where = f"{_selector_clause(selector)} AND {_time_clause(start_ns, end_ns)}"
        statement = _select('count("value")', TELEMETRY_MEASUREMENT, where)
        return sum(int(row[1]) for series in await self.query(statement) for row in series["values"])

    async def move_series(self, source: SensorKey, target: SensorKey, *, start_ns: int, end_ns: int) -> int:
        """Chunks of :data:`MOVE_CHUNK_READINGS` in time order: read, write to ``target``, count there,
        re-count the source span (a reading that landed meanwhile means the chunk is copied again), then
        ``DELETE`` exactly that span of exactly the source's tags."""
        if source == target:
            raise ValueError(f"cannot move {source.sensor_id} onto itself")
        source_where, target_where = (
            _selector_clause(SensorSelector(k.device.plant, k.device.area, k.device.line, k.device.device, k.sensor))
            for k in (source, target)
        )
        moved, cursor, recopies = 0, int(start_ns), 0
        while cursor < end_ns:
            statement = _select('"value", "quality"', TELEMETRY_MEASUREMENT,
                                f"{source_where} AND {_time_clause(cursor, end_ns)}",
                                f"ORDER BY time ASC LIMIT {MOVE_CHUNK_READINGS}")  # fmt: skip
            rows = [row for series in await self.query(statement) for row in series["values"]]
            if not rows:
                break
            first, last = int(rows[0][0]), int(rows[-1][0])
            await self.write_readings(
                [Reading(target.device, target.sensor, int(t), float(v), Quality(int(q or 0))) for t, v, q in rows]
            )
            span = _time_clause(first, last + 1)
            held = await self._count(f"{target_where} AND {span}")
            if held < len(rows):
                raise StoreError(f"moving {source.sensor_id} to {target.sensor_id}: {len(rows)} written but "
                                 f"{held} found in [{first}, {last}]", url=self.url)  # fmt: skip
            if await self._count(f"{source_where} AND {span}") != len(rows):
                recopies += 1
                if recopies > _MOVE_RECOPIES:
                    raise StoreError(f"moving {source.sensor_id}: readings keep arriving in [{first}, {last}]",
                                     url=self.url)  # fmt: skip
                continue
            measurement = quote_identifier(TELEMETRY_MEASUREMENT)
            await self.query(f"DELETE FROM {measurement} WHERE {source_where} AND {span}")  # noqa: S608 - quoted
            moved += len(rows)
            cursor, recopies = last + 1, 0
        return moved

    async def _count(self, where: str) -> int:
        statement = _select('count("value")', TELEMETRY_MEASUREMENT, where)
        return sum(int(row[1]) for series in await self.query(statement) for row in series["values"])
