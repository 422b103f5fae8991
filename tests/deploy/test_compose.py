"""The docker-compose deployment, checked structurally (no Docker engine on this machine, so nothing here
starts a container): services, healthchecks, volumes, every ${VAR} in .env.example, the Dockerfile,
and a Mosquitto user + ACL for every gateway of the bundled plants."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ganlink.assets import bundled_plant_files, load_plant_file

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
MOSQUITTO = ROOT / "deploy" / "mosquitto"
SERVICES = {"mosquitto", "influxdb", "grafana", "collector", "analytics", "api"}
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Z0-9_]+)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {name.strip(): value.strip() for name, value in pairs}


def gateways() -> dict[str, str]:
    """gateway id -> plant id of every bundled plant."""
    return {f.plant.gateway: f.plant.id for f in map(load_plant_file, bundled_plant_files())}


def test_every_part_of_the_platform_is_a_service_with_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= SERVICES
    gateway_services = [name for name, s in services.items() if s.get("command", [None])[0] == "gateway"]
    assert len(gateway_services) == len(gateways())  # one simulated gateway per bundled plant
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
        assert test[0] in {"CMD", "CMD-SHELL"}
        assert "image" in service or "build" in service


def test_dependencies_wait_for_healthy_services_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for needed, rule in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on unknown {needed}"
            assert rule == {"condition": "service_healthy"}
    assert set(services["collector"]["depends_on"]) == {"mosquitto", "influxdb"}


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert "influxdb-data" in declared
    assert "registry-data" in declared


def test_every_variable_the_deployment_reads_is_in_env_example(compose: dict[str, Any]) -> None:
    example = env_example()
    files = [COMPOSE, *(ROOT / "deploy" / "grafana" / "provisioning").rglob("*.yaml")]
    used = {name for path in files for name in VARIABLE.findall(path.read_text(encoding="utf-8"))}
    used |= set(re.findall(r'"\$([A-Z0-9_]+_PASSWORD)"', (MOSQUITTO / "entrypoint.sh").read_text()))
    missing = used - set(example)
    assert not missing, f"add to .env.example: {sorted(missing)}"
    assert all(example[name] for name in used), "every variable needs an example value"
    assert "INFLUXDB_READ_USER_PASSWORD" in used


def test_secrets_come_from_the_environment_not_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN|SECRET", key):
                assert VARIABLE.search(str(value)), f"{name}.{key} must come from .env"
        assert not re.search(r"change-me", yaml.safe_dump(service)), f"{name} hard-codes an example secret"


def test_one_dockerfile_builds_the_python_services(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") or "FROM python:3.11" in dockerfile
    assert "FROM python:3.11" in dockerfile
    assert 'ENTRYPOINT ["ganlink"]' in dockerfile
    assert "USER ganlink" in dockerfile
    for package in ("ganlink", "gateway", "collector", "analytics", "api"):
        assert f"COPY {package} {package}" in dockerfile
    built = {n for n, s in compose["services"].items() if s.get("build") == "."}
    assert built == SERVICES - {"mosquitto", "influxdb", "grafana"} | {
        n for n, s in compose["services"].items() if s.get("command", [None])[0] == "gateway"
    }


def test_each_gateway_service_runs_a_shipped_config_for_its_plant(compose: dict[str, Any]) -> None:
    known = gateways()
    for name, service in compose["services"].items():
        if service.get("command", [None])[0] != "gateway":
            continue
        config = yaml.safe_load((ROOT / service["command"][2]).read_text())
        assert known[config["gateway"]] == config["plant"], name
        url = service["environment"]["GANLINK_MQTT_URL"]
        assert url.startswith(f"mqtt://{config['gateway']}:${{"), f"{name} must log in as its own gateway user"


def acl_rules() -> dict[str, list[tuple[str, str]]]:
    rules: dict[str, list[tuple[str, str]]] = {}
    user = None
    for line in (MOSQUITTO / "acl").read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "user":
            user = words[1]
            rules[user] = []
        elif words[0] == "topic":
            assert user is not None
            rules[user].append((words[1], words[2]) if len(words) == 3 else ("readwrite", words[1]))
    return rules


def test_the_mosquitto_acl_covers_every_gateway_of_the_bundled_plants() -> None:
    rules = acl_rules()
    users = set(re.findall(r"^add (\S+) ", (MOSQUITTO / "entrypoint.sh").read_text(), re.MULTILINE))
    for gateway, plant in gateways().items():
        assert gateway in users, f"no MQTT password for {gateway}"
        assert sorted(rules[gateway]) == sorted([
            ("write", f"ganlink/v1/{plant}/+/+/+/telemetry"),
            ("write", f"ganlink/v1/{plant}/_gateway/{gateway}/status"),
        ]), f"{gateway} may write only its own plant's telemetry and status"
    assert ("read", "ganlink/v1/#") in rules["collector"]
    assert ("write", "ganlink/v1/+/+/+/+/anomaly") in rules["analytics"]
    assert set(rules) <= users | {"monitor"}


def test_mosquitto_refuses_anonymous_clients() -> None:
    conf = (MOSQUITTO / "mosquitto.conf").read_text()
    assert re.search(r"^allow_anonymous false$", conf, re.MULTILINE)
    assert re.search(r"^acl_file /mosquitto/config/acl$", conf, re.MULTILINE)
