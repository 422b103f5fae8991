"""Checkpoints of the monitor's learned state and open alarms, so a restart neither relearns from
scratch nor re-alarms what was already alarmed.

Two files in the service's own state folder, each a pickle written by this service (never read
from elsewhere) and replaced atomically so a crash mid-write leaves the previous one intact:
``analytics-alarms.pickle`` (open incidents, cool-downs, threshold factors: small, written whenever
an alarm opens or clears) and ``analytics-state.pickle`` (the learned models: megabytes, written
every minute and on exit).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

from analytics.monitor import Monitor

__all__ = ["ALARMS_NAME", "CHECKPOINT_NAME", "load_checkpoint", "save_alarm_state", "save_checkpoint"]

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "analytics-state.pickle"
ALARMS_NAME = "analytics-alarms.pickle"
_FORMAT = 5


def _write(path: Path, state: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as file:
        pickle.dump({"format": _FORMAT, **state}, file, protocol=pickle.HIGHEST_PROTOCOL)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    return path


def _read(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        with path.open("rb") as file:
            state = pickle.load(file)  # noqa: S301 - our own file in our own state folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        logger.warning("ignoring unreadable checkpoint %s (%s)", path, exc)
        return None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        logger.warning("ignoring checkpoint %s: unknown format", path)
        return None
    return state


def save_alarm_state(state_dir: Path, monitor: Monitor) -> Path:
    """Write the open incidents, cool-downs and threshold factors (small; after every alarm change)."""
    return _write(state_dir / ALARMS_NAME, {"engine": monitor.engine, "silence_engine": monitor.silence.engine})


def save_checkpoint(state_dir: Path, monitor: Monitor) -> Path:
    """Write the learned models and the alarm state; returns the models' file."""
    save_alarm_state(state_dir, monitor)
    return _write(
        state_dir / CHECKPOINT_NAME,
        {
            "sensors": {key: (model.modes, model.last_time_ns) for key, model in monitor.sensors.items()},
            "devices": {
                path: (dm.detectors, dm.latest, dm.last_tick_ns, dm.mode, dm.mode_since_ns)
                for path, dm in monitor.devices.items()
            },
        },
    )


def load_checkpoint(state_dir: Path, monitor: Monitor) -> bool:
    """Restore checkpoints into a freshly built monitor; False when there was nothing to restore.

    Sensors no longer in the plant files are dropped; new sensors start untrained; models of other
    detectors (an upgrade changed them) are not restored. Silence clocks restart (time passed while
    the service was down is not the devices' silence).
    """
    alarms = _read(state_dir / ALARMS_NAME)
    if alarms is not None:
        monitor.engine = alarms["engine"]
        monitor.silence.engine = alarms["silence_engine"]
    models = _read(state_dir / CHECKPOINT_NAME)
    restored = 0
    for key, (modes, last_time_ns) in (models or {}).get("sensors", {}).items():
        model = monitor.sensors.get(key)
        fresh = _versions(model.detectors(None)) if model is not None else None
        if model is not None and all(_versions(detectors) == fresh for detectors in modes.values()):
            model.modes = modes
            model.last_time_ns = last_time_ns
            restored += 1
    for path, (detectors, latest, last_tick_ns, mode, mode_since_ns) in (models or {}).get("devices", {}).items():
        device = monitor.devices.get(path)
        if device is not None and set(latest) <= set(device.analog):
            device.detectors, device.latest, device.last_tick_ns = detectors, latest, last_tick_ns
            device.mode, device.mode_since_ns = mode, mode_since_ns
    if alarms is None and models is None:
        return False
    logger.info(
        "restored %d sensor model(s) and %d open alarm(s) from %s",
        restored,
        len(monitor.engine.incidents) + len(monitor.silence.engine.incidents),
        state_dir,
    )
    return True


def _versions(detectors: list[Any]) -> list[tuple[str, str]]:
    return [(d.name, d.model_version) for d in detectors]
