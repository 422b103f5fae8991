"""The shipped Mosquitto config, password users and ACL on a real Mosquitto 2.0: a gateway publishes its
own plant's telemetry and nothing else, anonymous clients are refused, the collector receives."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest

from ganlink.servers import free_port, wait_for_port

pytestmark = pytest.mark.servers

MOSQUITTO = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PASSWORDS = {"gw-guixi-1": "pw-guixi", "gw-liuzhou-1": "pw-liuzhou", "gw-conch-1": "pw-conch",
             "collector": "pw-collector", "analytics": "pw-analytics", "monitor": "pw-monitor"}  # fmt: skip


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """The shipped mosquitto.conf and acl with local paths, users from entrypoint.sh with test passwords."""
    workdir = tmp_path_factory.mktemp("mosquitto")
    users = re.findall(r"^add (\S+) ", (MOSQUITTO / "entrypoint.sh").read_text(), re.MULTILINE)
    assert set(users) == set(PASSWORDS)
    passwd = workdir / "passwd"
    passwd.touch(mode=0o600)
    for user in users:
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, PASSWORDS[user]], check=True, capture_output=True)
    port = free_port()
    conf = (MOSQUITTO / "mosquitto.conf").read_text()
    conf = conf.replace("listener 1883", f"listener {port} 127.0.0.1")
    conf = conf.replace("password_file /mosquitto/data/passwd", f"password_file {passwd}")
    conf = conf.replace("acl_file /mosquitto/config/acl", f"acl_file {MOSQUITTO / 'acl'}")
    conf = conf.replace("persistence true", "persistence false").replace("persistence_location /mosquitto/data/", "")
    conf += f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
    (workdir / "mosquitto.conf").write_text(conf)
    log = (workdir / "mosquitto.log").open("wb")
    process = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(workdir / "mosquitto.conf")], stdout=log, stderr=log)
    try:
        wait_for_port(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def connect(port: int, user: str | None, password: str | None = None) -> tuple[paho.Client, int]:
    """A connected client and the CONNACK reason code (0 = accepted)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    if user:
        client.username_pw_set(user, password)
    answered = threading.Event()
    result: list[int] = []

    def on_connect(_c: paho.Client, _u: object, _f: object, reason: paho.ReasonCode, _p: object) -> None:
        result.append(reason.value)
        answered.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert answered.wait(10)
    return client, result[0]


def test_a_gateway_publishes_its_own_plant_and_nothing_else(broker: int) -> None:
    collector, code = connect(broker, "collector", PASSWORDS["collector"])
    assert code == 0
    received: list[str] = []
    collector.on_message = lambda _c, _u, message: received.append(message.topic)
    subscribed = threading.Event()
    collector.on_subscribe = lambda *_args: subscribed.set()
    collector.subscribe("ganlink/v1/#", qos=1)
    assert subscribed.wait(10)
    gateway, code = connect(broker, "gw-guixi-1", PASSWORDS["gw-guixi-1"])
    assert code == 0
    allowed = [
        "ganlink/v1/guixi-smelter/smelting/flash-furnace-1/uptake/telemetry",
        "ganlink/v1/guixi-smelter/_gateway/gw-guixi-1/status",
    ]
    refused = [
        "ganlink/v1/liuzhou-auto/stamping/press-line-1/press-1/telemetry",  # another plant
        "ganlink/v1/guixi-smelter/_gateway/gw-liuzhou-1/status",  # another gateway's status
        "ganlink/v1/guixi-smelter/smelting/flash-furnace-1/uptake/anomaly",  # only analytics writes events
    ]
    for topic in refused + allowed:
        gateway.publish(topic, b"{}", qos=1).wait_for_publish(10)
    deadline = time.monotonic() + 10
    while len(received) < len(allowed) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # anything refused would have arrived by now, in order, before the allowed ones
    assert sorted(received) == sorted(allowed)
    for client in (gateway, collector):
        client.loop_stop()
        client.disconnect()


@pytest.mark.parametrize(("user", "password"), [(None, None), ("gw-guixi-1", "wrong"), ("intruder", "x")])
def test_anonymous_and_wrong_passwords_are_refused(broker: int, user: str | None, password: str | None) -> None:
    client, code = connect(broker, user, password)
    client.loop_stop()
    assert code != 0
