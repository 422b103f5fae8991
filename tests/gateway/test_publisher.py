"""Publishing: per-device messages, consecutive seq, and the wire payload the collector parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganlink.errors import ConfigError
from ganlink.schema import Reading, parse_telemetry
from ganlink.settings import Settings
from ganlink.topics import DevicePath
from gateway.config import load_gateway_config, resolve_plant_file
from gateway.mqtt import parse_mqtt_url
from gateway.publisher import GatewayPublisher, group_by_device

S = 1_000_000_000
T0 = 1_795_000_000 * S
KILN = DevicePath("conch-cement", "clinker", "kiln-line-1", "rotary-kiln")
COOLER = DevicePath("conch-cement", "clinker", "kiln-line-1", "grate-cooler")


def readings(n: int) -> list[Reading]:
    return [Reading(KILN if i % 3 else COOLER, f"s-{i % 5}", T0 + i * S, float(i)) for i in range(n)]


def test_group_by_device_keeps_order_and_caps_message_size() -> None:
    chunks = group_by_device(readings(100), max_per_message=10)
    assert all(len({r.device for r in c}) == 1 and len(c) <= 10 for c in chunks)
    assert sorted(r.value for c in chunks for r in c) == [float(i) for i in range(100)]
    for chunk in chunks:
        assert [r.time_ns for r in chunk] == sorted(r.time_ns for r in chunk)
    with pytest.raises(ValueError, match="at least 1"):
        group_by_device(readings(3), max_per_message=0)


def test_messages_take_consecutive_seq_and_parse_back_to_the_same_readings() -> None:
    publisher = GatewayPublisher(
        gateway="gw-conch-1", plant="conch-cement", mqtt_url="mqtt://127.0.0.1:1", first_seq=41
    )
    source = readings(25)
    messages = publisher.build_messages(source[:12]) + publisher.build_messages(source[12:])
    assert [m.seq for m in messages] == list(range(41, 41 + len(messages)))
    assert publisher.next_seq == 41 + len(messages)
    parsed = []
    for message in messages:
        body = parse_telemetry(message.topic, message.payload, now_ns=T0 + 100 * S, max_skew_ns=3600 * S)
        assert body.gateway == "gw-conch-1"
        assert body.seq == message.seq
        assert not body.rejected
        assert message.reading_count == len(body.readings)
        parsed.extend(body.readings)
    assert sorted(parsed, key=lambda r: r.value) == source


def test_publishing_before_start_is_a_usage_error() -> None:
    publisher = GatewayPublisher(gateway="gw-1", plant="conch-cement", mqtt_url="mqtt://127.0.0.1:1")
    with pytest.raises(RuntimeError, match="start"):
        publisher.publish_nowait(readings(1))


def test_mqtt_url_is_parsed_and_bad_ones_say_why() -> None:
    url = parse_mqtt_url("mqtt://edge:s3cret@10.0.0.5:2883")
    assert (url.host, url.port, url.username, url.password) == ("10.0.0.5", 2883, "edge", "s3cret")
    assert "s3cret" not in str(url)
    assert parse_mqtt_url("mqtt://broker").port == 1883
    with pytest.raises(ConfigError, match="mqtt://host:port"):
        parse_mqtt_url("http://broker:1883")


def test_gateway_config_loads_and_env_url_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(
        "version: 1\nplant: liuzhou-auto\nseed: 3\nmqtt_url: mqtt://a:1\nfaults: {per_sensor_per_day: 5}\n"
    )
    loaded = load_gateway_config(config, Settings())
    assert (loaded.plant, loaded.seed, loaded.mqtt_url) == ("liuzhou-auto", 3, "mqtt://a:1")
    assert loaded.faults is not None
    assert loaded.faults.per_sensor_per_day == 5
    monkeypatch.setenv("GANLINK_MQTT_URL", "mqtt://b:2")
    assert load_gateway_config(config, Settings()).mqtt_url == "mqtt://b:2"
    assert resolve_plant_file(loaded.plant).plant.id == "liuzhou-auto"


def test_gateway_config_error_names_file_line_and_field(tmp_path: Path) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("version: 1\nplant: guixi-smelter\nspeed: -2\n")
    with pytest.raises(ConfigError) as caught:
        load_gateway_config(config)
    assert f"{config}:3" in str(caught.value)
    assert "speed" in str(caught.value)


def test_shipped_example_configs_are_valid() -> None:
    folder = Path(__file__).resolve().parents[2] / "deploy" / "gateway"
    configs = sorted(folder.glob("*.yaml"))
    assert len(configs) == 3
    for path in configs:
        config = load_gateway_config(path)
        assert resolve_plant_file(config.plant, path.parent).plant.gateway == config.gateway
