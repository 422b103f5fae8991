"""The registry's gateway bindings: first writer wins among collectors, a plant's declared gateway
wins over any learned binding, and the records say which is which."""

from __future__ import annotations

import threading

from ganlink.registry import GatewayBinding, Registry

from .conftest import plant_info


def test_the_first_writer_of_a_binding_wins_and_the_loser_is_told(registry: Registry) -> None:
    assert registry.bind_gateways({"gw-x": "plant-a"}, "collector-1") == {"gw-x": "plant-a"}
    answer = registry.bind_gateways({"gw-x": "plant-b", "gw-y": "plant-c"}, "collector-2")
    assert answer == {"gw-x": "plant-a", "gw-y": "plant-c"}
    assert registry.gateway_bindings() == answer
    records = {r.gateway: r for r in registry.gateway_binding_records()}
    assert records["gw-x"].bound_by == "collector-1"
    assert records["gw-x"].source == "learned"
    assert records["gw-y"].bound_by == "collector-2"


def test_bind_answers_every_stored_binding_not_only_the_ones_given(registry: Registry) -> None:
    registry.upsert_plant(plant_info("plant-d", "gw-d"))
    registry.bind_gateways({"gw-x": "plant-a"}, "collector-1")
    assert registry.bind_gateways({"gw-y": "plant-b"}, "collector-2") == {
        "gw-d": "plant-d",
        "gw-x": "plant-a",
        "gw-y": "plant-b",
    }


def test_a_declared_gateway_wins_over_a_learned_binding(registry: Registry) -> None:
    registry.bind_gateways({"gw-x": "plant-a"}, "collector-1")
    registry.upsert_plant(plant_info("plant-b", "gw-x"))  # an integrator gives gw-x to plant-b later
    assert registry.gateway_bindings() == {"gw-x": "plant-b"}
    assert registry.gateway_binding_records() == [
        GatewayBinding(gateway="gw-x", plant="plant-b", source="declared", bound_ns=_updated_ns(registry, "plant-b"))
    ]
    # A collector's first sight of a declared gateway is not recorded as learned.
    registry.upsert_plant(plant_info("plant-c", "gw-c"))
    assert registry.bind_gateways({"gw-c": "plant-z"}, "collector-1")["gw-c"] == "plant-c"
    assert [r.source for r in registry.gateway_binding_records() if r.gateway == "gw-c"] == ["declared"]


def _updated_ns(registry: Registry, plant: str) -> int:
    from sqlalchemy import select  # noqa: PLC0415

    from ganlink.registry_tables import plants  # noqa: PLC0415

    with registry.engine.connect() as conn:
        value = conn.execute(select(plants.c.updated_ns).where(plants.c.id == plant)).scalar_one()
    return int(value)


def test_concurrent_first_sights_from_many_collectors_all_get_one_answer(registry_url: str) -> None:
    setup = Registry(registry_url)
    setup.create_schema()
    setup.close()
    answers: list[dict[str, str]] = []
    barrier = threading.Barrier(6)

    def collector(index: int) -> None:
        reg = Registry(registry_url)
        barrier.wait()
        answers.append(reg.bind_gateways({"gw-x": f"plant-{index}"}, f"collector-{index}"))
        reg.close()

    threads = [threading.Thread(target=collector, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 6
    winners = {answer["gw-x"] for answer in answers}
    assert len(winners) == 1
    reader = Registry(registry_url)
    [record] = reader.gateway_binding_records()
    reader.close()
    assert record.plant in winners
    assert record.bound_by is not None
    assert record.plant == "plant-" + record.bound_by.removeprefix("collector-")


def test_the_bindings_table_is_added_to_an_existing_registry(registry_url: str) -> None:
    from sqlalchemy import inspect  # noqa: PLC0415

    reg = Registry(registry_url)
    reg.create_schema()
    with reg.engine.begin() as conn:
        conn.exec_driver_sql('DROP TABLE "gateway_bindings"')  # a registry from before this table existed
    reg.create_schema()
    assert reg.bind_gateways({"gw-x": "plant-a"}, "collector-1") == {"gw-x": "plant-a"}
    with reg.engine.connect() as conn:
        assert "gateway_bindings" in inspect(conn).get_table_names()
    reg.close()
