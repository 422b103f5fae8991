"""`ganlink demo`: the whole platform in one process, on embedded parts unless URLs are given.

Composition root: services are imported inside :func:`run_demo`, never at module import.
Embedded defaults: an amqtt broker in this process and the SQLite time-series store in a fresh
temp dir; ``mqtt_url`` / ``influx_url`` switch to real Mosquitto / InfluxDB.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ganlink.assets import PlantFile, bundled_plant_files, load_plant_file
from ganlink.embedded_broker import EmbeddedBroker
from ganlink.errors import ConfigError
from ganlink.servers import free_port
from ganlink.settings import Settings

__all__ = ["UNREGISTERED_SENSOR", "DemoOptions", "run_demo"]

log = logging.getLogger(__name__)

# Published by its plant's simulated gateway but left out of the registry, like a probe an electrician
# has just wired: the collector keeps its readings and lists it on /onboarding for approval.
UNREGISTERED_SENSOR = "conch-cement.float-glass.float-line-1.glass-furnace.furnace-pressure"


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    host: str = "127.0.0.1"
    mqtt_url: str | None = None
    influx_url: str | None = None
    data_dir: Path | None = None
    faults_per_sensor_per_day: float = 12.0


def _listen(host: str, port: int) -> socket.socket:
    """Bind the API's socket before anything starts, so a taken port fails fast and says so."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port") from None
    return sock


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_demo(
    options: DemoOptions, *, stop: asyncio.Event | None = None, ready: asyncio.Event | None = None
) -> None:
    """Run broker (embedded or given), store, registry, three simulated plants, collector,
    analytics and the API until ``stop`` is set or SIGINT/SIGTERM arrives."""
    import uvicorn  # noqa: PLC0415 - composition root: services and servers load only here

    from analytics.alarm_book import RegistryAlarmBook  # noqa: PLC0415
    from analytics.service import run_analytics  # noqa: PLC0415
    from api.app import create_app  # noqa: PLC0415
    from collector.config import MqttProtocol  # noqa: PLC0415
    from collector.service import run_collector  # noqa: PLC0415
    from ganlink.registry import ALL_PLANTS, Registry, Role  # noqa: PLC0415
    from ganlink.stores import open_store  # noqa: PLC0415
    from gateway.service import run_simulated_gateway  # noqa: PLC0415
    from gateway.simulator import FaultSettings  # noqa: PLC0415

    stop = stop or asyncio.Event()
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="ganlink-demo-"))
    plant_files: list[PlantFile] = [load_plant_file(path) for path in bundled_plant_files()]
    faults = FaultSettings(per_sensor_per_day=options.faults_per_sensor_per_day, min_s=60.0, max_s=600.0)

    class _DemoServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the demo owns SIGINT/SIGTERM and stops every part together

    api_socket = _listen(options.host, options.port)
    api_port = int(api_socket.getsockname()[1])
    async with contextlib.AsyncExitStack() as resources:
        resources.callback(api_socket.close)
        if options.mqtt_url is None:
            broker = await resources.enter_async_context(EmbeddedBroker(free_port()))
            mqtt_url, protocol, share_group = broker.url, MqttProtocol.V311, None
        else:
            mqtt_url, protocol, share_group = options.mqtt_url, MqttProtocol.V5, "collectors"
        settings = Settings(mqtt_url=mqtt_url, influx_url=options.influx_url, data_dir=data_dir)
        store = await resources.enter_async_context(open_store(settings))
        registry = Registry.from_settings(settings)
        resources.callback(registry.close)
        for plant_file in plant_files:
            registry.load_plant_file(plant_file)
        registry.delete_sensor(UNREGISTERED_SENSOR)
        _key, token = registry.create_api_key(Role.ADMIN, [ALL_PLANTS], name="demo")
        api = _DemoServer(
            uvicorn.Config(
                create_app(settings, store=store, registry=registry),
                host=options.host,
                port=api_port,
                log_level="warning",
                access_log=False,
            )
        )
        with _stop_on_signals(stop):
            async with asyncio.TaskGroup() as services:
                services.create_task(
                    run_collector(
                        settings, stop=stop, store=store, registry=registry, protocol=protocol, share_group=share_group
                    ),
                    name="collector",
                )
                services.create_task(
                    run_analytics(
                        mqtt_url,
                        plant_files,
                        stop=stop,
                        state_dir=data_dir / "analytics",
                        alarm_book=RegistryAlarmBook(registry),  # operator labels and shelving feed back
                    ),
                    name="analytics",
                )
                for seed, plant_file in enumerate(plant_files, start=1):
                    services.create_task(
                        run_simulated_gateway(plant_file, mqtt_url, seed=seed, stop=stop, faults=faults),
                        name=f"gateway-{plant_file.plant.id}",
                    )
                api_task = services.create_task(api.serve(sockets=[api_socket]), name="api")
                while not api.started and not api_task.done():  # noqa: ASYNC110 - uvicorn has no started event
                    await asyncio.sleep(0.05)
                store_name = options.influx_url or f"embedded SQLite in {data_dir}"
                print(
                    f"\nganlink demo: {len(plant_files)} plants "
                    f"({', '.join(p.plant.id for p in plant_files)})\n"
                    f"  broker {mqtt_url}, store {store_name}\n"
                    f"  open  http://{options.host}:{api_port}/#token={token}\n"
                    f"  /onboarding lists a sensor waiting for approval: {UNREGISTERED_SENSOR}\n"
                    "  Ctrl-C stops everything\n",
                    flush=True,
                )
                if ready is not None:
                    ready.set()
                await stop.wait()
                api.should_exit = True
    log.info("demo stopped")
