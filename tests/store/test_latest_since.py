"""``latest(selector, since_ns=...)`` on both stores: only readings at or after the bound count."""

from __future__ import annotations

from ganlink.schema import Reading
from ganlink.store import SensorSelector
from ganlink.stores import ManagedStore
from ganlink.topics import DevicePath

S = 1_000_000_000
T0 = 1_795_770_000 * S
KILN = DevicePath("conch-cement", "clinker", "kiln-1", "burner")


async def test_latest_since_takes_the_newest_reading_inside_the_bound_and_leaves_silent_sensors_out(
    store: ManagedStore,
) -> None:
    await store.write_readings([
        Reading(KILN, "flame-temp", T0, 1400.0),
        Reading(KILN, "flame-temp", T0 + 100 * S, 1410.0),
        Reading(KILN, "fuel-flow", T0 + 10 * S, 3.5),  # silent after T0 + 10 s
    ])  # fmt: skip
    selector = SensorSelector("conch-cement")
    unbounded = {(v.sensor, v.value) for v in await store.latest(selector)}
    assert unbounded == {("flame-temp", 1410.0), ("fuel-flow", 3.5)}
    bounded = await store.latest(selector, since_ns=T0 + 50 * S)
    assert [(v.sensor, v.time_ns, v.value) for v in bounded] == [("flame-temp", T0 + 100 * S, 1410.0)]
    assert {v.sensor for v in await store.latest(selector, since_ns=T0 + 10 * S)} == {"flame-temp", "fuel-flow"}
    assert await store.latest(selector, since_ns=T0 + 101 * S) == []
