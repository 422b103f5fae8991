"""GatewayPlants: which plant a gateway may publish for (declared, learned on first sight, or as the
registry stores it), and GatewayBindingSync keeping it in step with a real SQLite registry."""

from __future__ import annotations

import logging
import threading

import pytest

from collector.attribution import GatewayBindingSync, GatewayPlants
from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.registry import Registry

from .conftest import plant_info


def test_a_declared_gateway_may_publish_only_for_its_plant() -> None:
    plants = GatewayPlants({"gw-1": "plant-a"})
    assert plants.mismatch("gw-1", "plant-a") is None
    reason = plants.mismatch("gw-1", "plant-b")
    assert reason is not None
    assert "'plant-a'" in reason
    assert "plant file" in reason
    assert plants.unsaved() == {}  # declared bindings are nothing to persist


def test_an_undeclared_gateway_is_bound_to_the_first_plant_it_publishes_for() -> None:
    plants = GatewayPlants()
    assert plants.mismatch("gw-x", "plant-a") is None
    assert plants.mismatch("gw-x", "plant-a") is None
    reason = plants.mismatch("gw-x", "plant-b")
    assert reason is not None
    assert "'plant-a'" in reason
    assert plants.unsaved() == {"gw-x": "plant-a"}


def test_the_bundled_plant_files_declare_their_gateways() -> None:
    plants = GatewayPlants.from_plant_files(bundled_plant_files())
    for path in bundled_plant_files():
        plant = load_plant_file(path).plant
        assert plants.mismatch(plant.gateway, plant.id) is None
        assert plants.mismatch(plant.gateway, "some-other-plant") is not None


def test_first_sight_from_many_threads_binds_one_plant() -> None:
    plants = GatewayPlants()
    results: list[str | None] = []
    barrier = threading.Barrier(8)

    def publish(plant: str) -> None:
        barrier.wait()
        results.append(plants.mismatch("gw-x", plant))

    threads = [threading.Thread(target=publish, args=(f"plant-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(None) == 1
    assert len(plants.unsaved()) == 1


def test_apply_follows_the_registry_and_warns_when_this_collector_lost_the_race(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plants = GatewayPlants({"gw-file": "plant-file"})
    assert plants.mismatch("gw-x", "plant-a") is None  # this collector saw gw-x first for plant-a
    assert plants.mismatch("gw-y", "plant-c") is None  # and gw-y, which the registry has not answered yet
    with caplog.at_level(logging.WARNING, logger="collector.attribution"):
        plants.apply({"gw-x": "plant-b", "gw-new": "plant-n"})  # another collector bound gw-x to plant-b first
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    message = caplog.records[0].getMessage()
    assert "'gw-x'" in message
    assert "'plant-a'" in message
    assert "'plant-b'" in message
    reason = plants.mismatch("gw-x", "plant-a")
    assert reason is not None
    assert "'plant-b'" in reason
    assert "registry" in reason
    assert plants.mismatch("gw-x", "plant-b") is None
    assert plants.mismatch("gw-new", "plant-n") is None
    assert plants.mismatch("gw-y", "plant-d") is not None  # the unanswered local binding still holds
    assert plants.unsaved() == {"gw-y": "plant-c"}
    # Once a registry answers, it is the source of truth: the plant file's binding is not consulted.
    assert plants.mismatch("gw-file", "plant-other") is None


def test_apply_of_the_same_binding_is_silent_and_clears_it_from_unsaved(caplog: pytest.LogCaptureFixture) -> None:
    plants = GatewayPlants()
    plants.mismatch("gw-x", "plant-a")
    with caplog.at_level(logging.WARNING, logger="collector.attribution"):
        plants.apply({"gw-x": "plant-a"})
    assert caplog.records == []
    assert plants.unsaved() == {}
    assert plants.mismatch("gw-x", "plant-b") is not None


async def test_sync_persists_first_sight_bindings_and_a_restarted_collector_loads_them(registry: Registry) -> None:
    first = GatewayPlants()
    sync = GatewayBindingSync(registry, first, collector="collector-1")
    await sync.refresh()
    assert first.mismatch("gw-x", "plant-a") is None
    assert await sync.persist() == 1
    assert await sync.persist() == 0  # nothing new: no registry call
    assert registry.gateway_bindings() == {"gw-x": "plant-a"}

    restarted = GatewayPlants()
    await GatewayBindingSync(registry, restarted, collector="collector-1").refresh()
    assert restarted.mismatch("gw-x", "plant-b") is not None
    assert restarted.mismatch("gw-x", "plant-a") is None
    assert restarted.unsaved() == {}


async def test_two_collectors_on_one_registry_end_up_with_the_first_writers_binding(registry_url: str) -> None:
    registries = [Registry(registry_url), Registry(registry_url)]
    registries[0].create_schema()
    plants_a, plants_b = GatewayPlants(), GatewayPlants()
    sync_a = GatewayBindingSync(registries[0], plants_a, collector="collector-a")
    sync_b = GatewayBindingSync(registries[1], plants_b, collector="collector-b")
    # Each saw gw-x first, for different plants, before either wrote to the registry.
    assert plants_a.mismatch("gw-x", "plant-a") is None
    assert plants_b.mismatch("gw-x", "plant-b") is None
    await sync_a.persist()
    await sync_b.persist()  # lost: learns plant-a
    assert plants_b.mismatch("gw-x", "plant-b") is not None
    assert plants_b.mismatch("gw-x", "plant-a") is None
    assert plants_a.mismatch("gw-x", "plant-a") is None
    for reg in registries:
        reg.close()


async def test_a_gateway_declared_through_the_registry_binds_at_the_next_refresh(registry: Registry) -> None:
    plants = GatewayPlants()
    sync = GatewayBindingSync(registry, plants, collector="collector-1")
    await sync.refresh()
    registry.upsert_plant(plant_info("plant-new", "gw-new"))  # an integrator adds a plant in the API
    await sync.refresh()
    assert plants.mismatch("gw-new", "plant-new") is None
    reason = plants.mismatch("gw-new", "plant-a")
    assert reason is not None
    assert "'plant-new'" in reason
