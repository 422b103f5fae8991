"""Test traffic for the benchmark and the fault tests: telemetry messages with known (gateway, seq),
published at QoS 1 as fast as the broker takes them, and landed points counted back."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from collector.mqtt_source import broker_acknowledged
from collector.stream_publisher import StreamPublisher
from ganlink.influx import InfluxStore, quote_string
from ganlink.schema import PAYLOAD_VERSION, Reading, encode_telemetry
from ganlink.timestamps import format_rfc3339
from ganlink.topics import DevicePath

__all__ = ["Publisher", "TrafficPlan", "forget_session", "missing_by_gateway_seq", "telemetry_messages"]

_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class TrafficPlan:
    """``messages`` messages of ``readings_per_message`` readings, round-robin over ``devices``
    devices each with its own gateway; reading times are unique per series, 1 ms apart."""

    messages: int
    readings_per_message: int = 20
    devices: int = 10
    plant: str = "bench-plant"
    start_ns: int = 0
    first_seq: int = 0

    @property
    def readings(self) -> int:
        return self.messages * self.readings_per_message

    def device(self, index: int) -> DevicePath:
        return DevicePath(self.plant, "area-1", "line-1", f"device-{index}")

    def gateway(self, index: int) -> str:
        return f"{self.plant}-gw-{index}"[-63:].lstrip("-")


def telemetry_messages(plan: TrafficPlan) -> Iterator[tuple[str, bytes]]:
    """(topic, payload) for every message of ``plan``; seq counts per gateway from ``first_seq``."""
    start = plan.start_ns or (time.time_ns() // _NS_PER_MS * _NS_PER_MS - 3_600_000 * _NS_PER_MS)
    sensors = [f"sensor-{i}" for i in range(plan.readings_per_message)]
    topics = [plan.device(index).telemetry_topic for index in range(plan.devices)]
    gateways = [plan.gateway(index) for index in range(plan.devices)]
    for number in range(plan.messages):
        index = number % plan.devices
        seq = plan.first_seq + number // plan.devices
        # Same body encode_telemetry builds, with the one shared timestamp formatted once.
        stamp = format_rfc3339(start + seq * _NS_PER_MS)
        value = float(seq % 1000)
        readings = [{"sensor": sensor, "ts": stamp, "value": value} for sensor in sensors]
        body = {"v": PAYLOAD_VERSION, "gateway": gateways[index], "seq": seq, "readings": readings}
        yield topics[index], json.dumps(body, separators=(",", ":")).encode()


class Publisher:
    """A paho QoS 1 publisher with a large in-flight window; ``publish_all`` blocks until all are acked."""

    def __init__(self, host: str, port: int, *, client_id: str = "", max_inflight: int = 50) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.max_queued_messages_set(0)
        # paho rescans its whole outgoing queue on every PUBACK: keep the queue at the window size.
        self._window = threading.Semaphore(max_inflight)
        self._connected = threading.Event()
        self._client.on_connect = lambda *_args: self._connected.set()
        self._client.on_publish = lambda *_args: self._window.release()
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise TimeoutError(f"could not connect to {host}:{port}")

    def publish_all(self, messages: Iterable[tuple[str, bytes]], *, qos: int = 1, timeout_s: float = 300.0) -> int:
        infos = []
        for topic, payload in messages:
            if qos:
                self._window.acquire()
            infos.append(self._client.publish(topic, payload, qos=qos))
        deadline = time.monotonic() + timeout_s
        while not all(map(broker_acknowledged, infos)) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not all(map(broker_acknowledged, infos)):
            raise TimeoutError(f"broker did not acknowledge all {len(infos)} publishes in {timeout_s:.0f}s")
        return len(infos)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def forget_session(host: str, port: int, client_id: str) -> None:
    """End a persistent session, so the broker stops queueing for a collector that is gone for good."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311, clean_session=True)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(host, port, keepalive=10)
    client.loop_start()
    connected.wait(5)
    client.disconnect()
    client.loop_stop()


def _paced(messages: Iterable[tuple[str, bytes]], rate_per_s: float) -> Iterator[tuple[str, bytes]]:
    started = time.monotonic()
    for number, message in enumerate(messages):
        due = started + number / rate_per_s
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield message


def _probes(plan: TrafficPlan, every: int) -> Iterator[tuple[str, bytes]]:
    """``plan``'s messages with, every ``every`` messages, one probe reading time-stamped now."""
    probe = DevicePath(f"{plan.plant}-probe", "area-1", "line-1", "probe")
    last_ms = 0
    for number, message in enumerate(telemetry_messages(plan)):
        yield message
        if number % every == 0:
            last_ms = max(time.time_ns() // _NS_PER_MS, last_ms + 1)
            reading = Reading(probe, "latency", last_ms * _NS_PER_MS, float(number))
            yield probe.telemetry_topic, encode_telemetry("gw-probe", number, [reading])


def main(argv: list[str] | None = None) -> int:
    """Publish a traffic plan at QoS 1 (a separate process of ``ganlink bench ingest``), lean on CPU."""
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="python -m collector.loadgen")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--messages", type=int, required=True)
    parser.add_argument("--readings", type=int, default=20)
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--plant", default="bench-plant")
    parser.add_argument("--first-seq", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s, 0 = as fast as the broker takes")
    parser.add_argument("--probe-every", type=int, default=0, help="add a now-stamped probe every N messages")
    parser.add_argument("--window", type=int, default=1000, help="QoS 1 publishes in flight at most")
    args = parser.parse_args(argv)
    plan = TrafficPlan(args.messages, args.readings, args.devices, args.plant, first_seq=args.first_seq)
    planned = _probes(plan, args.probe_every) if args.probe_every else telemetry_messages(plan)
    # Built before the clock starts unless paced: measure the broker and the collector, not our JSON.
    messages: Iterable[tuple[str, bytes]] = _paced(planned, args.rate) if args.rate > 0 else list(planned)
    publisher = StreamPublisher(args.host, args.port, window=args.window)
    started = time.time()
    print(json.dumps({"publishing": True, "started": started}), flush=True)
    count = publisher.publish_all(messages, immediate=args.rate > 0)
    finished = time.time()
    publisher.close()
    print(json.dumps({"published": count, "started": started, "finished": finished}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


async def missing_by_gateway_seq(store: InfluxStore, plan: TrafficPlan) -> list[tuple[str, int]]:
    """(gateway, seq) of every planned message with any reading not queryable in ``store``.

    Needs ``plan.start_ns`` set: a reading's time is ``start_ns + seq ms``, so its time names its seq.
    """
    if not plan.start_ns:
        raise ValueError("the plan needs a fixed start_ns to map times back to seqs")
    query = (
        'SELECT count("value") FROM "telemetry" WHERE "plant" = {plant} AND "device" = {device}'
        " GROUP BY time(1ms) FILL(none)"
    )
    missing: list[tuple[str, int]] = []
    for index in range(plan.devices):
        planned = {plan.first_seq + n // plan.devices for n in range(plan.messages) if n % plan.devices == index}
        if not planned:
            continue
        device = plan.device(index)
        lo = plan.start_ns + min(planned) * _NS_PER_MS
        hi = plan.start_ns + (max(planned) + 1) * _NS_PER_MS
        statement = query.format(plant=quote_string(plan.plant), device=quote_string(device.device))
        statement = statement.replace(" GROUP BY", f" AND time >= {lo} AND time < {hi} GROUP BY")
        rows = await store.query(statement)
        complete = {
            (int(stamp) - plan.start_ns) // _NS_PER_MS
            for series in rows
            for stamp, count in series["values"]
            if count == plan.readings_per_message
        }
        missing.extend((plan.gateway(index), seq) for seq in sorted(planned - complete))
    return missing
