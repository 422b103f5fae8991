"""Test traffic for the benchmark and the fault tests: telemetry messages with known (gateway, seq),
published at QoS 1 as fast as the broker takes them, and landed points counted back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from ganlink.schema import Reading, encode_telemetry
from ganlink.topics import DevicePath

__all__ = ["Publisher", "TrafficPlan", "telemetry_messages"]

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
    for number in range(plan.messages):
        index = number % plan.devices
        seq = plan.first_seq + number // plan.devices
        device = plan.device(index)
        time_ns = start + seq * _NS_PER_MS
        readings = [Reading(device, sensor, time_ns, float(seq % 1000)) for sensor in sensors]
        yield device.telemetry_topic, encode_telemetry(plan.gateway(index), seq, readings)


class Publisher:
    """A paho QoS 1 publisher with a large in-flight window; ``publish_all`` blocks until all are acked."""

    def __init__(self, host: str, port: int, *, client_id: str = "", max_inflight: int = 1000) -> None:
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
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not all(info.is_published() for info in infos):
            raise TimeoutError(f"broker did not acknowledge all {len(infos)} publishes in {timeout_s:.0f}s")
        return len(infos)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


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
    """Publish a traffic plan (used as a separate process by ``ganlink bench ingest``)."""
    import argparse  # noqa: PLC0415
    import json  # noqa: PLC0415

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
    args = parser.parse_args(argv)
    plan = TrafficPlan(args.messages, args.readings, args.devices, args.plant, first_seq=args.first_seq)
    messages = _probes(plan, args.probe_every) if args.probe_every else telemetry_messages(plan)
    if args.rate > 0:
        messages = _paced(messages, args.rate)
    publisher = Publisher(args.host, args.port)
    started = time.time()
    count = publisher.publish_all(messages, timeout_s=3600)
    finished = time.time()
    publisher.close()
    print(json.dumps({"published": count, "started": started, "finished": finished}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
