"""Alarm logic (analytics.alarms: scores -> incidents) and the alarm lifecycle (ganlink.alarms)."""

from __future__ import annotations

import pytest

from analytics.alarms import AlarmEngine, ChangeKind, Finding, alarm_id_for
from ganlink.alarms import Alarm, AlarmStatus, AlarmTransitionError, Label, Severity, sensitivity_for

S = 1_000_000_000


def _finding(score: float) -> Finding:
    return Finding("robust-z", "robust-z-1", score, 0.5, Severity.WARNING, (0.0, 1.0))


def _run(engine: AlarmEngine, scores: list[float], start_s: int = 0, key: str = "s") -> list[tuple[int, ChangeKind]]:
    changes = []
    for i, score in enumerate(scores):
        change = engine.observe(key, (start_s + i) * S, [_finding(score)] if score else [])
        if change is not None:
            changes.append((start_s + i, change.kind))
    return changes


def test_an_incident_raises_once_at_its_first_point_and_suppresses_the_rest() -> None:
    engine = AlarmEngine(clear_after=3, clear_hold_s=0, cooldown_s=0)
    changes = _run(engine, [0.1, 0.2, 0.9, 0.95, 1.0, 0.8, 0.9])
    assert changes == [(2, ChangeKind.RAISED)]
    assert engine.in_alarm("s")


def test_hysteresis_keeps_the_alarm_while_the_score_sits_between_off_and_on() -> None:
    engine = AlarmEngine(clear_after=3, clear_hold_s=0, cooldown_s=0, off_ratio=0.5)
    changes = _run(engine, [0.9] + [0.3] * 20 + [0.1, 0.1, 0.1])
    assert changes == [(0, ChangeKind.RAISED), (23, ChangeKind.CLEARED)]


def test_clearing_waits_for_the_hold_time_after_the_last_trigger() -> None:
    engine = AlarmEngine(clear_after=2, clear_hold_s=10, cooldown_s=0)
    changes = _run(engine, [0.9] + [0.0] * 15)
    assert changes == [(0, ChangeKind.RAISED), (10, ChangeKind.CLEARED)]


def test_cool_down_blocks_a_new_incident_right_after_a_clear() -> None:
    engine = AlarmEngine(clear_after=1, clear_hold_s=0, cooldown_s=30)
    changes = _run(engine, [0.9, 0.0] + [0.9, 0.0] * 10 + [0.0] * 20 + [0.9])
    assert changes == [(0, ChangeKind.RAISED), (1, ChangeKind.CLEARED), (42, ChangeKind.RAISED)]


def test_keys_are_independent() -> None:
    engine = AlarmEngine()
    assert engine.observe("a", 0, [_finding(0.9)]) is not None
    assert engine.observe("b", 0, [_finding(0.9)]) is not None
    assert engine.observe("a", S, [_finding(0.9)]) is None


def test_the_strongest_finding_names_the_alarm() -> None:
    engine = AlarmEngine()
    rule = Finding("range", "rules-1", 0.6, 0.5, Severity.CRITICAL, (0.0, 100.0))
    change = engine.observe("s", 0, [_finding(0.55), rule])
    assert change is not None
    assert change.finding.detector == "range"
    assert change.alarm_id == alarm_id_for("s", 0)


def test_a_threshold_factor_makes_a_key_less_sensitive_and_is_reversible() -> None:
    engine = AlarmEngine(clear_after=1, clear_hold_s=0, cooldown_s=0)
    engine.set_threshold_factor("s", 1.5)
    assert engine.observe("s", 0, [_finding(0.7)]) is None, "0.7 is below 0.5 x 1.5"
    change = engine.observe("s", S, [_finding(0.8)])
    assert change is not None
    assert change.threshold_factor == 1.5
    engine.clear("s", 2 * S)
    engine.set_threshold_factor("s", 1.0)
    assert engine.observe("s", 3 * S, [_finding(0.6)]) is not None
    with pytest.raises(ValueError, match="more sensitive"):
        engine.set_threshold_factor("s", 0.5)


def _alarm() -> Alarm:
    return Alarm("a1", "p.a.l.d.gas-temp", "range", "rules-1", Severity.CRITICAL, raised_ns=100)


def test_alarm_moves_through_the_four_ack_and_clear_states() -> None:
    alarm = _alarm()
    assert alarm.status is AlarmStatus.ACTIVE_UNACK
    acked = alarm.acknowledge("li.wei", 200)
    assert acked.status is AlarmStatus.ACTIVE_ACK
    assert acked.clear(300).status is AlarmStatus.CLEARED_ACK
    assert alarm.clear(300).status is AlarmStatus.CLEARED_UNACK
    assert alarm.clear(300).acknowledge("li.wei", 400).status is AlarmStatus.CLEARED_ACK
    assert alarm.status is AlarmStatus.ACTIVE_UNACK, "transitions return new records"


def test_invalid_transitions_say_why() -> None:
    alarm = _alarm()
    with pytest.raises(AlarmTransitionError, match="already acknowledged"):
        alarm.acknowledge("a", 1).acknowledge("b", 2)
    with pytest.raises(AlarmTransitionError, match="already cleared"):
        alarm.clear(200).clear(300)
    with pytest.raises(AlarmTransitionError, match="before the raise"):
        alarm.clear(50)
    with pytest.raises(AlarmTransitionError, match="future"):
        alarm.shelve("a", 200, 200)
    with pytest.raises(AlarmTransitionError, match="cleared"):
        alarm.clear(200).shelve("a", 200, 300)
    with pytest.raises(AlarmTransitionError, match="not shelved"):
        alarm.unshelve()
    with pytest.raises(AlarmTransitionError, match="empty"):
        alarm.comment("a", 200, "   ")


def test_shelving_holds_an_alarm_until_its_end_or_an_unshelve() -> None:
    shelved = _alarm().shelve("zhang", 200, 1_000)
    assert shelved.shelved(500)
    assert not shelved.shelved(1_000)
    assert not shelved.unshelve().shelved(500)


def test_comments_accumulate_and_labels_can_be_changed() -> None:
    alarm = _alarm().comment("zhang", 200, "checked thermocouple").comment("li", 300, "replaced")
    assert [c.text for c in alarm.comments] == ["checked thermocouple", "replaced"]
    labeled = alarm.set_label(Label.FALSE, "zhang")
    assert labeled.label is Label.FALSE
    assert labeled.labeled_by == "zhang"
    assert labeled.set_label(None, None).label is None


def test_sensitivity_drops_when_most_recent_alarms_are_labeled_false() -> None:
    assert sensitivity_for([Label.FALSE] * 4).factor == 1.0, "too few labels to judge"
    assert sensitivity_for([Label.FALSE] * 3 + [Label.REAL] * 3).factor == 1.0
    all_false = sensitivity_for([Label.FALSE] * 10, max_factor=1.6)
    assert all_false.factor == pytest.approx(1.6)
    assert "10 of 10" in all_false.reason
    mostly = sensitivity_for(
        [Label.REAL, Label.FALSE, Label.FALSE, Label.REAL, Label.FALSE, Label.FALSE, Label.PLANNED, None]
    )
    assert 1.0 < mostly.factor < 1.6
    assert mostly.labeled == 6, "planned and unlabeled alarms do not count"


def test_relabeling_reverses_the_sensitivity_change() -> None:
    labels = [Label.FALSE] * 8
    assert sensitivity_for(labels).factor > 1.0
    assert sensitivity_for([Label.REAL] * 8).factor == 1.0


def test_only_recent_labels_count() -> None:
    old_false_then_real = [Label.FALSE] * 30 + [Label.REAL] * 20
    assert sensitivity_for(old_false_then_real, recent=20).factor == 1.0
