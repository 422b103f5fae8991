"""InfluxDB line protocol for readings and anomaly events: pure, fast f-string encoding.

One line per point (DESIGN.md schema)::

    telemetry,plant=P,area=A,line=L,device=D,sensor=S value=1203.5,quality=0i 1795770000123000000
    anomaly,plant=P,area=A,line=L,device=D,sensor=S,detector=X score=0.97,value=1203.5,alarm_id="a-1" 17957700...

Field types never change per measurement: ``value`` and ``score`` are floats (always written with a
decimal point or exponent), ``quality`` an integer (``i`` suffix), ``alarm_id`` a string.

Escaping follows the InfluxDB 1.x parser, the strictest of the v1-API servers: in tag values commas,
spaces and equals signs are backslash-escaped; in string fields double quotes and backslashes are.
What 1.x cannot store exactly raises ValueError naming the offender instead of being written wrong:
newlines or an empty string in a tag value, a backslash at the end of a tag value or before a
character that needs escaping, and non-finite numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.store import ANOMALY_MEASUREMENT, TELEMETRY_MEASUREMENT
from ganlink.topics import DevicePath

__all__ = [
    "encode_event",
    "encode_events",
    "encode_reading",
    "encode_readings",
    "escape_string_field",
    "escape_tag_value",
]

_QUALITY_FIELD = {quality: f"{int(quality)}i" for quality in Quality}
_TAG_SPECIALS = frozenset(", =")
# A literal backslash before one of these (or at the end) reads back as an escape in 1.x.
_TAG_UNESCAPED_AFTER_BACKSLASH = frozenset(',= "')


@lru_cache(maxsize=65536)
def escape_tag_value(value: str) -> str:
    """A tag value escaped for line protocol; ValueError when 1.x cannot store it exactly."""
    if not value:
        raise ValueError("tag value is empty (InfluxDB drops empty tags)")
    if "\n" in value or "\r" in value:
        raise ValueError(f"tag value {value!r} contains a line break, which line protocol cannot carry")
    if "\\" in value:
        _check_backslashes(value)
    if _TAG_SPECIALS.isdisjoint(value):
        return value
    return value.replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _check_backslashes(value: str) -> None:
    for index, char in enumerate(value):
        if char != "\\":
            continue
        following = value[index + 1 : index + 2]
        if not following or following in _TAG_UNESCAPED_AFTER_BACKSLASH:
            raise ValueError(
                f"tag value {value!r} has a backslash at position {index} that InfluxDB 1.x would read as an escape"
            )


def escape_string_field(value: str) -> str:
    """A string field value, quoted, with backslashes and double quotes escaped."""
    if "\\" in value or '"' in value:
        value = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{value}"'


def _float_text(value: float) -> str:
    """Shortest exact repr; '' for NaN and infinities, the only reprs not ending in a digit."""
    text = repr(float(value))
    return "" if text[-1] in "nf" else text


def _not_finite(what: str, value: float, sensor_id: str) -> ValueError:
    return ValueError(f"{what} {value!r} of {sensor_id} is not finite; line protocol cannot carry it")


def encode_reading(reading: Reading) -> str:
    """One ``telemetry`` line for ``reading`` (nanosecond timestamp)."""
    device = reading.device
    value = _float_text(reading.value)
    if not value:
        raise _not_finite("value", reading.value, reading.sensor_id)
    # plant/area/line/device are slugs (DevicePath validates them), so only the sensor needs escaping.
    return (
        f"{TELEMETRY_MEASUREMENT},plant={device.plant},area={device.area},line={device.line},"
        f"device={device.device},sensor={escape_tag_value(reading.sensor)} "
        f"value={value},quality={_QUALITY_FIELD[reading.quality]} {int(reading.time_ns)}"
    )


def _device_tags(device: DevicePath) -> str:
    return f"{TELEMETRY_MEASUREMENT},plant={device.plant},area={device.area},line={device.line},device={device.device}"


_QUALITY_TAIL = {quality: f",quality={field} " for quality, field in _QUALITY_FIELD.items()}
_PREFIXES_PER_DEVICE = 4096  # sensors whose line start is kept per device (ids come off the wire)


@lru_cache(maxsize=4096)
def _line_starts(device: DevicePath) -> dict[str, str]:
    """sensor -> the start of its telemetry lines up to ``value=``, filled in by :func:`encode_readings`."""
    return {}


def encode_readings(readings: Iterable[Reading]) -> list[str]:
    """Lines for many readings, in order; the same lines as :func:`encode_reading` gives one by one."""
    lines: list[str] = []
    append = lines.append
    device: DevicePath | None = None
    starts: dict[str, str] = {}
    tails = _QUALITY_TAIL
    last_time: int | None = None
    time_text = ""
    for reading in readings:
        # A message's readings share one DevicePath object: its cache is looked up once per run of them.
        if reading.device is not device:
            device = reading.device
            starts = _line_starts(device)
        value = reading.value
        text = repr(value if type(value) is float else float(value))
        if text[-1] in "nf":  # nan, inf, -inf: the only reprs not ending in a digit
            raise _not_finite("value", reading.value, reading.sensor_id)
        start = starts.get(reading.sensor)
        if start is None:
            start = f"{_device_tags(device)},sensor={escape_tag_value(reading.sensor)} value="
            if len(starts) < _PREFIXES_PER_DEVICE:
                starts[reading.sensor] = start
        time_ns = reading.time_ns
        if time_ns != last_time:  # a message's readings usually share one source time
            last_time, time_text = time_ns, str(int(time_ns))
        append(f"{start}{text}{tails[reading.quality]}{time_text}")
    return lines


def encode_event(event: AnomalyEvent) -> str:
    """One ``anomaly`` line for ``event``; ``details`` are not stored (not in the schema)."""
    device = event.device
    score, value = _float_text(event.score), _float_text(event.value)
    if not (score and value):
        what, number = ("score", event.score) if not score else ("value", event.value)
        raise _not_finite(what, number, device.sensor_id(event.sensor))
    return (
        f"{ANOMALY_MEASUREMENT},plant={device.plant},area={device.area},line={device.line},"
        f"device={device.device},sensor={escape_tag_value(event.sensor)},"
        f"detector={escape_tag_value(event.detector)} "
        f"score={score},value={value},alarm_id={escape_string_field(event.alarm_id)} {int(event.time_ns)}"
    )


def encode_events(events: Iterable[AnomalyEvent]) -> list[str]:
    """Lines for many anomaly events, in order."""
    return [encode_event(event) for event in events]
