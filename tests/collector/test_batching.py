"""Batches seal by readings, by messages (the in-flight window) and by age; messages never split."""

from __future__ import annotations

from collector.batching import BatchBuilder
from collector.intake import Intake
from collector.ledger import AckToken
from ganlink.schema import Reading
from ganlink.topics import DevicePath

DEVICE = DevicePath("p", "a", "l", "d")


def _intake(n: int, seq: int = 1) -> Intake:
    return Intake(readings=[Reading(DEVICE, "s", i, float(i)) for i in range(n)], gateway="gw-1", seq=seq)


def test_a_batch_seals_when_it_holds_enough_readings_and_keeps_messages_whole() -> None:
    sealed: list[int] = []
    builder = BatchBuilder(max_readings=5, max_messages=100, on_sealed=lambda: sealed.append(1))
    builder.add(_intake(3), AckToken(1, 1))
    assert builder.take() == []
    builder.add(_intake(3), AckToken(1, 2))
    [batch] = builder.take()
    assert len(batch.readings) == 6
    assert batch.tokens == [AckToken(1, 1), AckToken(1, 2)]
    assert batch.origins == [(0, "gw-1", 1), (3, "gw-1", 1)]
    assert sealed == [1]


def test_a_batch_seals_when_it_holds_half_the_in_flight_window_of_messages() -> None:
    builder = BatchBuilder(max_readings=10_000, max_messages=2)
    builder.add(_intake(1), AckToken(1, 1))
    builder.add(Intake(), AckToken(1, 2))  # a fully dead-lettered message still counts
    assert [len(b.tokens) for b in builder.take()] == [2]


def test_an_open_batch_seals_when_it_is_old_enough() -> None:
    now = [0.0]
    builder = BatchBuilder(max_readings=100, max_messages=100, clock=lambda: now[0])
    builder.add(_intake(1), AckToken(1, 1))
    builder.seal_aged(0.2)
    assert builder.take() == []
    now[0] = 0.25
    assert builder.age() == 0.25
    builder.seal_aged(0.2)
    assert len(builder.take()) == 1
    assert builder.age() == 0.0
