"""Checkpoints of the monitor's learned state and open alarms, so a restart neither relearns from
scratch nor re-alarms what was already alarmed.

The file is a pickle written by this service into its own state folder (never read from elsewhere),
replaced atomically so a crash mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

from analytics.monitor import Monitor

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "save_checkpoint"]

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "analytics-state.pickle"
_FORMAT = 4


def save_checkpoint(state_dir: Path, monitor: Monitor) -> Path:
    """Write the monitor's state to ``state_dir``; returns the file written."""
    state_dir.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "format": _FORMAT,
        "sensors": {key: (model.modes, model.last_time_ns) for key, model in monitor.sensors.items()},
        "devices": {
            path: (dm.detectors, dm.latest, dm.last_tick_ns, dm.mode, dm.mode_since_ns)
            for path, dm in monitor.devices.items()
        },
        "engine": monitor.engine,
        "silence_engine": monitor.silence.engine,
    }
    path = state_dir / CHECKPOINT_NAME
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as file:
        pickle.dump(state, file, protocol=pickle.HIGHEST_PROTOCOL)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    return path


def load_checkpoint(state_dir: Path, monitor: Monitor) -> bool:
    """Restore a checkpoint into a freshly built monitor; False when there is none to restore.

    Sensors no longer in the plant files are dropped; new sensors start untrained. Silence clocks
    restart (time passed while the service was down is not the devices' silence).
    """
    path = state_dir / CHECKPOINT_NAME
    if not path.exists():
        return False
    try:
        with path.open("rb") as file:
            state = pickle.load(file)  # noqa: S301 - our own file in our own state folder
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError) as exc:
        logger.warning("ignoring unreadable checkpoint %s (%s); starting fresh", path, exc)
        return False
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        logger.warning("ignoring checkpoint %s: unknown format", path)
        return False
    restored = 0
    for key, (modes, last_time_ns) in state["sensors"].items():
        model = monitor.sensors.get(key)
        # Models of other detectors (an upgrade changed them) are not restored for that sensor.
        fresh = _versions(model.detectors(None)) if model is not None else None
        if model is not None and all(_versions(detectors) == fresh for detectors in modes.values()):
            model.modes = modes
            model.last_time_ns = last_time_ns
            restored += 1
    for path, (detectors, latest, last_tick_ns, mode, mode_since_ns) in state["devices"].items():
        device = monitor.devices.get(path)
        if device is not None and set(latest) <= set(device.analog):
            device.detectors, device.latest, device.last_tick_ns = detectors, latest, last_tick_ns
            device.mode, device.mode_since_ns = mode, mode_since_ns
    monitor.engine = state["engine"]
    monitor.silence.engine = state["silence_engine"]
    logger.info(
        "restored %d sensor model(s) and %d open alarm(s) from %s",
        restored,
        len(monitor.engine.incidents) + len(monitor.silence.engine.incidents),
        path,
    )
    return True


def _versions(detectors: list[Any]) -> list[tuple[str, str]]:
    return [(d.name, d.model_version) for d in detectors]
