"""Sparkplug B output: payloads checked with Google's protobuf runtime against the published
schema, edge-node sequencing, and a real Mosquitto session (births, data, rebirth, NDEATH Will)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from ganlink.assets import bundled_plant_files, load_plant_file
from ganlink.schema import Reading
from ganlink.servers import MosquittoServer
from ganlink.sparkplug import REBIRTH_METRIC, decode_payload
from ganlink.topics import DevicePath
from gateway.service import run_simulated_gateway
from gateway.sparkplug import EdgeNodeState, device_id
from gateway.sparkplug_publisher import SparkplugPublisher

if TYPE_CHECKING:
    from tests.gateway.conftest import Listener

S = 1_000_000_000
KILN = DevicePath("conch-cement", "clinker", "kiln-line-1", "rotary-kiln")
COOLER = DevicePath("conch-cement", "clinker", "kiln-line-1", "grate-cooler")
F = descriptor_pb2.FieldDescriptorProto

# Payload and Metric as published in Eclipse Tahu's sparkplug_b.proto (package org.eclipse.tahu.protobuf)
_METRIC_FIELDS = [
    ("name", 1, F.TYPE_STRING), ("alias", 2, F.TYPE_UINT64), ("timestamp", 3, F.TYPE_UINT64),
    ("datatype", 4, F.TYPE_UINT32), ("is_historical", 5, F.TYPE_BOOL), ("is_transient", 6, F.TYPE_BOOL),
    ("is_null", 7, F.TYPE_BOOL), ("int_value", 10, F.TYPE_UINT32), ("long_value", 11, F.TYPE_UINT64),
    ("float_value", 12, F.TYPE_FLOAT), ("double_value", 13, F.TYPE_DOUBLE), ("boolean_value", 14, F.TYPE_BOOL),
    ("string_value", 15, F.TYPE_STRING), ("bytes_value", 16, F.TYPE_BYTES),
]


def _schema() -> tuple[Any, Any]:
    file = descriptor_pb2.FileDescriptorProto(name="ganlink_test_sparkplug_b.proto", package="ganlinktest.tahu")
    file.syntax = "proto2"
    payload = file.message_type.add(name="Payload")
    for name, number, kind in [("timestamp", 1, F.TYPE_UINT64), ("seq", 3, F.TYPE_UINT64), ("uuid", 4, F.TYPE_STRING)]:
        payload.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
        type_name=".ganlinktest.tahu.Payload.Metric",
    )
    metric = payload.nested_type.add(name="Metric")
    for name, number, kind in _METRIC_FIELDS:
        metric.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    payload_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("ganlinktest.tahu.Payload"))
    return payload_class, payload_class.Metric


Payload, MetricMessage = _schema()


def parse(data: bytes) -> Any:
    message = Payload()
    message.ParseFromString(data)
    return message


def readings(
    t: int, devices: tuple[DevicePath, ...] = (KILN,), sensors: tuple[str, ...] = ("temp", "current")
) -> list[Reading]:
    return [Reading(d, s, (1_795_000_000 + t) * S, 100.0 * t + i) for d in devices for i, s in enumerate(sensors)]


def test_births_and_data_parse_with_the_reference_protobuf_runtime() -> None:
    node = EdgeNodeState(group="conch-cement", edge_node="gw-conch-1", bd_seq=7)
    (nbirth_topic, nbirth), = node.births(now_ms=1_000)
    assert nbirth_topic == "spBv1.0/conch-cement/NBIRTH/gw-conch-1"
    birth = parse(nbirth)
    assert (birth.timestamp, birth.seq) == (1_000, 0)
    assert {m.name: (m.datatype, m.long_value or m.boolean_value) for m in birth.metrics} == {
        "bdSeq": (8, 7), REBIRTH_METRIC: (11, False)
    }
    messages = node.data(readings(1), now_ms=2_000)
    assert [t for t, _ in messages] == [
        "spBv1.0/conch-cement/DBIRTH/gw-conch-1/rotary-kiln",
        "spBv1.0/conch-cement/DDATA/gw-conch-1/rotary-kiln",
    ]
    dbirth, ddata = (parse(p) for _, p in messages)
    assert [(m.name, m.datatype, m.double_value, m.timestamp) for m in dbirth.metrics] == [
        ("current", 10, 101.0, 1_795_000_001_000),
        ("temp", 10, 100.0, 1_795_000_001_000),
    ]
    assert (dbirth.seq, ddata.seq) == (1, 2)
    assert [(m.name, m.double_value, m.timestamp) for m in ddata.metrics] == [
        ("temp", 100.0, 1_795_000_001_000), ("current", 101.0, 1_795_000_001_000)
    ]
    _, ndeath = node.ndeath(now_ms=3_000)
    death = parse(ndeath)
    assert not death.HasField("seq")
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", 7)]


def test_our_decoder_reads_what_the_reference_runtime_writes() -> None:
    command = Payload(timestamp=5, seq=3)
    metric = command.metrics.add()
    metric.name, metric.datatype, metric.boolean_value = REBIRTH_METRIC, 11, True
    timestamp, metrics, seq = decode_payload(command.SerializeToString())
    assert (timestamp, seq, metrics[0].name, metrics[0].value) == (5, 3, REBIRTH_METRIC, True)
    node = EdgeNodeState(group="g", edge_node="e")
    assert node.is_rebirth_request(command.SerializeToString())
    assert not node.is_rebirth_request(b"\xff\xff")


def test_seq_wraps_at_256_and_known_devices_are_not_reborn() -> None:
    node = EdgeNodeState(group="g", edge_node="e")
    node.births(now_ms=0)
    seqs = [parse(p).seq for t in range(300) for topic, p in node.data(readings(t), now_ms=t)]
    assert seqs[:3] == [1, 2, 3]
    assert seqs[255:258] == [0, 1, 2]  # DBIRTH took 1, data 2..255, then 0 after 255
    assert len(seqs) == 301  # one DBIRTH, then DDATA only
    new_metric = node.data(readings(301, sensors=("temp", "current", "vibration")), now_ms=1)
    assert "DBIRTH" in new_metric[0][0]
    assert {m.name for m in parse(new_metric[0][1]).metrics} == {"temp", "current", "vibration"}


def test_device_ids_are_device_slugs_and_must_be_unique_in_the_plant() -> None:
    assert device_id(COOLER) == "grate-cooler"
    node = EdgeNodeState(group="conch-cement", edge_node="e")
    node.data(readings(1), now_ms=0)
    twin = DevicePath("conch-cement", "clinker", "kiln-line-2", "rotary-kiln")
    with pytest.raises(ValueError, match="unique within a plant"):
        node.data(readings(2, devices=(twin,)), now_ms=0)


@pytest.mark.servers
async def test_edge_node_session_births_data_rebirth_and_death(
    mosquitto: MosquittoServer, listen: Callable[..., Listener]
) -> None:
    listener = listen(mosquitto.url, ["spBv1.0/conch-cement/#"])

    def of(kind: str) -> list[Any]:
        return [parse(p) for t, p, _ in listener.snapshot() if t.split("/")[2] == kind]

    publisher = SparkplugPublisher(gateway="gw-spb", plant="conch-cement", mqtt_url=mosquitto.url)
    await publisher.start()
    try:
        await asyncio.to_thread(listener.wait_for, lambda _: len(of("NBIRTH")) == 1)
        publisher.publish_nowait(readings(1, devices=(KILN, COOLER)))
        publisher.publish_nowait(readings(2, devices=(KILN, COOLER)))
        await asyncio.to_thread(listener.wait_for, lambda _: len(of("DDATA")) == 4)
        assert len(of("DBIRTH")) == 2
        command = Payload(timestamp=int(time.time() * 1000))
        metric = command.metrics.add()
        metric.name, metric.datatype, metric.boolean_value = REBIRTH_METRIC, 11, True
        listener.client.publish("spBv1.0/conch-cement/NCMD/gw-spb", command.SerializeToString(), qos=1)
        await asyncio.to_thread(listener.wait_for, lambda _: len(of("NBIRTH")) == 2 and len(of("DBIRTH")) == 4)
        assert publisher.rebirths == 1
        assert of("NBIRTH")[1].seq == 0
        publisher.link.sever()
        await asyncio.to_thread(listener.wait_for, lambda _: len(of("NDEATH")) == 1)
        death_bdseq = of("NDEATH")[0].metrics[0].long_value
        assert death_bdseq == of("NBIRTH")[0].metrics[0].long_value == 0
        # the next session is born with the next bdSeq, and so will its death be
        await asyncio.to_thread(listener.wait_for, lambda _: len(of("NBIRTH")) == 3, 15)
        assert of("NBIRTH")[2].metrics[0].long_value == 1
    finally:
        await publisher.stop()
    await asyncio.to_thread(listener.wait_for, lambda _: len(of("NDEATH")) == 2)
    assert of("NDEATH")[1].metrics[0].long_value == 1


@pytest.mark.servers
async def test_simulated_gateway_can_speak_sparkplug(
    mosquitto: MosquittoServer, listen: Callable[..., Listener]
) -> None:
    listener = listen(mosquitto.url, ["spBv1.0/liuzhou-auto/#"])
    plant_file = next(load_plant_file(p) for p in bundled_plant_files() if p.stem == "liuzhou-auto")
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_simulated_gateway(plant_file, mosquitto.url, seed=3, speed=5.0, stop=stop, output="sparkplug")
    )
    got = await asyncio.to_thread(
        listener.wait_for, lambda got: sum(1 for t, _, _ in got if "/DDATA/" in t) >= 10, 15
    )
    stop.set()
    await asyncio.wait_for(task, 10)
    kinds = [t.split("/")[2] for t, _, _ in got]
    assert kinds[0] == "NBIRTH"
    births = {t.split("/")[4] for t, _, _ in got if "/DBIRTH/" in t}
    assert "press-1" in births
    first = next(parse(p) for t, p, _ in got if t.endswith("DDATA/gw-liuzhou-1/press-1"))
    assert {"machine-state", "stroke-count"} <= {m.name for m in first.metrics}


def test_the_collector_reads_our_edge_node_without_gaps_or_refusals() -> None:
    """Our device payloads through the collector's own Sparkplug decoder: same readings, no seq gap."""
    from collector.sparkplug import DeviceAreas, SparkplugState  # noqa: PLC0415 - cross-service check

    host = SparkplugState(DeviceAreas.from_plant_files([p for p in bundled_plant_files() if p.stem == "conch-cement"]))
    node = EdgeNodeState(group="conch-cement", edge_node="gw-conch-1")
    sent = [r for t in range(1, 4) for r in readings(t, devices=(KILN, COOLER), sensors=("kiln-speed", "temp"))]
    node.births(now_ms=1_795_000_000_000)  # node-level NBIRTH: the collector maps only device messages
    messages = node.data(sent[:4], now_ms=1) + node.data(sent[4:], now_ms=2)
    received, refused = [], []
    for topic_name, payload in messages:
        decoded = host.decode(topic_name, payload, now_ns=1_795_000_010 * S, max_skew_ns=3600 * S)
        assert decoded is not None
        assert decoded.rebirth is None
        received += decoded.readings
        refused += decoded.refused
    assert host.seq_gaps == 0
    assert {(r.sensor_id, r.time_ns, r.value) for r in sent} <= {(r.sensor_id, r.time_ns, r.value) for r in received}
    assert refused == []


def test_values_read_while_offline_are_born_with_the_next_session() -> None:
    node = EdgeNodeState(group="conch-cement", edge_node="e")
    node.remember(readings(5))
    messages = node.births(now_ms=9)
    assert [t.split("/")[2] for t, _ in messages] == ["NBIRTH", "DBIRTH"]
    dbirth = parse(messages[1][1])
    assert dbirth.seq == 1
    assert {(m.name, m.double_value) for m in dbirth.metrics} == {("temp", 500.0), ("current", 501.0)}
