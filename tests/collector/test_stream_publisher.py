"""The benchmark's lean QoS 1 publisher against a real Mosquitto: every message arrives once, in order,
byte for byte, and publish_all returns only once the broker acknowledged them all."""

from __future__ import annotations

import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from collector.stream_publisher import StreamPublisher, publish_packet
from ganlink.servers import MosquittoServer

pytestmark = pytest.mark.servers


def test_publish_packet_encodes_a_qos1_publish_with_a_multi_byte_length() -> None:
    packet = publish_packet("a/b", b"x" * 200, 7)
    # 0x32 = PUBLISH QoS 1; remaining length 2+3+2+200 = 207 -> 0xCF 0x01
    assert packet[:3] == bytes([0x32, 0xCF, 0x01])
    assert packet[3:10] == b"\x00\x03a/b\x00\x07"
    assert packet[10:] == b"x" * 200


@pytest.mark.parametrize("immediate", [False, True])
def test_every_message_arrives_once_in_order(mosquitto: MosquittoServer, immediate: bool) -> None:
    topic = f"stream-publisher-test/{immediate}"
    payloads = [f"message {n} ".encode() * (1 + n % 50) for n in range(3000)]
    received: list[bytes] = []
    subscribed, done = threading.Event(), threading.Event()

    def on_message(_client: paho.Client, _userdata: object, message: paho.MQTTMessage) -> None:
        received.append(message.payload)
        if len(received) == len(payloads):
            done.set()

    subscriber = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    subscriber.on_connect = lambda client, *_a: client.subscribe(topic, qos=1)
    subscriber.on_subscribe = lambda *_a: subscribed.set()
    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        publisher = StreamPublisher("127.0.0.1", mosquitto.port, window=100)
        try:
            # a window smaller than the run: the publisher must count PUBACKs as it goes
            assert publisher.publish_all(((topic, p) for p in payloads), immediate=immediate) == len(payloads)
        finally:
            publisher.close()
        assert done.wait(30)
    finally:
        subscriber.disconnect()
        subscriber.loop_stop()
    assert received == payloads
