"""`ganlink bench ingest`: end-to-end ingest against the broker's and InfluxDB's raw ceilings, in one run.

Phases (each on the same machine, same servers):
1. InfluxDB raw: pre-built line protocol, 5,000-point batches, one connection per collector process
   (each collector writes over one).
2. Broker raw: a separate publisher process sends 20-reading messages at QoS 1 as fast as the
   broker takes them; a bare paho subscriber (QoS 1) counts deliveries.
3. End to end: the same traffic through ``ganlink collector run`` (its own process; with
   ``--collectors N``, N processes on one shared subscription) into InfluxDB;
   landed = distinct points queryable, counted by series and time; lost = published - landed.
4. Latency at half the end-to-end rate: probe readings stamped at publish time, polled until queryable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from rich.console import Console

from ganlink.influx import InfluxStore
from ganlink.lineprotocol import encode_readings
from ganlink.schema import Reading
from ganlink.servers import InfluxServer, MosquittoServer, free_port
from ganlink.topics import DevicePath

__all__ = ["run"]

BATCH = 5000
Broker = tuple[str, int]
READINGS_PER_MESSAGE = 20
console = Console(stderr=True)


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _influx_raw(url: str, seconds: float, connections: int) -> float:
    """Points/s InfluxDB takes from ``connections`` writers at once (one per collector process)."""
    store = InfluxStore(url, "bench_raw")
    await store.ensure_database()
    device = DevicePath("raw-plant", "area-1", "line-1", "device-1")
    start = time.time_ns() - 7 * 24 * 3600 * 10**9
    batches = [
        encode_readings(
            Reading(device, f"sensor-{i % 20}", start + (b * BATCH + i) * 1_000_000, float(i)) for i in range(BATCH)
        )
        for b in range(60 * connections)
    ]
    began = time.monotonic()

    async def write(writer: int) -> int:
        own = InfluxStore(url, "bench_raw")
        written = 0
        while time.monotonic() - began < seconds:
            await own.write_lines(batches[(written // BATCH * connections + writer) % len(batches)])
            written += BATCH
        await own.close()
        return written

    written = sum(await asyncio.gather(*(write(writer) for writer in range(connections))))
    elapsed = time.monotonic() - began
    await store.drop_database()
    await store.close()
    return written / elapsed


def _publisher(
    broker: Broker, messages: int, *, plant: str, rate: float = 0.0, probe_every: int = 0
) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "collector.loadgen", "--host", broker[0], "--port", str(broker[1])]
    command += ["--messages", str(messages)]
    command += ["--plant", plant, "--rate", str(rate), "--probe-every", str(probe_every)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def _broker_raw(broker: Broker, messages: int) -> float:
    """Messages/s a bare paho QoS 1 subscriber receives from a publisher in another process."""
    received = 0
    first = last = 0.0
    done, ready = threading.Event(), threading.Event()

    def on_message(_client: Any, _userdata: Any, _message: Any) -> None:
        nonlocal received, first, last
        received += 1
        last = time.monotonic()
        if received == 1:
            first = last
        if received >= messages:
            done.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-raw-subscriber", protocol=paho.MQTTv311)
    client.on_connect = lambda c, *_a: c.subscribe("ganlink/v1/broker-raw/+/+/+/telemetry", qos=1)
    client.on_subscribe = lambda *_a: ready.set()
    client.on_message = on_message
    client.connect(*broker)
    client.loop_start()
    ready.wait(10)
    publisher = _publisher(broker, messages, plant="broker-raw")
    done.wait(600)
    publisher.wait()
    client.disconnect()
    client.loop_stop()
    return received / max(1e-9, last - first)


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {m[1]: float(m[2]) for m in re.finditer(r"^(ganlink_collector_\w+) ([0-9.e+-]+)$", text, re.M)}


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


async def _count(store: InfluxStore, plant: str) -> int:
    rows = await store.query(f"SELECT count(\"value\") FROM \"telemetry\" WHERE \"plant\" = '{plant}'")  # noqa: S608
    return int(rows[0]["values"][0][1]) if rows else 0


async def _end_to_end(
    broker: Broker, metrics_ports: list[int], store: InfluxStore, messages: int
) -> tuple[float, int]:
    """Readings/s from the first publish until InfluxDB acknowledged the last write (a 204 from
    InfluxDB 1.x means queryable); progress comes from the collectors' metrics, not from counting
    queries that would load InfluxDB during the run. Loss is then counted in InfluxDB itself."""
    expected = messages * READINGS_PER_MESSAGE
    publisher = _publisher(broker, messages, plant="bench-plant")
    assert publisher.stdout is not None
    await asyncio.to_thread(publisher.stdout.readline)  # it has built its messages and starts now
    began = time.monotonic()
    written, last_change, last_written = 0, time.monotonic(), -1
    with console.status("end to end: publishing and landing") as status:
        while written < expected and time.monotonic() - last_change < 30:
            await asyncio.sleep(0.02)
            written = sum(
                int(_scrape(port).get("ganlink_collector_readings_written_total", 0)) for port in metrics_ports
            )
            if written != last_written:
                last_change, last_written = time.monotonic(), written
            status.update(f"end to end: {written:,}/{expected:,} readings written")
    elapsed = last_change - began
    publisher.wait()
    landed = await _count(store, "bench-plant")
    return landed / max(1e-9, elapsed), expected - landed


async def _latency(broker: Broker, store: InfluxStore, rate_msgs: float, seconds: float) -> list[float]:
    messages = int(rate_msgs * seconds)
    probe_every = max(1, int(rate_msgs / 20))  # ~20 probes per second
    publisher = _publisher(broker, messages, plant="latency-plant", rate=rate_msgs, probe_every=probe_every)
    latencies: list[float] = []
    seen = 0
    query = "SELECT \"value\" FROM \"telemetry\" WHERE \"plant\" = 'latency-plant-probe' AND time > {after}"
    with console.status("latency at half rate"):
        grace_until = None
        while grace_until is None or time.monotonic() < grace_until:
            if grace_until is None and publisher.poll() is not None:
                grace_until = time.monotonic() + 2.0
            await asyncio.sleep(0.01)
            rows = await store.query(query.format(after=seen))
            now = time.time_ns()
            for series in rows:
                for stamp, _value in series["values"]:
                    time_ns = int(stamp) if isinstance(stamp, int) else seen
                    latencies.append((now - time_ns) / 1e6)
                    seen = max(seen, time_ns)
    return latencies


async def _bench(args: argparse.Namespace) -> dict[str, float | int]:
    with ExitStack() as servers:
        workdir = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="ganlink-bench-")))
        if args.mqtt:
            url = urlsplit(args.mqtt)
            broker: Broker = (url.hostname or "127.0.0.1", url.port or 1883)
        else:
            broker = ("127.0.0.1", servers.enter_context(MosquittoServer(workdir / "mosquitto")).port)
        influx_url = args.influx or servers.enter_context(InfluxServer(workdir / "influxdb")).url
        seconds = args.seconds
        messages = max(1000, int(seconds * 5000))
        count = max(1, int(getattr(args, "collectors", 1)))
        console.print(f"[bold]InfluxDB raw[/] for {seconds:.0f}s ({BATCH}-point batches, {count} connection(s))")
        influx_raw = await _influx_raw(influx_url, seconds, count)
        console.print(f"  {influx_raw:,.0f} points/s")
        console.print(f"[bold]Broker raw[/]: {messages:,} messages of {READINGS_PER_MESSAGE} readings at QoS 1")
        broker_raw = await asyncio.to_thread(_broker_raw, broker, messages)
        console.print(f"  {broker_raw:,.0f} messages/s ({broker_raw * READINGS_PER_MESSAGE:,.0f} readings/s)")

        store = InfluxStore(influx_url, "bench_e2e")
        await store.drop_database()
        await store.ensure_database()
        metrics_ports = [free_port() for _ in range(count)]
        env = {
            **os.environ,
            "GANLINK_MQTT_URL": f"mqtt://{broker[0]}:{broker[1]}",
            "GANLINK_INFLUX_URL": influx_url,
            "GANLINK_INFLUX_DB": "bench_e2e",
        }
        collectors = []
        for index, metrics_port in enumerate(metrics_ports):
            # One collector alone subscribes plainly; several split the load through a shared subscription.
            command = [sys.executable, "-m", "ganlink", "collector", "run", "--client-id", f"bench-collector-{index}"]
            command += ["--metrics-port", str(metrics_port), *(["--no-share"] if count == 1 else [])]
            log = servers.enter_context((workdir / f"collector-{index}.log").open("w"))
            data_dir = {"GANLINK_DATA_DIR": str(workdir / f"collector-{index}")}
            collectors.append(
                subprocess.Popen(command, env={**env, **data_dir}, stderr=log, stdout=log)  # noqa: ASYNC220 - no wait
            )
        try:
            for metrics_port in metrics_ports:
                for _ in range(200):
                    try:
                        _scrape(metrics_port)
                        break
                    except OSError:
                        await asyncio.sleep(0.1)
            console.print(f"[bold]End to end[/]: {messages:,} messages through {count} collector(s) into InfluxDB")
            landed_per_s, lost = await _end_to_end(broker, metrics_ports, store, messages)
            console.print(f"  {landed_per_s:,.0f} readings/s landed, lost {lost}")
            half_rate = max(10.0, landed_per_s / READINGS_PER_MESSAGE / 2)
            console.print(f"[bold]Latency[/] at half that rate ({half_rate:,.0f} messages/s) for {seconds / 2:.0f}s")
            latencies = await _latency(broker, store, half_rate, max(3.0, seconds / 2))
            scraped = [_scrape(port) for port in metrics_ports]
            duplicates = sum(int(m.get("ganlink_collector_sequence_duplicates_total", 0)) for m in scraped)
            held_peak = max(int(m.get("ganlink_collector_in_flight_peak", 0)) for m in scraped)
            rss = sum(_peak_rss_mb(collector.pid) for collector in collectors)
        finally:
            for collector in collectors:
                collector.send_signal(signal.SIGTERM)
            for collector in collectors:
                collector.wait(60)
            await store.close()
        return {
            "landed_per_s": round(landed_per_s),
            "influx_raw_per_s": round(influx_raw),
            "broker_raw_msgs_per_s": round(broker_raw),
            "ratio_influx": round(landed_per_s / influx_raw, 3),
            "ratio_broker": round(landed_per_s / (broker_raw * READINGS_PER_MESSAGE), 3),
            "lost": lost,
            "duplicates": duplicates,
            "p50_ms": round(_percentile(latencies, 0.5), 1),
            "p99_ms": round(_percentile(latencies, 0.99), 1),
            "latency_probes": len(latencies),
            "collector_rss_mb": round(rss, 1),
            "held_unacked_peak": held_peak,
            "collectors": count,
            "messages": messages,
            "readings_per_message": READINGS_PER_MESSAGE,
        }


def run(args: argparse.Namespace) -> int:
    """Run the ingest benchmark; with ``--json`` the last line is one JSON object."""
    logging.getLogger("httpx").setLevel(logging.WARNING)
    result = asyncio.run(_bench(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["lost"] == 0 else 1
