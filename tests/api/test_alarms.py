"""Alarms: events become alarm rows; operators acknowledge, shelve, comment, label and clear them."""

from __future__ import annotations

import httpx
import pytest

from api.alarm_sync import apply_events, sync_alarms_once
from ganlink.alarms import Label
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry
from ganlink.schema import AnomalyEvent
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

S = 1_000_000_000
FURNACE = DevicePath("test-smelter", "smelting", "furnace-1", "burner-1")
PRESS = DevicePath("test-auto", "stamping", "press-line-1", "press-1")
LINE = "/api/v1/plants/test-smelter/areas/smelting/lines/furnace-1"


def _event(device: DevicePath, sensor: str, alarm_id: str, at_ns: int, state: str = "raised") -> AnomalyEvent:
    details = {"state": state, "severity": "major", "model_version": "z1", "why": "above 1500 Cel"}
    return AnomalyEvent(device, sensor, "range", at_ns, 0.97, 1580.0, alarm_id, details)


@pytest.fixture
def raised(registry: Registry) -> int:
    """Alarm ``a-gas`` on the smelter and ``a-press`` on the press line, raised a minute ago."""
    at = now_ns() - 60 * S
    apply_events(registry, [_event(FURNACE, "gas-temp", "a-gas", at), _event(PRESS, "force", "a-press", at)])
    return at


def test_raise_and_clear_events_open_and_close_an_alarm_once(registry: Registry) -> None:
    t0 = now_ns()
    raised = _event(FURNACE, "gas-temp", "a1", t0)
    assert apply_events(registry, [raised, raised]) == 1
    alarm = registry.alarm("a1")
    assert alarm is not None
    assert alarm.active
    assert (alarm.sensor_id, str(alarm.severity), alarm.model_version) == (
        "test-smelter.smelting.furnace-1.burner-1.gas-temp", "major", "z1"
    )
    cleared = _event(FURNACE, "gas-temp", "a1", t0 + 5 * S, state="cleared")
    assert apply_events(registry, [cleared]) == 1
    assert apply_events(registry, [cleared]) == 0
    after = registry.alarm("a1")
    assert after is not None
    assert after.cleared_ns == t0 + 5 * S


async def test_sync_reads_events_from_the_store(registry: Registry, store: EmbeddedStore) -> None:
    t0 = now_ns()
    await store.write_events([_event(FURNACE, "gas-temp", "from-store", t0)])
    assert await sync_alarms_once(store, registry, t0 - S, t0 + S) == 1
    assert [a.id for a in registry.alarms("test-smelter")] == ["from-store"]


async def test_line_alarms_list_newest_first_and_filter_active(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], registry: Registry
) -> None:
    t0 = now_ns() - 600 * S
    apply_events(registry, [
        _event(FURNACE, "gas-temp", "old", t0),
        _event(FURNACE, "o2", "new", t0 + 10 * S),
        _event(FURNACE, "gas-temp", "old", t0 + 20 * S, state="cleared"),
    ])
    body = (await client.get(f"{LINE}/alarms", headers=auth["viewer"])).json()
    assert [(a["id"], a["active"], a["status"]) for a in body] == [
        ("new", True, "active-unack"),
        ("old", False, "cleared-unack"),
    ]
    active = (await client.get(f"{LINE}/alarms", params={"active": "true"}, headers=auth["viewer"])).json()
    assert [a["id"] for a in active] == ["new"]


async def test_engineer_acknowledges_once_and_second_ack_conflicts(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], raised: int
) -> None:
    first = await client.post("/api/v1/alarms/a-gas/acknowledge", headers=auth["engineer"])
    assert first.status_code == 200
    assert first.json()["status"] == "active-ack"
    assert first.json()["acknowledged_by"].endswith("engineer")
    second = await client.post("/api/v1/alarms/a-gas/acknowledge", headers=auth["engineer"])
    assert second.status_code == 409
    assert "already acknowledged" in second.json()["detail"]


async def test_viewer_cannot_act_on_alarms(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], raised: int, registry: Registry
) -> None:
    response = await client.post("/api/v1/alarms/a-gas/acknowledge", headers=auth["viewer"])
    assert response.status_code == 403
    alarm = registry.alarm("a-gas")
    assert alarm is not None
    assert not alarm.acknowledged


async def test_shelve_comment_label_and_clear_are_kept_and_audited(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], raised: int, registry: Registry
) -> None:
    headers = auth["engineer"]
    shelved = (await client.post("/api/v1/alarms/a-gas/shelve", json={"minutes": 30, "reason": "burner swap"},
                                 headers=headers)).json()
    assert shelved["shelved"] is True
    assert shelved["shelved_until_ms"] > raised // 1_000_000
    await client.post("/api/v1/alarms/a-gas/comments", json={"text": "thermocouple replaced"}, headers=headers)
    labeled = (await client.put("/api/v1/alarms/a-gas/label", json={"label": "planned"}, headers=headers)).json()
    assert labeled["label"] == "planned"
    assert [c["text"] for c in labeled["comments"]] == ["shelved: burner swap", "thermocouple replaced"]
    cleared = (await client.post("/api/v1/alarms/a-gas/clear", headers=headers)).json()
    assert cleared["active"] is False
    assert registry.alarm_labels("test-smelter.smelting.furnace-1.burner-1.gas-temp") == [Label.PLANNED]
    actions = [r["action"] for r in registry.audit_records() if r["target"] == "alarm/a-gas"]
    assert actions == ["alarm-clear", "alarm-label", "alarm-comment", "alarm-shelve"]


async def test_bad_action_bodies_give_422(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], raised: int
) -> None:
    for path, body in (
        ("shelve", {"minutes": 0}),
        ("shelve", {"minutes": 10**6}),
        ("comments", {"text": ""}),
    ):
        response = await client.post(f"/api/v1/alarms/a-gas/{path}", json=body, headers=auth["engineer"])
        assert response.status_code == 422, (path, body)
    response = await client.put("/api/v1/alarms/a-gas/label", json={"label": "maybe"}, headers=auth["engineer"])
    assert response.status_code == 422


async def test_alarm_of_another_plant_is_not_found_for_a_scoped_key(
    client: httpx.AsyncClient, auth: dict[str, dict[str, str]], raised: int
) -> None:
    # No existence leak: an alarm outside the key's plants looks exactly like an unknown one.
    other = await client.get("/api/v1/alarms/a-press", headers=auth["viewer-smelter"])
    unknown = await client.get("/api/v1/alarms/no-such-alarm", headers=auth["viewer-smelter"])
    assert other.status_code == unknown.status_code == 404
    assert (await client.get("/api/v1/alarms/a-gas", headers=auth["viewer-smelter"])).status_code == 200
