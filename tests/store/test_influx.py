"""InfluxStore against a real influxd: error translation at the HTTP boundary, raw line writes, InfluxQL quoting."""

from __future__ import annotations

import email.utils
import socket
import time
import uuid

import httpx
import pytest

from ganlink.errors import StoreError, StoreUnavailable, WriteRejected
from ganlink.influx import InfluxStore, _retry_after_s, quote_identifier, quote_string
from ganlink.schema import Reading
from ganlink.servers import InfluxServer, free_port
from ganlink.store import SensorSelector, SeriesPoint
from ganlink.topics import DevicePath


def fresh_database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


S = 1_000_000_000
T0 = 1_795_770_000 * S
KILN = DevicePath("wuhu-cement", "clinker", "kiln-1", "burner")
EVERYTHING = (0, 2**62)


@pytest.mark.servers
async def test_nothing_listening_is_store_unavailable() -> None:
    async with InfluxStore(f"http://127.0.0.1:{free_port()}", "ganlink", timeout_s=2) as store:
        with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1") as caught:
            await store.write_readings([Reading(KILN, "temp", T0, 1.0)])
        with pytest.raises(StoreUnavailable):
            await store.latest(SensorSelector("wuhu-cement"))
        with pytest.raises(StoreUnavailable):
            await store.ping()
    assert caught.value.url.startswith("http://127.0.0.1:")


async def test_a_server_that_never_answers_is_store_unavailable_after_the_timeout() -> None:
    # A listening socket nobody accepts from: the connection opens, no answer ever comes.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        async with InfluxStore(url, "ganlink", timeout_s=0.3) as store:
            with pytest.raises(StoreUnavailable, match="timed out"):
                await store.write_readings([Reading(KILN, "temp", T0, 1.0)])


@pytest.mark.servers
async def test_ping_answers_on_a_live_server(influx_store: InfluxStore) -> None:
    await influx_store.ping()


@pytest.mark.servers
async def test_field_type_conflict_is_write_rejected_with_the_server_message(influx_store: InfluxStore) -> None:
    await influx_store.write_readings([Reading(KILN, "temp", T0, 1450.0)])
    # Same shard (InfluxDB checks field types per shard), so near T0.
    conflicting = f'telemetry,plant=wuhu-cement,area=clinker,line=kiln-1,device=burner,sensor=temp value="hot" {T0 + 1}'

    with pytest.raises(WriteRejected) as caught:
        await influx_store.write_lines([conflicting])

    assert caught.value.status == 400
    assert "field type conflict" in caught.value.server_message
    assert "field type conflict" in str(caught.value)


@pytest.mark.servers
async def test_unparseable_line_is_write_rejected(influx_store: InfluxStore) -> None:
    with pytest.raises(WriteRejected) as caught:
        await influx_store.write_lines(["telemetry,plant=x value=1.0 notatime"])

    assert caught.value.status == 400
    assert "unable to parse" in caught.value.server_message


@pytest.mark.servers
async def test_a_partly_rejected_batch_keeps_its_good_lines_once_the_field_exists(influx_store: InfluxStore) -> None:
    # influxd 1.6 keeps the good lines of a batch ("partial write ... dropped=1") when the field type is
    # already settled; a conflict inside the batch that first creates the field drops it whole. Either
    # way the collector bisects, and rewriting good lines is harmless because writes are idempotent.
    line = "telemetry,plant=wuhu-cement,area=clinker,line=kiln-1,device=burner,sensor=temp"
    await influx_store.write_lines([f"{line} value=1.0,quality=0i {T0}"])

    with pytest.raises(WriteRejected, match="partial write: field type conflict") as caught:
        await influx_store.write_lines([f"{line} value=1.5,quality=0i {T0 + S}", f"{line} value=2i {T0 + 2 * S}"])

    assert "dropped=1" in caught.value.server_message
    assert await influx_store.query_range(KILN, "temp", *EVERYTHING) == [SeriesPoint(T0, 1.0), SeriesPoint(T0 + S, 1.5)]


@pytest.mark.servers
async def test_writing_to_a_missing_database_is_store_unavailable_not_rejected(influxdb: InfluxServer) -> None:
    # Not WriteRejected: the collector must keep the data and retry, never bisect and dead-letter it.
    async with InfluxStore(influxdb.url, fresh_database_name()) as store:
        with pytest.raises(StoreUnavailable, match="database not found"):
            await store.write_readings([Reading(KILN, "temp", T0, 1.0)])


@pytest.mark.servers
async def test_a_query_on_a_missing_database_is_a_store_error(influxdb: InfluxServer) -> None:
    async with InfluxStore(influxdb.url, fresh_database_name()) as store:
        with pytest.raises(StoreError, match="database not found"):
            await store.count_readings(SensorSelector("wuhu-cement"), *EVERYTHING)


@pytest.mark.servers
async def test_ensure_database_twice_is_harmless(influx_store: InfluxStore) -> None:
    await influx_store.write_readings([Reading(KILN, "temp", T0, 1.0)])
    await influx_store.ensure_database()
    assert await influx_store.count_readings(SensorSelector("wuhu-cement"), *EVERYTHING) == 1


@pytest.mark.servers
async def test_latest_reports_the_points_own_time_even_in_the_future(influx_store: InfluxStore) -> None:
    soon = time.time_ns() + 1800 * S  # within the allowed clock skew of an hour
    await influx_store.write_readings([Reading(KILN, "temp", T0, 1.0), Reading(KILN, "temp", soon, 2.0)])

    [latest] = await influx_store.latest(SensorSelector("wuhu-cement"))

    assert (latest.time_ns, latest.value) == (soon, 2.0)


@pytest.mark.servers
async def test_raw_range_beyond_one_response_chunk_comes_back_whole(influx_store: InfluxStore) -> None:
    readings = [Reading(KILN, "temp", T0 + i * S, float(i)) for i in range(25_000)]
    await influx_store.write_readings(readings)

    points = await influx_store.query_range(KILN, "temp", *EVERYTHING)

    assert len(points) == 25_000
    assert points[-1] == SeriesPoint(T0 + 24_999 * S, 24_999.0)


def test_influxql_literals_escape_quotes_backslashes_and_newlines() -> None:
    assert quote_string("it's") == "'it\\'s'"
    assert quote_string("a\\b") == "'a\\\\b'"
    assert quote_string("two\nlines") == "'two\\nlines'"
    assert quote_identifier('say "hi"') == '"say \\"hi\\""'


def _response(status: int, retry_after: str | None) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": retry_after} if retry_after is not None else {})


def test_retry_after_reads_seconds_and_http_dates_and_ignores_junk() -> None:
    assert _retry_after_s(_response(503, "7")) == 7.0
    assert _retry_after_s(_response(429, None)) is None
    assert _retry_after_s(_response(429, "soon")) is None
    in_a_minute = email.utils.formatdate(time.time() + 60, usegmt=True)
    delay = _retry_after_s(_response(503, in_a_minute))
    assert delay is not None
    assert 55 <= delay <= 61


def test_token_and_password_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        InfluxStore("http://127.0.0.1:8086", token="t", username="u", password="p")


@pytest.mark.servers
async def test_a_tag_line_protocol_cannot_carry_is_write_rejected_naming_it(influx_store: InfluxStore) -> None:
    with pytest.raises(WriteRejected, match="two\\\\nlines") as caught:
        await influx_store.write_readings([Reading(KILN, "temp", T0, 1.0), Reading(KILN, "two\nlines", T0, 2.0)])

    assert caught.value.status == 400
    assert await influx_store.count_readings(SensorSelector("wuhu-cement"), *EVERYTHING) == 0
