"""Missing data, from the narrowest cause that explains it: a whole gateway (all of a plant's
devices silent at once, or its retained status says ``offline``), else a device (none of its sensors
report), else a single sensor of a live device. One alarm per cause; it clears when data returns.

The clock is the caller's (arrival time online, source time offline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from analytics.alarms import AlarmChange, AlarmEngine, Finding
from analytics.rules import SilenceWatch, sensor_silence_limit_s
from ganlink.alarms import Severity
from ganlink.assets import Sensor
from ganlink.topics import DevicePath

__all__ = ["DEVICE_SCOPE_SENSOR", "GATEWAY_SCOPE_SENSOR", "SilenceAlarm", "SilenceMonitor"]

DEVICE_SCOPE_SENSOR = "device"
"""The ``sensor`` tag of events about a whole device (it went silent, or its sensors together)."""
GATEWAY_SCOPE_SENSOR = "gateway"
"""The ``sensor`` tag of a gateway's silence event, published on its plant's first device."""


@dataclass(frozen=True, slots=True)
class SilenceAlarm:
    """A silence alarm raised or cleared, with where to publish it."""

    change: AlarmChange
    device: DevicePath
    sensor: str
    silent_s: float
    details: dict[str, Any]


def _finding(scope: str, limit_s: float) -> Finding:
    return Finding(f"silence-{scope}", "rules-1", 1.0, 0.5, Severity.MAJOR, (0.0, limit_s))


@dataclass
class SilenceMonitor:
    watch: SilenceWatch = field(default_factory=SilenceWatch)
    engine: AlarmEngine = field(default_factory=lambda: AlarmEngine(clear_after=1, clear_hold_s=0.0, cooldown_s=60.0))
    plant_devices: dict[str, list[DevicePath]] = field(default_factory=dict)
    gateways: dict[str, str] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    arrival_keys: dict[DevicePath, tuple[tuple[Any, ...], dict[str, tuple[Any, ...]]]] = field(default_factory=dict)
    """Per device, the watch keys of the device and of each sensor (the very objects the watch holds)."""

    def add_device(self, gateway: str, path: DevicePath, sensors: Sequence[Sensor]) -> None:
        self.gateways[path.plant] = gateway
        self.plant_devices.setdefault(path.plant, []).append(path)
        device_key = ("device", path)
        self.watch.watch(device_key, min(sensor_silence_limit_s(s) for s in sensors))
        sensor_keys = {}
        for sensor in sensors:
            sensor_keys[sensor.id] = key = ("sensor", path, sensor.id)
            self.watch.watch(key, sensor_silence_limit_s(sensor))
        self.arrival_keys[path] = (device_key, sensor_keys)

    def gateway_status(self, plant: str, online: bool) -> None:
        """The gateway's retained status (its Will says ``offline`` when it drops off)."""
        if online:
            self.offline.discard(plant)
        elif plant in self.gateways:
            self.offline.add(plant)

    def heard(self, device: DevicePath, sensor: str, arrived_ns: int) -> list[SilenceAlarm]:
        """Data arrived: note it, and clear the silence alarms it ends."""
        sensor_key, device_key, gateway_key = ("sensor", device, sensor), ("device", device), ("gateway", device.plant)
        self.watch.heard(sensor_key, arrived_ns)
        self.watch.heard(device_key, arrived_ns)
        self.offline.discard(device.plant)
        cleared = []
        for key in (gateway_key, device_key, sensor_key):
            if self.engine.in_alarm(key):
                change = self.engine.clear(key, arrived_ns)
                if change is not None:
                    cleared.append(self._alarm(change, key, 0.0, {}))
        return cleared

    def heard_all(self, device: DevicePath, sensors: Sequence[str], arrived_ns: int) -> None:
        """Note data from several sensors of one device while no silence alarm is open (nothing to
        clear): :meth:`heard` for each in turn (keys first seen in the same order)."""
        self.offline.discard(device.plant)
        device_key, sensor_keys = self.arrival_keys.get(device) or (("device", device), {})
        keys = [sensor_keys.get(sensor) or ("sensor", device, sensor) for sensor in sensors]
        keys.insert(1 if keys else 0, device_key)
        self.watch.heard_many(keys, arrived_ns)

    def check(self, now_ns: int) -> list[SilenceAlarm]:
        overdue = list(self.watch.overdue(now_ns))
        silent_devices = {o.key[1] for o in overdue if isinstance(o.key, tuple) and o.key[0] == "device"}
        covered: set[DevicePath] = set()
        alarms = []
        for plant, devices in self.plant_devices.items():
            known = [d for d in devices if ("device", d) in self.watch.last_seen_ns]
            all_silent = bool(known) and all(d in silent_devices for d in known)
            if plant not in self.offline and not all_silent:
                continue
            covered.update(devices)
            limit_s = min(self.watch.limits_s[("device", d)] for d in devices)
            details: dict[str, Any] = {"gateway": self.gateways[plant], "devices": [d.device for d in known or devices]}
            if plant in self.offline:
                details["status"] = "offline"
            change = self.engine.observe(("gateway", plant), now_ns, [_finding("gateway", limit_s)])
            if change is not None:
                alarms.append(self._alarm(change, ("gateway", plant), 0.0, details))
        for item in overdue:
            assert isinstance(item.key, tuple)
            scope, device = item.key[0], item.key[1]
            if device in covered or (scope == "sensor" and device in silent_devices):
                continue  # the gateway's or the device's alarm covers it
            change = self.engine.observe(item.key, now_ns, [_finding(scope, item.limit_s)])
            if change is not None:
                timing = {"silent_s": round(item.silent_s, 1), "limit_s": item.limit_s}
                alarms.append(self._alarm(change, item.key, item.silent_s, timing))
        return alarms

    def _alarm(
        self, change: AlarmChange, key: tuple[Any, ...], silent_s: float, details: dict[str, Any]
    ) -> SilenceAlarm:
        if key[0] == "gateway":
            return SilenceAlarm(change, self.plant_devices[key[1]][0], GATEWAY_SCOPE_SENSOR, silent_s, details)
        sensor = key[2] if key[0] == "sensor" else DEVICE_SCOPE_SENSOR
        return SilenceAlarm(change, key[1], sensor, silent_s, details)
