"""Ack ledger and sequence ledger: pure behaviour."""

from __future__ import annotations

from collector.ledger import AckLedger, AckToken, SequenceLedger


def test_ack_releases_only_completed_messages_in_arrival_order() -> None:
    ledger = AckLedger()
    connection = ledger.new_connection()
    tokens = [AckToken(connection, mid) for mid in (5, 6, 7)]
    for token in tokens:
        ledger.register(token)
    assert ledger.complete([tokens[1]]) == []  # 5 is not settled yet: 6 must wait
    assert ledger.complete([tokens[0]]) == tokens[:2]
    assert ledger.complete([tokens[2]]) == [tokens[2]]
    assert len(ledger) == 0


def test_ack_never_releases_tokens_of_an_earlier_connection() -> None:
    ledger = AckLedger()
    first = ledger.new_connection()
    old = AckToken(first, 1)
    ledger.register(old)
    second = ledger.new_connection()
    new = AckToken(second, 1)  # the broker re-sends with the same packet id
    ledger.register(new)
    assert ledger.complete([old]) == []
    assert ledger.complete([new]) == [new]


def test_sequence_counts_gaps_then_closes_them_when_late_messages_arrive() -> None:
    ledger = SequenceLedger()
    for seq in (1, 2, 5):
        ledger.observe("gw-1", seq)
    assert ledger.snapshot()["gw-1"].gaps == 2
    ledger.observe("gw-1", 3)
    state = ledger.snapshot()["gw-1"]
    assert (state.gaps, state.out_of_order, state.duplicates) == (1, 1, 0)


def test_sequence_counts_duplicates_per_gateway() -> None:
    ledger = SequenceLedger()
    for seq in (1, 2, 2, 1):
        ledger.observe("gw-1", seq)
    ledger.observe("gw-2", 1)
    assert ledger.snapshot()["gw-1"].duplicates == 2
    assert ledger.snapshot()["gw-2"].duplicates == 0
    assert ledger.totals().received == 5
