"""Start real Mosquitto and InfluxDB 1.x servers on free loopback ports in temp dirs.

Used by the test fixtures and by ``ganlink bench``; each server is a context manager that stops
its process and removes nothing the caller did not ask it to.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

__all__ = [
    "InfluxServer",
    "MosquittoServer",
    "free_port",
    "missing_server_binaries",
    "running_servers",
    "wait_for_port",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s")


def missing_server_binaries() -> list[str]:
    """Debian packages to install for the real-server tests, empty when all are there."""
    missing = []
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        missing.append("mosquitto")
    if shutil.which("influxd") is None:
        missing.append("influxdb")
    return missing


def _mosquitto_binary() -> str:
    return shutil.which("mosquitto") or "/usr/sbin/mosquitto"


@dataclass
class _ServerProcess:
    """A server process owned by this object: started by ``start()``, stopped (or killed) by ``stop()``."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class MosquittoServer(_ServerProcess):
    """A Mosquitto 2.x broker; ``persistence`` keeps QoS 1 sessions across restarts."""

    persistence: bool = True

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            f"persistence {'true' if self.persistence else 'false'}\n"
            f"persistence_location {self.workdir}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 1000\n"
            "log_dest none\n"
            # Run as root, mosquitto drops to user `mosquitto`, which cannot write the persistence file here.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}\n"
        )
        log = (self.workdir / "mosquitto.log").open("ab")
        self.process = subprocess.Popen([_mosquitto_binary(), "-c", str(config)], stdout=log, stderr=log)
        wait_for_port(self.port)



@dataclass
class InfluxServer(_ServerProcess):
    """An InfluxDB 1.x ``influxd`` speaking the v1 HTTP API; data lives in ``workdir``."""

    auth_enabled: bool = False  # then create the first (admin) user with CREATE USER ... WITH ALL PRIVILEGES

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        bind_port = free_port()
        config = self.workdir / "influxdb.conf"
        config.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{bind_port}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            '  query-log-enabled = false\n  index-version = "inmem"\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '  max-body-size = 0\n'
            f"  auth-enabled = {'true' if self.auth_enabled else 'false'}\n"
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        log = (self.workdir / "influxd.log").open("ab")
        self.process = subprocess.Popen(["influxd", "run", "-config", str(config)], stdout=log, stderr=log)
        self._wait_ready()

    def _wait_ready(self, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:  # noqa: S310
                    if response.status == 204:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise TimeoutError(f"influxd did not answer /ping on {self.url} within {timeout_s:.0f}s")



@contextlib.contextmanager
def running_servers(workdir: Path) -> Iterator[tuple[MosquittoServer, InfluxServer]]:
    """Both servers at once, stopped in reverse order."""
    with MosquittoServer(workdir / "mosquitto") as broker, InfluxServer(workdir / "influxdb") as influx:
        yield broker, influx
