"""Schemathesis against the app (real embedded store and registry behind it), one run per role:
no server errors, no schema violations, no undocumented status codes.

The default budget fits CI; set GANLINK_FUZZ_EXAMPLES (e.g. 200) for a longer run.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from ganlink.assets import PlantFile
from ganlink.embedded_store import EmbeddedStore
from ganlink.registry import Registry, Role
from ganlink.settings import Settings

EXAMPLES = int(os.environ.get("GANLINK_FUZZ_EXAMPLES", "4"))
ROLE_TOKENS: dict[str, str] = {}
SEND: list[Callable[[dict[str, object]], httpx.Response]] = []


@pytest.fixture
def fuzz_schema(tmp_path: Path, plant_files: dict[str, PlantFile]) -> Iterator[schemathesis.BaseSchema]:
    """The app's schema over a fresh registry (test plants, one smelter-scoped key per role) and store."""
    registry = Registry(f"sqlite:///{tmp_path / 'registry.sqlite'}")
    registry.create_schema()
    for plant_file in plant_files.values():
        registry.load_plant_file(plant_file)
    for role in Role:
        ROLE_TOKENS[role.value] = registry.create_api_key(role, ["test-smelter"], name=role.value)[1]
    loop = asyncio.new_event_loop()
    store = loop.run_until_complete(EmbeddedStore.open(tmp_path / "timeseries.sqlite"))
    limits = Settings(data_dir=tmp_path, api_rate_limit_per_s=10_000, api_rate_limit_burst=10_000)
    app = create_app(limits, store=store, registry=registry, sync_alarms=False)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                               base_url="http://testserver")  # fmt: skip
    # Sent with httpx: schemathesis' own ASGI transport trips over urllib3 2.8's pool container.
    SEND[:] = [lambda kwargs: loop.run_until_complete(client.request(**kwargs))]  # type: ignore[arg-type]
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(store.close())
    loop.close()
    registry.close()


# The live stream runs for as long as asked (up to an hour); it is covered by its own test.
EXCLUDED = r"/stream$"
# Cross-parameter rules (start before end, span limits, bucket vs span) cannot be written in OpenAPI,
# so a schema-valid request may rightly get 422; the goals are no 5xx, no schema violation and no
# undocumented status, which every other check covers.
NOT_CHECKED = [schemathesis.checks.positive_data_acceptance]
schema = schemathesis.pytest.from_fixture("fuzz_schema").exclude(path_regex=EXCLUDED)


def _conforms_for(role: Role) -> object:
    @schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def test(case: schemathesis.Case) -> None:
        headers = {"Authorization": f"Bearer {ROLE_TOKENS[role.value]}"}
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        kwargs.pop("allow_redirects", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bodies go as content for httpx
            kwargs["content"] = kwargs.pop("data")
        cookies = kwargs.pop("cookies", None) or {}
        if cookies:  # httpx wants cookies on the client; the API ignores them anyway
            kwargs["headers"] = {**kwargs["headers"], "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        response = SEND[0](kwargs)
        case.validate_response(response, headers=headers, transport_kwargs=kwargs, excluded_checks=NOT_CHECKED)

    test.__doc__ = f"Every operation, called with a {role.value} key, conforms to the schema."
    return test


test_schema_conformance_viewer = _conforms_for(Role.VIEWER)
test_schema_conformance_engineer = _conforms_for(Role.ENGINEER)
test_schema_conformance_integrator = _conforms_for(Role.INTEGRATOR)
test_schema_conformance_manager = _conforms_for(Role.MANAGER)
test_schema_conformance_admin = _conforms_for(Role.ADMIN)
