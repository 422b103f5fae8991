"""Reading one MQTT message: what is stored, what is dead-lettered and why."""

from __future__ import annotations

import json

from collector.dead_letter import decode_dead_letter
from collector.intake import read_message

NOW = 1_800_000_000_000_000_000
TOPIC = "ganlink/v1/guixi-smelter/smelting/flash-furnace-1/burner-2/telemetry"
SKEW = 3600 * 10**9


def _read(topic: str, payload: bytes, limit: int = 1 << 20):  # type: ignore[no-untyped-def]
    return read_message(topic, payload, now_ns=NOW, max_skew_ns=SKEW, max_payload_bytes=limit)


def test_a_bad_reading_is_dead_lettered_alone_and_the_rest_is_kept() -> None:
    body = {
        "v": 1,
        "gateway": "gw-1",
        "seq": 7,
        "readings": [
            {"sensor": "gas-temp", "ts": NOW // 1_000_000, "value": 1203.5},
            {"sensor": "gas-temp", "ts": NOW // 1_000_000 + 1, "value": "hot"},
            {"sensor": "flow", "ts": NOW // 1_000_000, "value": 3, "quality": "uncertain"},
        ],
    }
    intake = _read(TOPIC, json.dumps(body).encode())
    assert [r.sensor for r in intake.readings] == ["gas-temp", "flow"]
    assert (intake.gateway, intake.seq) == ("gw-1", 7)
    [letter] = intake.dead_letters
    assert letter.reason == "bad-reading"
    assert "not a number" in letter.detail
    replayable = json.loads(letter.payload)
    assert replayable["gateway"] == "gw-1"
    assert replayable["seq"] == 7
    assert replayable["readings"] == [body["readings"][1]]


def test_a_message_that_cannot_be_read_is_dead_lettered_whole() -> None:
    for payload, reason in ((b"\xff\xfe", "not-utf8"), (b"{nope", "not-json"), (b"[1]", "not-object")):
        intake = _read(TOPIC, payload)
        assert intake.readings == []
        [letter] = intake.dead_letters
        assert letter.reason == reason
        assert decode_dead_letter(letter.encode()).payload == payload


def test_a_payload_over_the_limit_is_dead_lettered_as_too_large() -> None:
    intake = _read(TOPIC, b"{" + b" " * 100 + b"}", limit=50)
    assert [d.reason for d in intake.dead_letters] == ["too-large"]


def test_bad_topics_and_envelopes_are_dead_lettered_with_their_reason() -> None:
    good = json.dumps({"v": 1, "gateway": "gw-1", "seq": 1, "readings": [{"sensor": "s", "ts": 1, "value": 1}]})
    assert _read("ganlink/v1/Plant/a/l/d/telemetry", good.encode()).dead_letters[0].reason == "bad-topic"
    assert _read("ganlink/v1/p/a/l/d/other", good.encode()).dead_letters[0].reason == "bad-topic"
    no_seq = json.dumps({"v": 1, "gateway": "gw-1", "readings": []}).encode()
    assert _read(TOPIC, no_seq).dead_letters[0].reason == "bad-envelope"


def test_anomaly_events_are_read_and_detector_names_must_fit_a_tag() -> None:
    topic = TOPIC.replace("/telemetry", "/anomaly")
    event = {"v": 1, "sensor": "gas-temp", "detector": "robust-z", "ts": NOW // 1_000_000, "score": 0.9, "value": 1.0}
    intake = _read(topic, json.dumps(event).encode())
    assert [e.detector for e in intake.events] == ["robust-z"]
    event["detector"] = "evil\ndetector"
    assert _read(topic, json.dumps(event).encode()).dead_letters[0].reason == "bad-envelope"


def test_a_gateway_publishing_for_another_plant_is_dead_lettered_whole() -> None:
    from collector.attribution import GatewayPlants  # noqa: PLC0415

    plants = GatewayPlants({"gw-guixi-1": "guixi-smelter"})
    limits: dict[str, int] = {"now_ns": NOW, "max_skew_ns": SKEW, "max_payload_bytes": 1 << 20}
    body = {"v": 1, "gateway": "gw-guixi-1", "seq": 1, "readings": [{"sensor": "s", "ts": NOW // 10**6, "value": 1}]}
    payload = json.dumps(body).encode()
    own = read_message(TOPIC, payload, **limits, gateway_plants=plants)
    assert len(own.readings) == 1
    other = TOPIC.replace("guixi-smelter", "liuzhou-auto")
    intake = read_message(other, payload, **limits, gateway_plants=plants)
    assert intake.readings == []
    assert [d.reason for d in intake.dead_letters] == ["wrong-plant"]
    # An undeclared gateway is bound to the first plant it publishes for.
    body["gateway"] = "gw-new"
    payload = json.dumps(body).encode()
    read_message(TOPIC, payload, **limits, gateway_plants=plants)
    again = read_message(other, payload, **limits, gateway_plants=plants)
    assert [d.reason for d in again.dead_letters] == ["wrong-plant"]
