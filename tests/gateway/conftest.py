"""Gateway test helpers: a plain paho subscriber recording what the broker delivers, and a real
pymodbus device on its own thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ganlink.servers import free_port, wait_for_port


class Listener:
    """A plain paho subscriber collecting every message it gets."""

    def __init__(self, url: str, topics: list[str], client_id: str | None = None) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        # a named client keeps a persistent session (QoS 1 messages wait for it across broker restarts)
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"listener-{time.monotonic_ns()}",
            clean_session=client_id is None,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self._subscribed.wait(5)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def wait_for(self, predicate: object, timeout_s: float = 10.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.snapshot()
            if predicate(got):  # type: ignore[operator]
                return got
            time.sleep(0.02)
        raise AssertionError(f"condition not met in {timeout_s}s; got {len(self.snapshot())} messages")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    """Make subscribers (``listen(url, topics, client_id=None)``), all closed after the test."""
    made: list[Listener] = []

    def make(url: str, topics: list[str], client_id: str | None = None) -> Listener:
        made.append(Listener(url, topics, client_id=client_id))
        return made[-1]

    yield make
    for listener in made:
        listener.close()


class ThreadedModbusDevice:
    """A real pymodbus TCP server on its own thread and event loop (for code that runs its own loop)."""

    def __init__(self, holding: list[int], inputs: list[int], coils: list[bool], holding_start: int = 100) -> None:
        self.port = free_port()
        device = SimDevice(
            id=1,
            simdata=(
                [SimData(0, values=coils, datatype=DataType.BITS)],
                [SimData(0, values=[False] * 8, datatype=DataType.BITS)],
                [SimData(holding_start, values=holding, datatype=DataType.REGISTERS)],
                [SimData(0, values=inputs, datatype=DataType.REGISTERS)],
            ),
        )
        self._device = device
        self._server: ModbusTcpServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._thread.start()
        wait_for_port(self.port, 10)

    async def _serve(self) -> None:
        self._server = ModbusTcpServer(self._device, address=("127.0.0.1", self.port))
        await self._server.serve_forever()

    def close(self) -> None:
        assert self._server is not None
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def threaded_modbus() -> Iterator[Callable[..., ThreadedModbusDevice]]:
    """Make real Modbus devices (``threaded_modbus(holding, inputs, coils)``), closed after the test."""
    made: list[ThreadedModbusDevice] = []

    def make(holding: list[int], inputs: list[int], coils: list[bool]) -> ThreadedModbusDevice:
        made.append(ThreadedModbusDevice(holding, inputs, coils))
        return made[-1]

    yield make
    for device in made:
        device.close()
