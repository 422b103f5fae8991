"""Line protocol encoding: exact lines, escaping, refusals, and a round trip through a tiny 1.x-rules parser."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganlink.lineprotocol import (
    encode_event,
    encode_events,
    encode_reading,
    encode_readings,
    escape_string_field,
    escape_tag_value,
)
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.topics import DevicePath

FURNACE = DevicePath("guixi-smelter", "smelting", "flash-furnace-1", "burner-2")
T = 1_795_770_000_123_000_000


# -- a tiny parser following influxd 1.x's rules, to check the encoder against ---------------------


def _split_unescaped(text: str, separator: str) -> list[str]:
    """Split on ``separator`` not preceded by an escaping backslash (a backslash escapes any next char)."""
    parts, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append("".join(current))
    return parts


def _unescape_tag(text: str) -> str:
    return text.replace("\\,", ",").replace("\\=", "=").replace("\\ ", " ")


def _parse_fields(text: str) -> dict[str, object]:
    fields: dict[str, object] = {}
    index = 0
    while index < len(text):
        equals = text.index("=", index)
        key = text[index:equals]
        index = equals + 1
        if text[index] == '"':
            index += 1
            chars = []
            while text[index] != '"':
                if text[index] == "\\" and text[index + 1] in '"\\':
                    index += 1
                chars.append(text[index])
                index += 1
            fields[key] = "".join(chars)
            index += 1
        else:
            end = text.find(",", index)
            end = len(text) if end == -1 else end
            raw = text[index:end]
            fields[key] = int(raw[:-1]) if raw.endswith("i") else float(raw)
            index = end
        if index < len(text):
            assert text[index] == ","
            index += 1
    return fields


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    key_and_rest = _split_unescaped(line, " ")
    series_key = key_and_rest[0]
    timestamp = int(key_and_rest[-1])
    fields_text = line[len(series_key) + 1 : len(line) - len(key_and_rest[-1]) - 1]
    measurement, *tag_pairs = _split_unescaped(series_key, ",")
    tags = {}
    for pair in tag_pairs:
        key, value = _split_unescaped(pair, "=")
        tags[_unescape_tag(key)] = _unescape_tag(value)
    return measurement, tags, _parse_fields(fields_text), timestamp


# -- exact lines -------------------------------------------------------------------------------------


def test_a_reading_encodes_to_the_schema_line() -> None:
    line = encode_reading(Reading(FURNACE, "gas-temp", T, 1203.5, Quality.UNCERTAIN))

    assert line == (
        "telemetry,plant=guixi-smelter,area=smelting,line=flash-furnace-1,device=burner-2,sensor=gas-temp "
        "value=1203.5,quality=1i 1795770000123000000"
    )


def test_whole_number_values_stay_floats_so_the_field_type_never_changes() -> None:
    line = encode_reading(Reading(FURNACE, "count", T, 3))  # an int sneaking in must not become an integer field

    assert " value=3.0,quality=0i " in line


def test_an_event_encodes_with_detector_tag_and_escaped_alarm_id() -> None:
    line = encode_event(AnomalyEvent(FURNACE, "gas-temp", "robust z", T, 0.97, 1250.0, 'alm "7" \\ x'))

    assert line == (
        "anomaly,plant=guixi-smelter,area=smelting,line=flash-furnace-1,device=burner-2,sensor=gas-temp,"
        'detector=robust\\ z score=0.97,value=1250.0,alarm_id="alm \\"7\\" \\\\ x" 1795770000123000000'
    )


def test_batch_encoders_keep_order() -> None:
    readings = [Reading(FURNACE, "gas-temp", T + i, float(i)) for i in range(3)]
    events = [AnomalyEvent(FURNACE, "gas-temp", "z", T + i, 0.5, float(i)) for i in range(3)]

    assert encode_readings(readings) == [encode_reading(r) for r in readings]
    assert encode_events(events) == [encode_event(e) for e in events]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("gas-temp", "gas-temp"), ("a b", "a\\ b"), ("a,b", "a\\,b"), ("a=b", "a\\=b"), ("a\\b", "a\\b"), ('q"', 'q"')],
)
def test_tag_values_escape_commas_spaces_and_equals(raw: str, escaped: str) -> None:
    assert escape_tag_value(raw) == escaped


@pytest.mark.parametrize("raw", ["two\nlines", "cr\rhere", "", "ends\\", "a\\,b", "a\\ b", "a\\=b", 'a\\"b'])
def test_tag_values_that_influxdb_cannot_store_exactly_are_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="tag value") as caught:
        escape_tag_value(raw)
    if raw:
        assert repr(raw) in str(caught.value)


def test_a_line_break_in_a_sensor_name_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="gas\\\\ntemp"):
        encode_reading(Reading(FURNACE, "gas\ntemp", T, 1.0))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="not finite"):
        encode_reading(Reading(FURNACE, "gas-temp", T, bad))
    with pytest.raises(ValueError, match="not finite"):
        encode_event(AnomalyEvent(FURNACE, "gas-temp", "z", T, bad, 1.0))


def test_string_fields_escape_backslashes_and_quotes() -> None:
    assert escape_string_field('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


# -- properties -------------------------------------------------------------------------------------

tag_text = st.text(min_size=1, max_size=30)
finite = st.floats(allow_nan=False, allow_infinity=False)
times = st.integers(min_value=-(2**62), max_value=2**62)


@given(sensor=tag_text, value=finite, quality=st.sampled_from(list(Quality)), time_ns=times)
def test_readings_round_trip_through_a_1x_parser_or_are_refused(
    sensor: str, value: float, quality: Quality, time_ns: int
) -> None:
    try:
        line = encode_reading(Reading(FURNACE, sensor, time_ns, value, quality))
    except ValueError:
        assert "\n" in sensor or "\r" in sensor or "\\" in sensor
        return

    measurement, tags, fields, parsed_time = parse_line(line)

    assert measurement == "telemetry"
    assert tags == {"plant": "guixi-smelter", "area": "smelting", "line": "flash-furnace-1", "device": "burner-2"} | {
        "sensor": sensor
    }
    assert fields == {"value": value, "quality": int(quality)}
    assert isinstance(fields["value"], float)
    assert parsed_time == time_ns


@given(
    sensor=tag_text.filter(lambda s: not set(s) & set("\\\n\r")),
    detector=tag_text.filter(lambda s: not set(s) & set("\\\n\r")),
    alarm_id=st.text(max_size=40),
    score=finite,
    value=finite,
)
def test_events_round_trip_through_a_1x_parser(
    sensor: str, detector: str, alarm_id: str, score: float, value: float
) -> None:
    line = encode_event(AnomalyEvent(FURNACE, sensor, detector, T, score, value, alarm_id))

    _, tags, fields, _ = parse_line(line)

    assert (tags["sensor"], tags["detector"]) == (sensor, detector)
    assert fields == {"score": score, "value": value, "alarm_id": alarm_id}


@given(tag_text.filter(lambda s: not set(s) & set("\\\n\r")))
def test_tag_values_without_backslashes_or_line_breaks_are_always_accepted(text: str) -> None:
    assert _unescape_tag(escape_tag_value(text)) == text
