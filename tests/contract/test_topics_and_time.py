"""Topic tree and source-time parsing."""

from __future__ import annotations

import pytest

from ganlink.errors import TopicError
from ganlink.timestamps import format_rfc3339, parse_source_time
from ganlink.topics import (
    DevicePath,
    deadletter_topic,
    gateway_status_topic,
    parse_device_topic,
    shared_subscription,
)


def test_device_topic_round_trips() -> None:
    device = DevicePath("liuzhou-auto", "stamping", "press-line-1", "press-3")
    assert parse_device_topic(device.telemetry_topic) == device
    assert parse_device_topic(device.anomaly_topic, "anomaly") == device
    assert device.sensor_id("tonnage") == "liuzhou-auto.stamping.press-line-1.press-3.tonnage"


@pytest.mark.parametrize(
    "topic",
    [
        "ganlink/v1/p/a/l/telemetry",
        "ganlink/v2/p/a/l/d/telemetry",
        "ganlink/v1/p/a/l/d/anomaly",
        "ganlink/v1/P/a/l/d/telemetry",
        "ganlink/v1/p/a b/l/d/telemetry",
        "ganlink/v1/p/-a/l/d/telemetry",
    ],
)
def test_foreign_or_invalid_topics_are_refused(topic: str) -> None:
    with pytest.raises(TopicError):
        parse_device_topic(topic)


def test_other_topics_follow_the_design() -> None:
    assert gateway_status_topic("p1", "gw-1") == "ganlink/v1/p1/_gateway/gw-1/status"
    assert deadletter_topic("not-json") == "ganlink/v1/_deadletter/not-json"
    assert shared_subscription("ganlink/v1/#") == "$share/collectors/ganlink/v1/#"
    with pytest.raises(ValueError, match="slug"):
        DevicePath("p", "a", "l", "D")


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("2026-11-27T09:00:00Z", 1_795_770_000_000_000_000),
        ("2026-11-27T17:00:00+08:00", 1_795_770_000_000_000_000),
        ("2026-11-27t09:00:00.123456789z", 1_795_770_000_123_456_789),
        ("2026-11-27 09:00:00.5-01:30", 1_795_770_000_500_000_000 + 5400 * 10**9),
    ],
)
def test_rfc3339_any_offset_becomes_utc_ns(text: str, expected_ns: int) -> None:
    assert parse_source_time(text) == expected_ns


def test_epoch_milliseconds_are_accepted_and_formatting_round_trips() -> None:
    assert parse_source_time(1_795_770_000_123) == 1_795_770_000_123_000_000
    assert parse_source_time(format_rfc3339(1_795_770_000_123_000_000)) == 1_795_770_000_123_000_000


@pytest.mark.parametrize("raw", ["20261127T090000Z", "2026-W48-5", "2026-11-27T09:00", 1.5e12, None, True])
def test_other_time_forms_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="ts"):
        parse_source_time(raw)
