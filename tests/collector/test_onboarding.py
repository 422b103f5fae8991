"""UnknownSensorReporter without a network: what it reports and what it leaves out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from collector.onboarding import UnknownSensorReporter
from ganlink.schema import Reading
from ganlink.topics import DevicePath

S = 1_000_000_000
PUMP = DevicePath("plant-a", "area-1", "line-1", "pump-1")


class FakeRegistry:
    def __init__(self, known: set[str], rejected: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.known, self.rejected = known, set(rejected)
        self.reports: list[tuple[list[Reading], dict[str, int]]] = []

    def known_sensor_ids(self, plant: str | None = None) -> set[str]:
        return set(self.known)

    def rejected_sensor_ids(self, plant: str | None = None) -> set[str]:
        return set(self.rejected)

    def report_unknown_readings(
        self, readings: Sequence[Reading], *, seen_counts: Mapping[str, int] | None = None
    ) -> int:
        self.reports.append((list(readings), dict(seen_counts or {})))
        return len(seen_counts or {})


async def test_only_unknown_sensors_are_reported_with_oldest_newest_and_count() -> None:
    registry = FakeRegistry({PUMP.sensor_id("temp")}, rejected={PUMP.sensor_id("noise")})
    reporter = UnknownSensorReporter(registry)
    await reporter.refresh()
    reporter.observe([Reading(PUMP, "temp", 5 * S, 1.0), Reading(PUMP, "new", 7 * S, 3.0),
                      Reading(PUMP, "noise", 1 * S, 0.0), Reading(PUMP, "new", 5 * S, 2.0)])  # fmt: skip
    reporter.observe([Reading(PUMP, "new", 6 * S, 9.0)])
    assert await reporter.report() == 1
    [(summary, counts)] = registry.reports
    assert sorted((r.sensor, r.time_ns) for r in summary) == [("new", 5 * S), ("new", 7 * S)]
    assert counts == {PUMP.sensor_id("new"): 3}
    assert await reporter.report() == 0  # nothing new since
    assert len(registry.reports) == 1


async def test_approved_sensor_is_not_reported_after_a_refresh_and_the_buffer_is_capped() -> None:
    registry = FakeRegistry(set())
    reporter = UnknownSensorReporter(registry, max_sensors=2)
    await reporter.refresh()
    reporter.observe([Reading(PUMP, name, S, 1.0) for name in ("a", "b", "c")])
    await reporter.report()
    assert set(registry.reports[0][1]) == {PUMP.sensor_id("a"), PUMP.sensor_id("b")}  # "c" over the cap
    registry.known.add(PUMP.sensor_id("a"))
    await reporter.refresh()
    reporter.observe([Reading(PUMP, "a", 2 * S, 1.0)])
    await reporter.report()
    assert len(registry.reports) == 1
