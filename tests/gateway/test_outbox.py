"""The outbox on its own: commit before publish, persisted seq, exact drop counters, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganlink.cli import main
from ganlink.schema import Reading, parse_telemetry
from ganlink.topics import DevicePath
from gateway.outbox import Outbox, read_stats
from gateway.publisher import GatewayPublisher, OutgoingMessage, mark_historical

S = 1_000_000_000
T0 = 1_795_000_000 * S
PRESS = DevicePath("liuzhou-auto", "stamping", "press-line-1", "press-1")


def messages(publisher: GatewayPublisher, ticks: int, per_tick: int = 10) -> list[OutgoingMessage]:
    out = []
    for tick in range(ticks):
        out += publisher.build_messages(
            [Reading(PRESS, f"s-{i}", T0 + tick * S, float(tick * 100 + i)) for i in range(per_tick)]
        )
    return out


def publisher(first_seq: int = 0) -> GatewayPublisher:
    return GatewayPublisher(
        gateway="gw-test", plant="liuzhou-auto", mqtt_url="mqtt://127.0.0.1:1", first_seq=first_seq
    )


def test_seq_persists_across_reopen_and_is_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, max_readings=10_000)
    outbox.commit(messages(publisher(), 5))
    outbox.delete(outbox.seqs())  # even when everything was acknowledged and deleted
    outbox.close()
    reopened = Outbox(path, max_readings=10_000)
    assert reopened.next_seq == 5
    assert reopened.depth_messages == 0
    with pytest.raises(ValueError, match="expects seq 5"):
        reopened.commit(messages(publisher(first_seq=3), 1))
    reopened.close()


def test_committed_messages_survive_reopen_in_order(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path, max_readings=10_000)
    sent = messages(publisher(), 8)
    outbox.commit(sent)
    outbox.delete([0, 3])
    outbox.close()
    reopened = Outbox(path, max_readings=10_000)
    stored = reopened.oldest(after_seq=-1, limit=100)
    assert [m.seq for m in stored] == [1, 2, 4, 5, 6, 7]
    assert stored == [m for m in sent if m.seq not in (0, 3)]
    assert (reopened.depth_messages, reopened.depth_readings) == (6, 60)


def test_full_outbox_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=95, when_full="drop-oldest")
    source = publisher()
    for _ in range(4):  # 4 x 30 readings into room for 95
        outbox.commit(messages(source, 3))
        assert outbox.depth_readings <= 95
    kept = outbox.seqs()
    assert outbox.dropped_readings == 120 - outbox.depth_readings
    assert outbox.dropped_messages == 12 - len(kept)
    assert kept == list(range(12 - len(kept), 12))  # the newest survive
    stats = read_stats(outbox.path)
    assert (stats.dropped_readings, stats.readings, stats.next_seq) == (outbox.dropped_readings, 90, 12)


def test_drop_oldest_spares_protected_messages(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=50)
    source = publisher()
    outbox.commit(messages(source, 5))
    outbox.commit(messages(source, 2), protected=lambda: {0, 1})
    assert outbox.seqs() == [0, 1, 4, 5, 6]
    assert outbox.dropped_messages == 2


def test_drop_newest_refuses_new_messages_and_counts_them(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=50, when_full="drop-newest")
    source = publisher()
    outbox.commit(messages(source, 4))
    accepted = outbox.commit(messages(source, 3))
    assert [m.seq for m in accepted] == [4]
    assert outbox.seqs() == [0, 1, 2, 3, 4]
    assert (outbox.dropped_readings, outbox.dropped_messages, outbox.next_seq) == (20, 2, 7)


def test_status_reports_depth_age_and_hours_left(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=36_000)
    outbox.commit(messages(publisher(), 6))
    outbox.record_rate(10.0)
    stats = read_stats(outbox.path)
    assert (stats.messages, stats.readings, stats.oldest_ns) == (6, 60, T0)
    assert stats.hours_left == pytest.approx((36_000 - 60) / 10 / 3600)
    assert stats.oldest_age_s(T0 + 90 * S) == 90


def test_historical_flag_is_added_once_and_parses(tmp_path: Path) -> None:
    message = messages(publisher(), 1)[0]
    flagged = mark_historical(mark_historical(message))
    assert flagged.payload.count(b'"historical":true') == 1
    body = parse_telemetry(flagged.topic, flagged.payload, now_ns=T0, max_skew_ns=3600 * S)
    assert body.seq == message.seq
    assert len(body.readings) == 10


def test_status_command_reports_the_outbox_and_the_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outbox = Outbox(tmp_path / "o.sqlite", max_readings=1000, when_full="drop-newest")
    source = publisher()
    outbox.commit(messages(source, 120))
    outbox.record_state(readings_per_s=10.0, connected=True, last_ack_ns=0)
    outbox.close()
    assert main(["gateway", "status", "--outbox", str(tmp_path / "o.sqlite"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["depth_readings"] == 1000
    assert report["dropped_readings"] == 200
    assert report["dropped_messages"] == 20
    assert report["next_seq"] == 120
    assert report["broker_connected"] is True
    assert report["hours_left"] == 0
    assert main(["gateway", "status", "--outbox", str(tmp_path / "missing.sqlite")]) == 2
