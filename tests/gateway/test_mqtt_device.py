"""MQTT device input: plain JSON on a device topic, mapped to sensors by the profile."""

from __future__ import annotations

import asyncio
import json

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ganlink.servers import MosquittoServer
from gateway.connectors.mqtt_device import MqttDeviceConnector, readings_from_json
from gateway.connectors.profile import MqttDeviceProfile

S = 1_000_000_000


def profile(url: str = "mqtt://127.0.0.1:1883", time_field: str | None = "ts") -> MqttDeviceProfile:
    return MqttDeviceProfile.model_validate(
        {
            "version": 1,
            "connector": "mqtt",
            "device": {"plant": "liuzhou-auto", "area": "stamping", "line": "press-line-1", "device": "press-2"},
            "connection": {"url": url, "topic": "vendor/press2/status"},
            "time_field": time_field,
            "sensors": [
                {"id": "tonnage", "field": "data.tonnage_t", "unit": "kN", "scale": 9.80665},
                {"id": "running", "field": "running", "unit": "1", "kind": "state"},
            ],
        }
    )


def test_fields_are_mapped_scaled_and_timed_from_the_payload() -> None:
    payload = json.dumps({"ts": "2026-11-27T08:00:00.500+08:00", "running": True, "data": {"tonnage_t": 1000}})
    readings, problems = readings_from_json(profile(), payload.encode(), received_ns=0)
    assert problems == []
    assert {r.sensor: r.value for r in readings} == {"tonnage": pytest.approx(9806.65), "running": 1.0}
    assert {r.time_ns for r in readings} == {1_795_737_600 * S + 500_000_000}


def test_bad_messages_and_fields_are_reported_not_guessed() -> None:
    assert readings_from_json(profile(), b"not json", 0)[1][0][1].startswith("payload is not JSON")
    assert "expected an object" in readings_from_json(profile(), b"[1, 2]", 0)[1][0][1]
    readings, problems = readings_from_json(profile(time_field=None), b'{"running": "yes", "data": {}}', 42)
    assert readings == []
    assert problems == [("running", "running is 'yes', not a finite number")]
    _, problems = readings_from_json(profile(), b'{"ts": 1.5, "running": 1}', 0)
    assert "ts" in problems[0][1]


@pytest.mark.servers
async def test_connector_turns_device_messages_into_readings(mosquitto: MosquittoServer) -> None:
    connector = MqttDeviceConnector(profile(mosquitto.url, time_field=None), client_id="dev-test-press2")
    async with connector:
        for _ in range(100):
            if connector.subscribed:
                break
            await asyncio.sleep(0.05)
        device = paho.Client(CallbackAPIVersion.VERSION2, client_id="press2")
        host, port = mosquitto.url.removeprefix("mqtt://").split(":")
        device.connect(host, int(port))
        device.loop_start()
        try:
            device.publish("vendor/press2/status", json.dumps({"running": 1, "data": {"tonnage_t": 1650.5}}), qos=1)
            device.publish("vendor/press2/status", b"garbage", qos=1)
            device.publish("vendor/press2/status", json.dumps({"running": 0}), qos=1)
            batches = connector.batches()
            first = await asyncio.wait_for(anext(batches), 10)
            second = await asyncio.wait_for(anext(batches), 10)
        finally:
            device.disconnect()
            device.loop_stop()
    assert {r.sensor: r.value for r in first} == {"tonnage": pytest.approx(1650.5 * 9.80665), "running": 1.0}
    assert [(r.sensor, r.value) for r in second] == [("running", 0.0)]
    assert connector.counters.read_errors == 1
    assert connector.counters.messages == 3
