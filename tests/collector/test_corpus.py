"""Issue 4, fault test 5: a corpus of malformed input interleaved with valid messages, through real
Mosquitto and InfluxDB. 0 crashes, every bad one dead-lettered with the right reason, every valid
reading stored; plus property tests on the payload parser."""

from __future__ import annotations

import asyncio
import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from collector.config import CollectorConfig
from collector.loadgen import Publisher, forget_session
from collector.service import Collector
from ganlink.errors import MessageRejected
from ganlink.influx import InfluxStore
from ganlink.schema import parse_telemetry
from ganlink.servers import InfluxServer, MosquittoServer
from ganlink.topics import DEADLETTER_SUBSCRIPTION

PLANT = "corpus-plant"
TOPIC = f"ganlink/v1/{PLANT}/area-1/line-1/device-1/telemetry"
ANOMALY_TOPIC = TOPIC.replace("/telemetry", "/anomaly")
GATEWAY = "corpus-gw"
MAX_PAYLOAD = 64 * 1024


@dataclass
class Corpus:
    """Messages to publish, with what each must produce."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    valid_readings: int = 0
    replayed: int = 0
    seq: int = 0
    base_ms: int = field(default_factory=lambda: time.time_ns() // 1_000_000 - 600_000)
    stamp: int = 0

    def next_ts(self) -> int:
        self.stamp += 1
        return self.base_ms + self.stamp

    def good_reading(self) -> dict[str, Any]:
        return {"sensor": "temp", "ts": self.next_ts(), "value": 20.5}

    def envelope(self, readings: list[Any], gateway: str = GATEWAY) -> dict[str, Any]:
        self.seq += 1
        return {"v": 1, "gateway": gateway, "seq": self.seq, "readings": readings}

    def bad(self, reason: str, payload: bytes | str, topic: str = TOPIC) -> None:
        self.messages.append((topic, payload.encode() if isinstance(payload, str) else payload))
        self.reasons[reason] += 1

    def valid(self, readings: int = 3) -> None:
        body = self.envelope([self.good_reading() for _ in range(readings)])
        self.messages.append((TOPIC, json.dumps(body).encode()))
        self.valid_readings += readings

    def bad_reading(self, raw_reading_json: str) -> None:
        """A message with one good reading and one bad one (given as raw JSON text)."""
        good = json.dumps(self.good_reading())
        self.seq += 1
        text = f'{{"v":1,"gateway":"{GATEWAY}","seq":{self.seq},"readings":[{good},{raw_reading_json}]}}'
        self.messages.append((TOPIC, text.encode()))
        self.valid_readings += 1
        self.reasons["bad-reading"] += 1


def build_corpus(rng: random.Random) -> Corpus:
    corpus = Corpus()
    corpus.valid()  # binds corpus-gw to corpus-plant
    now_ms = time.time_ns() // 1_000_000
    cases: list[Any] = []
    # invalid UTF-8
    for _ in range(60):
        junk = b"\xff" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        cases.append(lambda junk=junk: corpus.bad("not-utf8", junk))
    cases.append(lambda: corpus.bad("not-utf8", b'{"v":1,"gateway":"\xc3\x28"}'))
    # not JSON
    for text in ["", "{", "nul", "{'v':1}", '{"v":1,', "[1,", "v=1", "\u00e9t\u00e9", "[" * 50_000, "{} {}"]:
        for _ in range(6):
            cases.append(lambda text=text: corpus.bad("not-json", text))
    for _ in range(20):
        valid = json.dumps(corpus.envelope([{"sensor": "temp", "ts": 1, "value": 1}]))
        cut = valid[: rng.randrange(1, len(valid) - 1)]
        cases.append(lambda cut=cut: corpus.bad("not-json", cut))
    # JSON but not an object
    for text in ["[]", "1", '"text"', "null", "true", "[{}]", "1.5e3"]:
        for _ in range(3):
            cases.append(lambda text=text: corpus.bad("not-object", text))
    # bad envelopes: wrong types and ids that would break tags
    reading = {"sensor": "temp", "ts": now_ms, "value": 1.0}
    envelopes: list[dict[str, Any]] = [
        {"v": 2}, {"v": "1"}, {"v": None}, {"v": True}, {},
        {"gateway": 5}, {"gateway": "GW-1"}, {"gateway": ""}, {"gateway": "gw 1"}, {"gateway": "gw,1"},
        {"gateway": "gw=1"}, {"gateway": "gw\n1"}, {"gateway": "-gw"}, {"gateway": "g" * 64}, {"gateway": None},
        {"seq": -1}, {"seq": 1.5}, {"seq": "3"}, {"seq": True}, {"seq": None},
        {"readings": {}}, {"readings": []}, {"readings": "x"}, {"readings": None}, {"readings": 7},
    ]  # fmt: skip
    for patch in envelopes:
        for _ in range(3):
            body = {"v": 1, "gateway": GATEWAY, "seq": 1, "readings": [reading], **patch}
            if patch == {}:
                body.pop("v")
            cases.append(lambda body=body: corpus.bad("bad-envelope", json.dumps(body)))
    # bad readings: NaN/Inf, timestamps in s/ns/far future, tag-breaking sensor ids, type flips
    bad_readings = [
        f'{{"sensor":"temp","ts":{now_ms},"value":NaN}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":Infinity}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":-Infinity}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":1e400}}',
        f'{{"sensor":"temp","ts":{now_ms // 1000},"value":1}}',  # seconds, read as ms: 1970
        f'{{"sensor":"temp","ts":{now_ms * 1_000_000},"value":1}}',  # nanoseconds: far future
        f'{{"sensor":"temp","ts":{now_ms + 7_200_000},"value":1}}',  # 2 h ahead
        '{"sensor":"temp","ts":"2100-01-01T00:00:00Z","value":1}',
        '{"sensor":"temp","ts":"1999-12-31T23:59:59Z","value":1}',
        '{"sensor":"temp","ts":"2026-11-27","value":1}',
        '{"sensor":"temp","ts":"2026-11-27T09:00:00","value":1}',
        '{"sensor":"temp","ts":"2026-02-30T09:00:00Z","value":1}',
        '{"sensor":"temp","ts":%s,"value":1}' % (now_ms / 1000),
        '{"sensor":"temp","ts":true,"value":1}',
        '{"sensor":"temp","value":1}',
        f'{{"sensor":"te,mp","ts":{now_ms},"value":1}}',
        f'{{"sensor":"te mp","ts":{now_ms},"value":1}}',
        f'{{"sensor":"te=mp","ts":{now_ms},"value":1}}',
        f'{{"sensor":"te\\nmp","ts":{now_ms},"value":1}}',
        f'{{"sensor":"Temp","ts":{now_ms},"value":1}}',
        f'{{"sensor":"","ts":{now_ms},"value":1}}',
        '{{"sensor":"{}","ts":{},"value":1}}'.format("s" * 64, now_ms),
        f'{{"sensor":"t\\"emp","ts":{now_ms},"value":1}}',
        f'{{"sensor":5,"ts":{now_ms},"value":1}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":"12.5"}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":true}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":null}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":{{"v":1}}}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":[1]}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":1,"quality":"GOOD"}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":1,"quality":1}}',
        f'{{"sensor":"temp","ts":{now_ms},"value":1,"quality":"excellent"}}',
        "5", '"reading"', "null", "[]",
    ]
    for raw in bad_readings:
        for _ in range(5):
            cases.append(lambda raw=raw: corpus.bad_reading(raw))
    # topics whose levels are not ids (they still match the subscription's wildcards)
    for level in ["Corpus-Plant", "corpus plant", "corpus,plant", "corpus=plant", "-plant", "p" * 64, "pl\u00e4nt", ""]:
        for _ in range(5):
            topic = f"ganlink/v1/{level}/area-1/line-1/device-1/telemetry"
            cases.append(lambda topic=topic: corpus.bad("bad-topic", json.dumps(corpus.envelope([reading])), topic))
    # huge payloads
    for _ in range(5):
        huge = json.dumps(corpus.envelope([{**reading, "pad": "x" * (MAX_PAYLOAD + 1000)}]))
        cases.append(lambda huge=huge: corpus.bad("too-large", huge))
    # a gateway claiming another plant (declared in the bundled plant files, or bound on first sight)
    for index in range(10):
        other = f"ganlink/v1/other-plant-{index}/area-1/line-1/device-1/telemetry"
        cases.append(lambda other=other: corpus.bad("wrong-plant", json.dumps(corpus.envelope([reading])), other))
        declared = json.dumps(corpus.envelope([reading], gateway="gw-guixi-1"))
        cases.append(lambda declared=declared: corpus.bad("wrong-plant", declared))
    # malformed anomaly events
    event = {"v": 1, "sensor": "temp", "detector": "robust-z", "ts": now_ms, "score": 0.9, "value": 1.0}
    for patch in [{"detector": "robust z"}, {"detector": "a\nb"}, {"detector": ""}, {"score": "high"}, {"ts": None}]:
        for _ in range(4):
            cases.append(lambda p=patch: corpus.bad("bad-envelope", json.dumps({**event, **p}), ANOMALY_TOPIC))
    rng.shuffle(cases)
    for number, case in enumerate(cases):
        case()
        if number % 2 == 0:
            corpus.valid()
        if number % 40 == 0:  # a replayed seq: harmless (same points overwrite), counted as a duplicate
            corpus.messages.append(corpus.messages[-1])
            if corpus.messages[-1][1].startswith(b'{"v": 1, "gateway": "corpus-gw"') and number % 2 == 0:
                corpus.replayed += 1
            else:
                corpus.messages.pop()
    return corpus


def test_the_corpus_has_at_least_500_bad_inputs_of_every_kind() -> None:
    corpus = build_corpus(random.Random(4))
    assert sum(corpus.reasons.values()) >= 500
    assert set(corpus.reasons) == {
        "not-utf8", "not-json", "not-object", "bad-envelope", "bad-reading", "bad-topic", "too-large", "wrong-plant",
    }  # fmt: skip


@pytest.fixture
async def corpus_store(influxdb: InfluxServer) -> AsyncIterator[InfluxStore]:
    store = InfluxStore(influxdb.url, "corpus")
    await store.drop_database()
    await store.ensure_database()
    yield store
    await store.drop_database()
    await store.close()


@pytest.mark.servers
async def test_malformed_corpus_is_dead_lettered_and_every_valid_reading_stored(
    mosquitto: MosquittoServer, corpus_store: InfluxStore, tmp_path: Path
) -> None:
    corpus = build_corpus(random.Random(4))
    dead: list[dict[str, Any]] = []
    subscribed = threading.Event()
    watcher = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    watcher.on_connect = lambda client, *_a: client.subscribe(DEADLETTER_SUBSCRIPTION, qos=1)
    watcher.on_subscribe = lambda *_a: subscribed.set()
    watcher.on_message = lambda _c, _u, message: dead.append(json.loads(message.payload))
    watcher.connect("127.0.0.1", mosquitto.port)
    watcher.loop_start()
    assert subscribed.wait(10)
    config = CollectorConfig(
        mqtt_port=mosquitto.port, client_id="corpus-collector", share_group=None, batch_size=500,
        flush_interval_s=0.05, data_dir=tmp_path, max_payload_bytes=MAX_PAYLOAD,
    )  # fmt: skip
    stop = asyncio.Event()
    expected_dead = sum(corpus.reasons.values())
    async with Collector(config, corpus_store) as collector:
        running = asyncio.create_task(collector.run(stop))
        publisher = Publisher("127.0.0.1", mosquitto.port)
        await asyncio.to_thread(publisher.publish_all, corpus.messages)
        publisher.close()
        deadline = time.monotonic() + 60
        landed = 0
        while time.monotonic() < deadline and (len(dead) < expected_dead or landed < corpus.valid_readings):
            await asyncio.sleep(0.2)
            rows = await corpus_store.query(f"SELECT count(\"value\") FROM \"telemetry\" WHERE \"plant\" = '{PLANT}'")
            landed = int(rows[0]["values"][0][1]) if rows else 0
        assert not running.done()  # no crash
        stop.set()
        await running
    watcher.disconnect()
    watcher.loop_stop()
    forget_session("127.0.0.1", mosquitto.port, "corpus-collector")
    assert landed == corpus.valid_readings
    assert Counter(body["reason"] for body in dead) == corpus.reasons
    assert all(body["detail"] and body["topic"] and "payload" in body for body in dead)
    assert collector.sequences.totals().duplicates >= corpus.replayed


# -- property tests on the payload parser --------------------------------------------------------

NOW_NS = 1_800_000_000_000_000_000
SKEW_NS = 3600 * 10**9
slugs = st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
valid_ms = st.integers(min_value=946_684_800_000, max_value=NOW_NS // 1_000_000 + 3_599_000)
readings = st.lists(st.fixed_dictionaries({"sensor": slugs, "ts": valid_ms, "value": finite}), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(gateway=slugs, seq=st.integers(min_value=0, max_value=2**53), raw=readings)
def test_every_valid_reading_is_parsed_exactly(gateway: str, seq: int, raw: list[dict[str, Any]]) -> None:
    payload = json.dumps({"v": 1, "gateway": gateway, "seq": seq, "readings": raw}).encode()
    message = parse_telemetry(TOPIC, payload, now_ns=NOW_NS, max_skew_ns=SKEW_NS)
    assert message.rejected == []
    assert (message.gateway, message.seq) == (gateway, seq)
    assert [(r.sensor, r.time_ns, r.value) for r in message.readings] == [
        (x["sensor"], x["ts"] * 1_000_000, float(x["value"])) for x in raw
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(body=st.dictionaries(st.sampled_from(["v", "gateway", "seq", "readings", "x"]), json_values))
def test_any_json_object_is_parsed_or_rejected_with_a_reason_never_crashes(body: dict[str, Any]) -> None:
    payload = json.dumps(body, allow_nan=True).encode()
    try:
        message = parse_telemetry(TOPIC, payload, now_ns=NOW_NS, max_skew_ns=SKEW_NS)
    except MessageRejected as exc:
        reason = exc.reason
    else:
        reason = None
    if reason is not None:
        assert reason in {"bad-envelope", "not-json", "not-object"}
        return
    assert len(message.readings) + len(message.rejected) == len(body["readings"])
    assert all(math.isfinite(r.value) for r in message.readings)


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash_the_parser(payload: bytes) -> None:
    reason = None
    try:
        parse_telemetry(TOPIC, payload, now_ns=NOW_NS, max_skew_ns=SKEW_NS)
    except MessageRejected as exc:
        reason = exc.reason
    assert reason in {None, "not-utf8", "not-json", "not-object", "bad-envelope"}
