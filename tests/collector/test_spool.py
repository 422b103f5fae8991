"""The disk spool keeps whole batches across restarts and gives them back oldest first."""

from __future__ import annotations

from pathlib import Path

from collector.spool import DiskSpool
from ganlink.schema import AnomalyEvent, Quality, Reading
from ganlink.topics import DevicePath

DEVICE = DevicePath("p", "a", "l", "d")


def test_batches_come_back_in_arrival_order_after_a_restart(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    first = [Reading(DEVICE, "s", 1, 1.5, Quality.UNCERTAIN)]
    second = [Reading(DEVICE, "s", 2, 2.5)]
    event = AnomalyEvent(DEVICE, "s", "robust-z", 3, 0.9, 2.5, "alarm-1")
    spool.put(first, [event], [(0, "gw-1", 7)])
    spool.put(second, [], [(0, "gw-1", 8)])
    (tmp_path / "0000000000000009.tmp").write_text("half a batch")  # a crash mid-write
    reopened = DiskSpool(tmp_path)
    assert len(reopened) == 2
    oldest = reopened.oldest()
    assert oldest is not None
    assert (oldest.readings, oldest.events, oldest.origins) == (first, [event], [(0, "gw-1", 7)])
    reopened.remove(oldest)
    reopened.put(first, [], [])  # numbering continues after what is on disk
    nxt = reopened.oldest()
    assert nxt is not None
    assert nxt.readings == second
    assert not list(tmp_path.glob("*.tmp"))
