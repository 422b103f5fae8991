"""The telemetry payload contract: what is stored, what is dead-lettered and why."""

from __future__ import annotations

import json

import pytest

from ganlink.errors import MessageRejected, TopicError
from ganlink.schema import (
    AnomalyEvent,
    Quality,
    Reading,
    encode_anomaly,
    encode_telemetry,
    parse_anomaly,
    parse_telemetry,
)
from ganlink.timestamps import parse_source_time
from ganlink.topics import DevicePath

DEVICE = DevicePath("guixi-smelter", "smelting", "flash-furnace-1", "burner-2")
TOPIC = DEVICE.telemetry_topic
NOW = parse_source_time("2026-11-27T09:00:00Z")
HOUR_NS = 3600 * 10**9


def parse(body: object) -> object:
    return parse_telemetry(TOPIC, json.dumps(body).encode(), now_ns=NOW, max_skew_ns=HOUR_NS)


def envelope(*readings: object) -> dict[str, object]:
    return {"v": 1, "gateway": "gw-1", "seq": 7, "readings": list(readings)}


def test_encoded_message_parses_back_to_the_same_readings() -> None:
    readings = [
        Reading(DEVICE, "gas-temp", NOW - 1_000_000, 1203.5),
        Reading(DEVICE, "o2-enrichment", NOW, 72.25, Quality.UNCERTAIN),
    ]
    message = parse_telemetry(TOPIC, encode_telemetry("gw-1", 41, readings), now_ns=NOW, max_skew_ns=HOUR_NS)
    assert message.gateway == "gw-1"
    assert message.seq == 41
    assert message.readings == readings
    assert message.rejected == []


def test_one_bad_reading_is_rejected_alone_with_its_reason() -> None:
    good = {"sensor": "gas-temp", "ts": "2026-11-27T08:59:59.5Z", "value": 1200}
    bad = {"sensor": "gas-temp", "ts": "2026-11-27T08:59:59.6Z", "value": "hot"}
    message = parse(envelope(good, bad))
    assert [r.value for r in message.readings] == [1200.0]  # type: ignore[attr-defined]
    [rejected] = message.rejected  # type: ignore[attr-defined]
    assert rejected.raw == bad
    assert "not a number" in rejected.reason


@pytest.mark.parametrize(
    ("reading", "reason_part"),
    [
        ({"sensor": "Gas Temp", "ts": 1795770000000, "value": 1.0}, "not a slug"),
        ({"sensor": "t", "ts": 1795770000000, "value": True}, "not a number"),
        ({"sensor": "t", "ts": 1795770000000, "value": float("nan")}, "not finite"),
        ({"sensor": "t", "ts": 1795770000, "value": 1.0}, "before 2000"),
        ({"sensor": "t", "ts": 1795770000000000, "value": 1.0}, "future"),
        ({"sensor": "t", "ts": 1795770000.5, "value": 1.0}, "float"),
        ({"sensor": "t", "ts": "2026-11-27", "value": 1.0}, "RFC 3339"),
        ({"sensor": "t", "ts": "2026-02-30T00:00:00Z", "value": 1.0}, "day is out of range"),
        ({"sensor": "t", "ts": 1795770000000, "value": 1.0, "quality": "ok"}, "quality"),
        ("just text", "expected an object"),
    ],
)
def test_invalid_readings_name_what_is_wrong(reading: object, reason_part: str) -> None:
    message = parse(envelope(reading))
    assert message.readings == []  # type: ignore[attr-defined]
    assert reason_part in message.rejected[0].reason  # type: ignore[attr-defined]


def test_nan_literal_in_payload_rejects_only_that_reading() -> None:
    payload = (
        b'{"v":1,"gateway":"gw-1","seq":1,"readings":['
        b'{"sensor":"a","ts":1795770000000,"value":NaN},{"sensor":"b","ts":1795770000000,"value":2}]}'
    )
    message = parse_telemetry(TOPIC, payload, now_ns=NOW, max_skew_ns=HOUR_NS)
    assert [r.sensor for r in message.readings] == ["b"]
    assert "not finite" in message.rejected[0].reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", "not-utf8"),
        (b"{not json", "not-json"),
        (b"[1, 2]", "not-object"),
        (json.dumps({"v": 2, "gateway": "gw-1", "seq": 1, "readings": [{}]}).encode(), "bad-envelope"),
        (json.dumps({"v": 1, "gateway": "GW 1", "seq": 1, "readings": [{}]}).encode(), "bad-envelope"),
        (json.dumps({"v": 1, "gateway": "gw-1", "seq": -1, "readings": [{}]}).encode(), "bad-envelope"),
        (json.dumps({"v": 1, "gateway": "gw-1", "seq": 1, "readings": []}).encode(), "bad-envelope"),
    ],
)
def test_unreadable_messages_are_rejected_whole(payload: bytes, reason: str) -> None:
    with pytest.raises(MessageRejected) as caught:
        parse_telemetry(TOPIC, payload, now_ns=NOW, max_skew_ns=HOUR_NS)
    assert caught.value.reason == reason


def test_message_on_a_foreign_topic_is_a_topic_error() -> None:
    with pytest.raises(TopicError):
        parse_telemetry("ganlink/v1/plant/telemetry", b"{}", now_ns=NOW, max_skew_ns=HOUR_NS)


def test_unknown_fields_are_ignored() -> None:
    body = envelope({"sensor": "t", "ts": 1795770000000, "value": 1.5, "extra": [1]})
    body["firmware"] = "3.1"
    message = parse(body)
    assert [r.value for r in message.readings] == [1.5]  # type: ignore[attr-defined]


def test_anomaly_event_round_trips() -> None:
    event = AnomalyEvent(DEVICE, "gas-temp", "robust-z", NOW, 0.97, 1350.0, "alm-1", {"expected": [1150, 1250]})
    assert parse_anomaly(DEVICE.anomaly_topic, encode_anomaly(event)) == event
