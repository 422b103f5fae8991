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
        return f"gw-{index}"


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
        self._connected = threading.Event()
        self._client.on_connect = lambda *_args: self._connected.set()
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            self.close()
            raise TimeoutError(f"could not connect to {host}:{port}")

    def publish_all(self, messages: Iterable[tuple[str, bytes]], *, qos: int = 1, timeout_s: float = 300.0) -> int:
        infos = [self._client.publish(topic, payload, qos=qos) for topic, payload in messages]
        deadline = time.monotonic() + timeout_s
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
        if not all(info.is_published() for info in infos):
            raise TimeoutError(f"broker did not acknowledge all {len(infos)} publishes in {timeout_s:.0f}s")
        return len(infos)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
