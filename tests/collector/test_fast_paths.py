"""The collector's hot path takes shortcuts in the contract (orjson, inline reading checks, line
protocol per run of a device's readings); each must give exactly what the reference path gives."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganlink import schema
from ganlink.errors import MessageRejected
from ganlink.lineprotocol import encode_reading, encode_readings
from ganlink.schema import EARLIEST_VALID_NS, Quality, Reading
from ganlink.timestamps import format_rfc3339
from ganlink.topics import DevicePath

NOW_NS = 1_795_770_000_000_000_000
LATEST_NS = NOW_NS + 3600 * 1_000_000_000
DEVICE = DevicePath("plant-1", "area-1", "line-1", "device-1")

_near_bounds_ms = st.one_of(
    st.integers(EARLIEST_VALID_NS // 1_000_000 - 5, EARLIEST_VALID_NS // 1_000_000 + 5),
    st.integers(LATEST_NS // 1_000_000 - 5, LATEST_NS // 1_000_000 + 5),
    st.integers(EARLIEST_VALID_NS // 1_000_000, LATEST_NS // 1_000_000),
)
_timestamps = st.one_of(
    _near_bounds_ms,
    _near_bounds_ms.map(lambda ms: format_rfc3339(ms * 1_000_000)),
    st.sampled_from(
        ["2026-11-27T10:00:00+01:00", "2026-11-27 10:00:00.123456789z", "2026-02-30T00:00:00Z", "2026-11-27", ""]
    ),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(max_size=4),
)
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_sensors = st.one_of(st.sampled_from(["temp", "sensor-1", "Temp", "a b", "-x", ""]), st.text(max_size=4), st.integers())
_qualities = st.one_of(st.sampled_from(["good", "uncertain", "bad", "GOOD", ""]), st.integers(), st.lists(st.none()))
_optional_fields = {"sensor": _sensors, "value": _values, "ts": _timestamps, "quality": _qualities}
_readings = st.one_of(
    st.fixed_dictionaries({}, optional=_optional_fields),
    st.fixed_dictionaries({"sensor": st.just("temp"), "value": st.floats(-1e6, 1e6), "ts": _timestamps}),
    st.integers(),
    st.lists(st.integers(), max_size=2),
    st.none(),
)


def _checked_by_reference(raw_readings: list[Any]) -> tuple[list[Reading], list[schema.RejectedReading]]:
    readings, rejected = [], []
    for raw in raw_readings:
        checked = schema._check_reading(DEVICE, raw, EARLIEST_VALID_NS, LATEST_NS)
        if isinstance(checked, Reading):
            readings.append(checked)
        else:
            rejected.append(checked)
    return readings, rejected


@settings(max_examples=400, deadline=None)
@given(st.lists(_readings, min_size=1, max_size=8))
def test_fast_reading_checks_accept_and_reject_exactly_what_the_reference_does(raw_readings: list[Any]) -> None:
    fast = schema._check_readings(DEVICE, raw_readings, EARLIEST_VALID_NS, LATEST_NS)
    reference = _checked_by_reference(raw_readings)
    assert fast == reference
    # == says 1 == 1.0; repr also pins every field's type.
    assert repr(fast) == repr(reference)


def _outcome(load: Any, payload: bytes) -> str:
    try:
        return repr(load(payload))
    except MessageRejected as exc:
        return f"rejected {exc.reason}: {exc.detail}"


_json_leaves = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**25), 10**25),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
)
_json_documents = st.recursive(
    _json_leaves,
    lambda inner: st.lists(inner, min_size=1, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(_json_documents)
def test_fast_json_loading_reads_every_document_as_the_stdlib_parser_does(document: Any) -> None:
    # allow_nan: NaN/Infinity literals, which orjson refuses, must still come back as floats.
    payload = json.dumps(document, allow_nan=True).encode()
    assert _outcome(schema._load_json_object_fast, payload) == _outcome(schema._load_json_object, payload)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [
                b'{"a":"\\ud800"}',
                b'\xef\xbb\xbf{"a":1}',
                b'{"seq":123456789012345678901234567890}',
                b'{"a":1e400}',
                b'{"a":1,"a":2}',
                b'{"a":NaN,"b":-Infinity}',
                b'{"a":"\xff"}',
                b"[" * 2000 + b"]" * 2000,
                b'{"a":18446744073709551616}',
                b'{"a":-9223372036854775809}',
            ]
        ),
    )
)
def test_fast_json_loading_words_refusals_as_the_stdlib_parser_does(payload: bytes) -> None:
    assert _outcome(schema._load_json_object_fast, payload) == _outcome(schema._load_json_object, payload)


_devices = st.sampled_from([DEVICE, DevicePath("plant-2", "area-1", "line-1", "device-9")])
_any_readings = st.builds(
    Reading,
    _devices,
    st.one_of(st.sampled_from(["temp", "a,b=c d", "", "x\ny", "end\\"]), st.text(max_size=4)),
    st.integers(0, 2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(list(Quality)),
)


def _lines_or_error(encode: Any, readings: list[Reading]) -> list[str] | str:
    try:
        return list(encode(readings))
    except ValueError as exc:
        return f"ValueError: {exc}"


@settings(max_examples=300, deadline=None)
@given(st.lists(_any_readings, max_size=6))
def test_batch_line_encoding_matches_encoding_one_reading_at_a_time(readings: list[Reading]) -> None:
    one_by_one = _lines_or_error(lambda rs: [encode_reading(r) for r in rs], readings)
    assert _lines_or_error(encode_readings, readings) == one_by_one


def test_a_reading_built_on_the_fast_path_is_a_frozen_reading_like_any_other() -> None:
    reading = {"sensor": "temp", "ts": format_rfc3339(NOW_NS), "value": 1.5}
    payload = json.dumps({"v": 1, "gateway": "gw-1", "seq": 1, "readings": [reading]})
    (fast,) = schema.parse_telemetry(DEVICE.telemetry_topic, payload.encode(), now_ns=NOW_NS, max_skew_ns=0).readings
    reference = Reading(DEVICE, "temp", NOW_NS, 1.5, Quality.GOOD)
    assert type(fast) is Reading
    assert fast == reference
    assert hash(fast) == hash(reference)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.value = 2.0  # type: ignore[misc]
