"""`ganlink analytics detect INPUT.csv OUTPUT.csv [--detector NAME]`: causal offline scoring.

Reads a recorded series (header; ``timestamp`` first, then one or more numeric columns), feeds it
row by row through a streaming detector (score, then learn) and an ``AlarmGate``, and writes
``timestamp,score,anomaly``. Output row i depends only on rows 0..i: the sampling step (for daily
and weekly seasons) is taken from the first rows only, and those rows are scored 0 while it is not
known. ``EVAL_TRAIN_ROWS`` (set by outside evaluations) marks leading rows the detector may learn
from without flagging.
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from analytics.detectors import DETECTORS, AlarmGate, Detector, make_detector, surprise
from analytics.detectors.combined import DeviceCombiner
from analytics.detectors.seasonal import SeasonalResidual
from ganlink.errors import ConfigError

__all__ = [
    "Recording",
    "check_detector_name",
    "choose_detector",
    "read_recording",
    "run",
    "score_recording",
    "seasons_for_step",
]

log = logging.getLogger(__name__)

STEP_ROWS = 24
"""Rows read before the sampling step (and so the seasons) is fixed; they are scored 0."""

DAY_S = 86_400.0
MAX_SEASON = 20_000
"""Longest season in readings a detector keeps a profile for (memory per sensor)."""

ALARM_P_VALUE = 3e-4
"""Tail probability at which an incident opens: the one threshold, the same for every series and part
(chosen inside the flat range seen on the dev set, see docs/analytics.md; never fitted per file)."""


@dataclass(frozen=True)
class Recording:
    """A recorded series: raw timestamp strings, their epoch seconds, and named value columns."""

    timestamps: list[str]
    seconds: list[float]
    columns: list[str]
    rows: list[list[float]]


def _epoch_seconds(text: str, *, path: Path, line: int) -> float:
    stripped = text.strip()
    try:
        number = float(stripped)
    except ValueError:
        pass
    else:
        return number / 1000.0 if number > 1e11 else number
    try:
        stamp = datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"timestamp {text!r} is neither ISO 8601 nor epoch", path=str(path), line=line) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def read_recording(path: Path) -> Recording:
    """Parse the input CSV; empty or non-numeric cells become NaN (the detector skips them)."""
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read input: {exc.strerror}", path=str(path)) from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header or len(header) < 2:
            raise ConfigError("need a header: timestamp, then at least one value column", path=str(path), line=1)
        timestamps: list[str] = []
        seconds: list[float] = []
        rows: list[list[float]] = []
        for line, record in enumerate(reader, start=2):
            if not record:
                continue
            timestamps.append(record[0])
            seconds.append(_epoch_seconds(record[0], path=path, line=line))
            cells = [_number(cell) for cell in record[1 : len(header)]]
            rows.append(cells + [math.nan] * (len(header) - 1 - len(cells)))
    return Recording(timestamps, seconds, [name.strip() for name in header[1:]], rows)


def _number(cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        return math.nan


def seasons_for_step(step_s: float) -> tuple[int, ...]:
    """Daily and weekly season lengths in readings for a sampling step (none if too fine or coarse)."""
    if not math.isfinite(step_s) or step_s <= 0:
        return ()
    day = round(DAY_S / step_s)
    if day < 4 or abs(day * step_s - DAY_S) > 0.01 * DAY_S:
        return ()
    return tuple(s for s in (day, 7 * day) if s <= MAX_SEASON)


def choose_detector(name: str | None, columns: Sequence[str], step_s: float) -> Detector:
    """The detector for a recording: ``seasonal`` for one column, ``combined`` for several.

    A univariate detector named for several columns runs per column inside ``combined``.
    """
    seasons = seasons_for_step(step_s)
    if name is None:
        name = "seasonal" if len(columns) == 1 else "combined"
    check_detector_name(name)
    params: dict[str, object] = {"seasons": seasons} if name == "seasonal" else {}
    if name == "seasonal" and len(columns) == 1 and seasons:
        params["step_seconds"] = step_s
    if name == "combined":
        # per-sensor level shifts plus PCA across the device's sensors (see docs/analytics.md)
        return make_detector("combined", univariate="shift", multivariate="pca")
    detector = make_detector(name, **params)
    if len(columns) > 1 and detector.univariate:
        return make_detector("combined", univariate=name, univariate_params=params, multivariate="")
    return detector


def check_detector_name(name: str | None) -> None:
    """Raise ``ConfigError`` naming the registered detectors when ``name`` is not one of them."""
    if name is not None and name not in DETECTORS:
        raise ConfigError(f"unknown detector {name!r}; known: {', '.join(sorted(DETECTORS))}")


def _observation(
    model: Detector, columns: Sequence[str], row: Sequence[float], seconds: float
) -> float | tuple[float, float] | dict[str, float]:
    if isinstance(model, SeasonalResidual) and model.step_seconds is not None:
        return (row[0], seconds)
    if model.univariate:
        return row[0]
    return dict(zip(columns, row, strict=True))


def score_recording(
    recording: Recording, *, detector: str | None = None, train_rows: int = 0
) -> Iterator[tuple[float, int]]:
    """Yield (score, flag) per row, causally: row i is scored from rows 0..i only."""
    template = AlarmGate(on=surprise(ALARM_P_VALUE))
    gates: dict[str, AlarmGate] = {}
    model: Detector | None = None
    for i, row in enumerate(recording.rows):
        if model is None:
            if i + 1 < STEP_ROWS:
                yield 0.0, 0
                continue
            steps = [b - a for a, b in zip(recording.seconds[: i + 1], recording.seconds[1 : i + 1], strict=False)]
            model = choose_detector(detector, recording.columns, statistics.median(steps) if steps else math.nan)
            log.debug("detector %r for %d columns", model, len(recording.columns))
            for past, seconds in zip(recording.rows[:i], recording.seconds[:i], strict=True):
                model.learn_one(_observation(model, recording.columns, past, seconds))
        x = _observation(model, recording.columns, row, recording.seconds[i])
        # one incident per sensor (and per device model): a sensor already in alarm masks no other
        parts = model.part_scores(x) if isinstance(model, DeviceCombiner) else {"": model.score_one(x)}
        model.learn_one(x)
        flag = False
        for part, part_score in parts.items():
            gate = gates.get(part) or gates.setdefault(part, template.clone())
            flag = gate.update(part_score) or flag
        # training rows run the gates too (an incident open when training ends is not news) but never flag
        yield max(parts.values(), default=0.0), int(flag and i >= train_rows)


def run(args: argparse.Namespace) -> int:
    """CLI entry: score ``args.input`` into ``args.output``."""
    check_detector_name(args.detector)
    recording = read_recording(Path(args.input))
    train_rows = _train_rows(os.environ.get("EVAL_TRAIN_ROWS"))
    output = Path(args.output)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("timestamp", "score", "anomaly"))
        for stamp, (score, flag) in zip(
            recording.timestamps, score_recording(recording, detector=args.detector, train_rows=train_rows), strict=True
        ):
            writer.writerow((stamp, f"{score:.9f}", flag))
    log.info("scored %d rows of %s into %s", len(recording.rows), args.input, output)
    return 0


def _train_rows(value: str | None) -> int:
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        raise ConfigError(f"EVAL_TRAIN_ROWS={value!r} is not an integer") from None
