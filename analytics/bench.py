"""`ganlink bench analytics`: readings/s scored per core by the combined device detector.

Simulated plant-like devices (8 sensors each: seasonal temperatures, noisy currents, a quantized flow,
occasional steps and spikes) are generated up front as plain floats; only the detector's
score-then-learn step is timed, in CPU seconds of this one process (so "per core"). The combined
detector is the one ``analytics detect`` uses for several columns; the univariate detectors are
reported alongside for reference.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from collections.abc import Callable

from analytics.detect import choose_detector
from analytics.detectors import Detector, make_detector

__all__ = ["run", "simulated_devices"]

SENSORS = (
    "bath-temp",
    "shell-temp",
    "anode-current",
    "cell-voltage",
    "off-gas-flow",
    "feed-rate",
    "fan-vibration",
    "cooling-water-flow",
)


def simulated_devices(devices: int, readings: int, *, seed: int = 11) -> list[list[dict[str, float]]]:
    """Per device, a list of 1 s samples: sensor name -> value."""
    rng = random.Random(seed)
    fleet = []
    for device in range(devices):
        phase = rng.random() * 2 * math.pi
        samples = []
        level = 0.0
        for t in range(readings):
            if rng.random() < 1e-3:
                level += rng.choice((-1.0, 1.0)) * 3.0
            spike = 12.0 if rng.random() < 5e-4 else 0.0
            wave = math.sin(2 * math.pi * t / 600 + phase)
            samples.append(
                {
                    "bath-temp": 960.0 + 4.0 * wave + rng.gauss(0, 0.5) + level,
                    "shell-temp": 180.0 + 2.0 * wave + rng.gauss(0, 0.3),
                    "anode-current": 320.0 + rng.gauss(0, 2.0) + spike,
                    "cell-voltage": 4.1 + rng.gauss(0, 0.02),
                    "off-gas-flow": float(round(32.0 + rng.gauss(0, 0.4))),
                    "feed-rate": 12.0 + 0.5 * wave + rng.gauss(0, 0.1),
                    "fan-vibration": abs(rng.gauss(0.03, 0.005)) + device * 1e-4,
                    "cooling-water-flow": 55.0 + rng.gauss(0, 0.8),
                }
            )
        fleet.append(samples)
    return fleet


def _rate(
    build: Callable[[], Detector], fleet: list[list[dict[str, float]]], seconds: float, *, per_sensor: bool
) -> float:
    """Readings scored per CPU second, repeating passes over the fleet until ``seconds`` have run."""
    scored = 0
    spent = 0.0
    while spent < seconds or scored == 0:
        for samples in fleet:
            detector = build()
            start = time.process_time()
            if per_sensor:
                for sample in samples:
                    value = sample["bath-temp"]
                    detector.score_one(value)
                    detector.learn_one(value)
                scored += len(samples)
            else:
                for sample in samples:
                    detector.score_one(sample)
                    detector.learn_one(sample)
                scored += len(samples) * len(sample)
            spent += time.process_time() - start
            if spent >= seconds:
                break
    return scored / spent if spent > 0 else math.inf


def run(args: argparse.Namespace) -> int:
    """Measure and print; ``--json`` prints one JSON object as the last line."""
    seconds = max(float(args.seconds), 0.5)
    fleet = simulated_devices(devices=4, readings=3000)
    combined = _rate(lambda: choose_detector(None, SENSORS, 1.0), fleet, seconds, per_sensor=False)
    seasonal = _rate(lambda: make_detector("seasonal", seasons=(600,)), fleet, seconds / 4, per_sensor=True)
    shift = _rate(lambda: make_detector("shift"), fleet, seconds / 4, per_sensor=True)
    without_pca = _rate(
        lambda: make_detector("combined", univariate="shift", multivariate=""), fleet, seconds / 4, per_sensor=False
    )
    result = {
        "readings_per_s_per_core": round(combined),
        "detector": "combined: per-sensor level shift + device PCA, Bonferroni",
        "seasonal_readings_per_s": round(seasonal),
        "shift_readings_per_s": round(shift),
        "combined_without_pca_readings_per_s": round(without_pca),
        "sensors_per_device": len(SENSORS),
        "cpu_seconds": seconds,
    }
    print(f"combined detector: {result['readings_per_s_per_core']:,} readings/s per core")
    print(f"seasonal alone: {result['seasonal_readings_per_s']:,}/s")
    print(f"level shift alone: {result['shift_readings_per_s']:,}/s")
    print(f"combined without PCA: {result['combined_without_pca_readings_per_s']:,} readings/s per core")
    if args.json:
        print(json.dumps(result))
    return 0
