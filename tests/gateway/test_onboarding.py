"""Commissioning verdicts (pure) and the scan / commission commands against a real pymodbus device."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ganlink.cli import main
from gateway.commissioning import Sample, SensorExpectation, assess, format_report
from gateway.onboarding import candidates

if TYPE_CHECKING:
    from tests.gateway.conftest import ThreadedModbusDevice

S = 1_000_000_000


def samples(values: list[float], period_s: float = 1.0, skew_s: float = 0.0) -> list[Sample]:
    return [Sample(int(i * period_s * S), v, int((i * period_s + skew_s) * S)) for i, v in enumerate(values)]


def test_a_healthy_sensor_passes_with_a_suggested_deadband() -> None:
    values = [600 + (i % 3) * 0.5 for i in range(60)]
    report = assess(SensorExpectation("motor-current", "A", "current", 1.0, (0, 1200)), samples(values), seconds=60)
    assert report.passed
    assert report.rate_per_s == pytest.approx(1.0)
    assert report.suggested_deadband is not None
    assert report.suggested_deadband > 0


def test_values_outside_the_range_fail_and_say_what_to_check() -> None:
    expect = SensorExpectation("temp", "Cel", "temperature", 1.0, (0, 150))
    report = assess(expect, samples([20.0, 6553.5] * 30), seconds=60)
    assert not report.passed
    assert "30 of 60 values outside 0..150 Cel" in report.problems[0]
    assert "word order" in report.problems[0]


def test_too_slow_a_sensor_fails_and_a_silent_one_fails_loudly() -> None:
    slow = assess(SensorExpectation("p", "kPa", "pressure", 1.0), samples([5.0, 5.1] * 10), seconds=60)
    assert not slow.passed
    assert "expected 1.00" in slow.problems[0]
    silent = assess(SensorExpectation("p", "kPa", "pressure", 1.0), [], seconds=60)
    assert "no readings at all" in silent.problems[0]


def test_flatline_odd_unit_and_clock_skew_are_warnings() -> None:
    report = assess(
        SensorExpectation("t", "bar", "temperature", 1.0, has_source_clock=True),
        samples([42.0] * 60, skew_s=5.0),
        seconds=60,
    )
    assert report.passed
    text = " | ".join(report.warnings)
    assert "flatline: 60 identical values" in text
    assert "unusual for a temperature sensor" in text
    assert "+5.0 s" in text
    assert report.skew_ms == pytest.approx(5000)


def test_report_text_lists_each_sensor_and_the_tally() -> None:
    good = assess(SensorExpectation("a", "A", "current", 1.0), samples([1.0, 2.0, 1.5] * 20), seconds=60)
    bad = assess(SensorExpectation("b", "A", "current", 1.0), [], seconds=60)
    text = format_report("conch-cement.clinker.kiln-line-1.kiln-drive-plc", [good, bad])
    assert "a                        PASS" in text
    assert "b                        FAIL" in text
    assert text.endswith("1 of 2 sensors pass, 1 fail")


def test_scan_candidates_show_floats_in_both_word_orders() -> None:
    high, low = struct.unpack(">HH", struct.pack(">f", 612.5))
    rows = candidates([high, low, 0xFF85], start=100)
    assert rows[0].float32 == 612.5
    assert candidates([low, high], start=100)[0].float32_swapped == 612.5  # a word-swapping device
    assert rows[2].int16 == -123
    assert rows[2].float32 is None


def _profile(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "plc.yaml"
    path.write_text(
        "version: 1\nconnector: modbus\n"
        "device: {plant: conch-cement, area: clinker, line: kiln-line-1, device: kiln-drive-plc}\n"
        f"connection: {{host: 127.0.0.1, port: {port}, unit: 1, timeout_s: 1}}\n"
        "poll_period_s: 0.2\n"
        "sensors:\n"
        "  - {id: motor-current, table: holding, address: 100, type: float32, unit: A, kind: current,"
        " range: [0, 1200]}\n"
        "  - {id: bearing-temp, table: input, address: 0, type: int16, scale: 0.1, unit: Cel, kind: temperature,"
        " range: [-20, 150]}\n"
    )
    return path


def test_commission_command_passes_a_good_device_and_fails_a_wrong_scale(
    tmp_path: Path, threaded_modbus: Callable[..., ThreadedModbusDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    current = list(struct.unpack(">HH", struct.pack(">f", 612.5)))
    device = threaded_modbus(holding=current, inputs=[655], coils=[True])
    path = _profile(tmp_path, device.port)
    assert main(["gateway", "commission", str(path), "--seconds", "1.2", "--json"]) == 0
    out = capsys.readouterr().out
    verdicts = {r["sensor"]: r for r in json.loads(out.strip().splitlines()[-1])}
    assert verdicts["motor-current"]["passed"]
    assert verdicts["bearing-temp"]["passed"]
    assert "2 of 2 sensors pass" in out
    assert "flatline" in out  # the test device never changes its values
    path.write_text(path.read_text().replace("scale: 0.1", "scale: 1"))  # 655 Cel is out of range
    assert main(["gateway", "commission", str(path), "--seconds", "1.2"]) == 1
    assert "bearing-temp             FAIL" in capsys.readouterr().out


def test_commission_refuses_a_broken_profile_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _profile(tmp_path, 1)
    path.write_text(path.read_text().replace("type: int16", "type: int12"))
    assert main(["gateway", "commission", str(path), "--seconds", "1"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8" in err
    assert "sensors.1.type" in err


def test_scan_command_shows_the_registers(
    threaded_modbus: Callable[..., ThreadedModbusDevice], capsys: pytest.CaptureFixture[str]
) -> None:
    current = list(struct.unpack(">HH", struct.pack(">f", 612.5)))
    device = threaded_modbus(holding=[*current, 42, 0xFF85], inputs=[1], coils=[False])
    assert main(["gateway", "scan", f"modbus://127.0.0.1:{device.port}", "--start", "100", "--count", "4"]) == 0
    out = capsys.readouterr().out
    assert "612.5" in out
    assert "-123" in out
