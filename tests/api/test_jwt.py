"""Optional JWT bearer tokens: accepted tokens act like API keys of the same role and plants; every
refusal is a 401 with ``error="invalid_token"`` and an audit row; JWT off means a JWT is an unknown key."""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from api.app import create_app
from api.permissions import CROSS_PLANT_READERS, ROLE_PERMISSIONS, ROUTE_PERMISSIONS, Permission
from ganlink.alarms import alarm_from_event
from ganlink.cli import main
from ganlink.embedded_store import EmbeddedStore
from ganlink.errors import ConfigError
from ganlink.registry import ALL_PLANTS, Registry, Role
from ganlink.schema import AnomalyEvent
from ganlink.settings import Settings, get_settings
from ganlink.timestamps import now_ns
from ganlink.topics import DevicePath

from .conftest import AUTO, SMELTER

SECRET = "k3ep-this-shared-secret-off-the-plant-network-0123"
ISSUER = "https://idp.example.test/realms/plants"
AUDIENCE = "ganlink-api"
SMELTER_ALARM = "jwt-smelter-alarm"
AUTO_ALARM = "jwt-auto-alarm"


def _claims(**changes: Any) -> dict[str, Any]:
    """Valid claims for an engineer of the smelter; ``changes`` override (None removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "li.wei@plant", "iat": now, "exp": now + 600,
        "ganlink_role": "engineer", "ganlink_plants": [SMELTER],
    }  # fmt: skip
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(claims: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256", **header: Any) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=header or None)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _jwt_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path, "api_jwt_secret": SECRET, "api_jwt_issuer": ISSUER,
                              "api_jwt_audience": AUDIENCE}  # fmt: skip
    return Settings(**(values | changes))


async def _client(settings: Settings, store: EmbeddedStore, registry: Registry) -> httpx.AsyncClient:
    app = create_app(settings, store=store, registry=registry, sync_alarms=False)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def jwt_client(tmp_path: Path, store: EmbeddedStore, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(_jwt_settings(tmp_path), store, registry) as http:
        yield http


def _last_authentication(registry: Registry) -> dict[str, Any]:
    return registry.audit_records(limit=1, action="authenticate")[0]


# -- accepted tokens act like API keys ------------------------------------------------------------------

# A few routes, one per permission, with in-scope and other-plant paths.
ROUTES: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
    ("GET", "/api/v1/plants/{plant}", {"plant": SMELTER}, {}),
    ("GET", "/api/v1/plants/{plant}", {"plant": AUTO}, {}),
    ("GET", "/api/v1/plants/{plant}/pending-sensors", {"plant": SMELTER}, {}),
    ("GET", "/api/v1/compare", {}, {}),
    ("GET", "/api/v1/audit", {}, {}),
    ("POST", "/api/v1/alarms/{alarm_id}/comments", {"alarm_id": SMELTER_ALARM}, {"json": {"text": "checked"}}),
    ("POST", "/api/v1/alarms/{alarm_id}/comments", {"alarm_id": AUTO_ALARM}, {"json": {"text": "checked"}}),
]


def _expected(role: Role, method: str, template: str, values: dict[str, str]) -> int:
    """The status the permission table gives a caller scoped to the smelter (as the permission matrix does)."""
    permission = ROUTE_PERMISSIONS[(method, template)]
    if permission not in ROLE_PERMISSIONS[role]:
        return 403
    other_plant = values.get("plant") == AUTO or values.get("alarm_id") == AUTO_ALARM
    if other_plant and not (role in CROSS_PLANT_READERS and method == "GET" and permission is Permission.READ):
        return 404 if "alarm_id" in values else 403
    return 200


@pytest.fixture
def alarms(registry: Registry) -> None:
    for plant, area, line, device, sensor, alarm_id in [
        (SMELTER, "smelting", "furnace-1", "burner-1", "gas-temp", SMELTER_ALARM),
        (AUTO, "stamping", "press-line-1", "press-1", "force", AUTO_ALARM),
    ]:
        event = AnomalyEvent(DevicePath(plant, area, line, device), sensor, "range", now_ns(), 0.9, 1.0, alarm_id)
        registry.open_alarm(alarm_from_event(event))


@pytest.mark.usefixtures("alarms")
@pytest.mark.parametrize("role", list(Role))
async def test_accepted_token_answers_like_an_api_key_with_the_same_role_and_plants(
    jwt_client: httpx.AsyncClient, registry: Registry, role: Role
) -> None:
    api_key = _bearer(registry.create_api_key(role, [SMELTER], name=f"{role}-key")[1])
    token = _bearer(_token(_claims(ganlink_role=role.value, sub=f"{role}@idp")))
    for method, template, values, extra in ROUTES:
        path = template.format(**values)
        expected = _expected(role, method, template, values)
        by_key = await jwt_client.request(method, path, headers=api_key, **extra)
        by_jwt = await jwt_client.request(method, path, headers=token, **extra)
        assert by_key.status_code == expected, (role, method, path, by_key.text)
        assert by_jwt.status_code == expected, (role, method, path, by_jwt.text)
        if template == "/api/v1/plants/{plant}" and expected == 200:
            assert by_jwt.json() == by_key.json()


async def test_me_shows_the_subject_role_and_plants_of_the_token(jwt_client: httpx.AsyncClient) -> None:
    token = _token(_claims(ganlink_role="integrator", ganlink_plants=[AUTO, SMELTER, AUTO]))
    response = await jwt_client.get("/api/v1/me", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json() == {"name": "li.wei@plant", "role": "integrator", "plants": [AUTO, SMELTER]}


async def test_all_plants_claim_sees_every_plant_like_an_all_plants_key(jwt_client: httpx.AsyncClient) -> None:
    token = _bearer(_token(_claims(ganlink_role="viewer", ganlink_plants=[ALL_PLANTS])))
    plants = await jwt_client.get("/api/v1/plants", headers=token)
    assert {p["id"] for p in plants.json()} == {SMELTER, AUTO}
    assert (await jwt_client.get(f"/api/v1/plants/{AUTO}", headers=token)).status_code == 200


@pytest.mark.usefixtures("alarms")
async def test_alarm_action_by_token_is_audited_under_its_subject(
    jwt_client: httpx.AsyncClient, registry: Registry
) -> None:
    response = await jwt_client.post(
        f"/api/v1/alarms/{SMELTER_ALARM}/comments", json={"text": "burner checked"}, headers=_bearer(_token(_claims()))
    )
    assert response.status_code == 200, response.text
    record = registry.audit_records(limit=1, action="alarm-comment")[0]
    assert record["actor"] == "jwt li.wei@plant"
    assert record["result"] == "ok"


async def test_token_of_another_plant_is_denied_and_audited_under_its_subject(
    jwt_client: httpx.AsyncClient, registry: Registry
) -> None:
    response = await jwt_client.get(f"/api/v1/plants/{AUTO}/latest", headers=_bearer(_token(_claims())))
    assert response.status_code == 403
    record = registry.audit_records(limit=1, action="authorize")[0]
    assert (record["actor"], record["result"], record["detail"]) == ("jwt li.wei@plant", "denied", {"plant": AUTO})


async def test_token_expired_within_the_leeway_is_accepted(jwt_client: httpx.AsyncClient) -> None:
    now = int(time.time())
    token = _token(_claims(iat=now - 600, exp=now - 5))  # default leeway 30 s
    assert (await jwt_client.get("/api/v1/me", headers=_bearer(token))).status_code == 200


# -- refusals -------------------------------------------------------------------------------------------

OTHER_SECRET = "an-other-sites-shared-secret-of-enough-length-42"


def _unsigned(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, None, algorithm="none")


def _refusal_cases() -> list[tuple[str, str, str]]:
    """(case, token, fragment the reason must contain)."""
    now = int(time.time())
    return [
        ("expired", _token(_claims(iat=now - 3600, exp=now - 120)), "expired"),
        ("not yet valid", _token(_claims(nbf=now + 120)), "not yet valid"),
        ("wrong issuer", _token(_claims(iss="https://other-idp.test")), "issuer"),
        ("wrong audience", _token(_claims(aud="grafana")), "audience"),
        ("bad signature", _token(_claims(), key=OTHER_SECRET), "bad signature"),
        ("alg none", _unsigned(_claims()), "'none' not accepted"),
        ("alg not configured", _token(_claims(), algorithm="HS512", key=SECRET * 2), "'HS512' not accepted"),
        ("no exp", _token(_claims(exp=None)), "claim 'exp' missing"),
        ("no sub", _token(_claims(sub=None)), "claim 'sub' missing"),
        ("no role claim", _token(_claims(ganlink_role=None)), "claim 'ganlink_role' missing"),
        ("role not one of five", _token(_claims(ganlink_role="operator")), "claim 'ganlink_role' must be one of"),
        ("no plants claim", _token(_claims(ganlink_plants=None)), "claim 'ganlink_plants' missing"),
        ("plants not a list", _token(_claims(ganlink_plants=SMELTER)), "claim 'ganlink_plants' must be"),
        ("plants empty", _token(_claims(ganlink_plants=[])), "claim 'ganlink_plants' must be"),
        ("malformed", "eyJub3QiOiJqc29u.eyJ9.c2ln", "malformed"),
    ]


CASES = _refusal_cases()
# Refused after the signature verified: the subject is known and trusted for the audit record.
SIGNED_CLAIM_CASES = {"no role claim", "role not one of five", "no plants claim", "plants not a list", "plants empty"}


@pytest.mark.parametrize(("case", "token", "fragment"), CASES, ids=[c[0] for c in CASES])
async def test_refused_token_gives_401_invalid_token_and_an_audit_row(
    jwt_client: httpx.AsyncClient, registry: Registry, case: str, token: str, fragment: str
) -> None:
    response = await jwt_client.get(f"/api/v1/plants/{SMELTER}", headers=_bearer(token))
    assert response.status_code == 401, response.text
    assert fragment in response.json()["detail"]
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", error_description="')
    assert fragment.replace('"', "'") in challenge
    record = _last_authentication(registry)
    assert record["result"] == "denied"
    assert record["target"] == "GET /api/v1/plants/{plant}"
    assert record["detail"]["via"] == "jwt"
    assert fragment in record["detail"]["reason"]
    assert record["actor"] == ("jwt li.wei@plant" if case in SIGNED_CLAIM_CASES else "anonymous")


async def test_refused_token_adds_exactly_one_audit_row_and_reveals_nothing(
    jwt_client: httpx.AsyncClient, registry: Registry
) -> None:
    before = len(registry.audit_records(limit=1000))
    response = await jwt_client.get("/api/v1/me", headers=_bearer(_token(_claims(), key=OTHER_SECRET)))
    assert response.status_code == 401
    assert "name" not in response.json()
    assert len(registry.audit_records(limit=1000)) == before + 1


async def test_jwt_off_treats_a_jwt_as_an_unknown_api_key(client: httpx.AsyncClient, registry: Registry) -> None:
    response = await client.get("/api/v1/me", headers=_bearer(_token(_claims())))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "unknown or revoked token"
    record = _last_authentication(registry)
    assert (record["actor"], record["result"], record["detail"]) == ("anonymous", "denied", {})


async def test_api_keys_keep_working_when_jwt_is_on(jwt_client: httpx.AsyncClient, registry: Registry) -> None:
    _, token = registry.create_api_key(Role.VIEWER, [SMELTER], name="panel")
    response = await jwt_client.get("/api/v1/me", headers=_bearer(token))
    assert response.json() == {"name": "panel", "role": "viewer", "plants": [SMELTER]}
    unknown = await jwt_client.get("/api/v1/me", headers=_bearer("glk_unknown"))
    assert unknown.status_code == 401
    assert unknown.headers["www-authenticate"] == "Bearer"


# -- rate limit per subject -----------------------------------------------------------------------------


async def test_rate_limit_is_kept_per_subject(tmp_path: Path, store: EmbeddedStore, registry: Registry) -> None:
    settings = _jwt_settings(tmp_path, api_rate_limit_burst=2, api_rate_limit_per_s=0.001)
    async with await _client(settings, store, registry) as http:
        first, second = _token(_claims(jti="1")), _token(_claims(jti="2"))  # two tokens, one subject
        assert (await http.get("/api/v1/me", headers=_bearer(first))).status_code == 200
        assert (await http.get("/api/v1/me", headers=_bearer(second))).status_code == 200
        limited = await http.get("/api/v1/me", headers=_bearer(first))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        other_subject = _token(_claims(sub="zhang.min@plant"))
        assert (await http.get("/api/v1/me", headers=_bearer(other_subject))).status_code == 200


# -- public keys and key sets ---------------------------------------------------------------------------


def _pem(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


async def test_rs256_public_key_file_accepts_its_tokens_and_refuses_hs256_made_with_the_key(
    tmp_path: Path, store: EmbeddedStore, registry: Registry
) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "idp.pem"
    pem.write_bytes(_pem(private.public_key()))
    settings = _jwt_settings(tmp_path, api_jwt_secret=None, api_jwt_public_key_file=pem)
    async with await _client(settings, store, registry) as http:
        good = await http.get("/api/v1/me", headers=_bearer(_token(_claims(), key=private, algorithm="RS256")))
        assert good.status_code == 200
        assert good.json()["role"] == "engineer"
        # The classic key confusion: the public key used as an HMAC secret.
        confused = await http.get("/api/v1/me", headers=_bearer(_token(_claims(), key=SECRET, algorithm="HS256")))
        assert confused.status_code == 401
        assert "'HS256' not accepted (configured: RS256)" in confused.json()["detail"]


async def test_jwks_file_picks_the_key_by_kid(tmp_path: Path, store: EmbeddedStore, registry: Registry) -> None:
    signing = {kid: ec.generate_private_key(ec.SECP256R1()) for kid in ("2026-a", "2026-b")}
    jwks = {"keys": [json.loads(jwt.algorithms.ECAlgorithm.to_jwk(k.public_key())) | {"kid": kid, "use": "sig"}
                     for kid, k in signing.items()]}  # fmt: skip
    (tmp_path / "jwks.json").write_text(json.dumps(jwks))
    settings = _jwt_settings(tmp_path, api_jwt_secret=None, api_jwt_jwks_file=tmp_path / "jwks.json")
    async with await _client(settings, store, registry) as http:
        for kid, key in signing.items():
            token = _token(_claims(), key=key, algorithm="ES256", kid=kid)
            assert (await http.get("/api/v1/me", headers=_bearer(token))).status_code == 200, kid
        swapped = _token(_claims(), key=signing["2026-a"], algorithm="ES256", kid="2026-b")
        refused = await http.get("/api/v1/me", headers=_bearer(swapped))
        assert refused.json()["detail"] == "invalid token: bad signature"
        unknown = _token(_claims(), key=signing["2026-a"], algorithm="ES256", kid="2025-retired")
        refused = await http.get("/api/v1/me", headers=_bearer(unknown))
        assert refused.status_code == 401
        assert "no configured key with kid '2025-retired'" in refused.json()["detail"]


# -- configuration --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"api_jwt_issuer": None}, "GANLINK_API_JWT_ISSUER"),
        ({"api_jwt_audience": None}, "GANLINK_API_JWT_AUDIENCE"),
        ({"api_jwt_secret": "too-short"}, "at least 32 bytes"),
        ({"api_jwt_secret_file": Path("/nonexistent/secret")}, "not both"),
        ({"api_jwt_secret": None, "api_jwt_public_key_file": Path("/nonexistent/idp.pem")}, "cannot read"),
    ],
)
def test_incomplete_jwt_settings_stop_the_app_from_starting(
    tmp_path: Path, registry: Registry, changes: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        create_app(_jwt_settings(tmp_path, **changes), store=object(), registry=registry)  # type: ignore[arg-type]


async def test_secret_file_is_read_without_its_trailing_newline(
    tmp_path: Path, store: EmbeddedStore, registry: Registry
) -> None:
    (tmp_path / "jwt-secret").write_text(SECRET + "\n")
    settings = _jwt_settings(tmp_path, api_jwt_secret=None, api_jwt_secret_file=tmp_path / "jwt-secret")
    async with await _client(settings, store, registry) as http:
        assert (await http.get("/api/v1/me", headers=_bearer(_token(_claims())))).status_code == 200


def test_secret_never_appears_in_the_settings_repr(tmp_path: Path) -> None:
    settings = _jwt_settings(tmp_path)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


async def test_custom_claim_names_are_read(tmp_path: Path, store: EmbeddedStore, registry: Registry) -> None:
    settings = _jwt_settings(tmp_path, api_jwt_role_claim="roles_ganlink", api_jwt_plants_claim="sites")
    async with await _client(settings, store, registry) as http:
        token = _token(_claims(ganlink_role=None, ganlink_plants=None, roles_ganlink="manager", sites=[AUTO]))
        response = await http.get("/api/v1/me", headers=_bearer(token))
        assert response.json() == {"name": "li.wei@plant", "role": "manager", "plants": [AUTO]}
        default_names = await http.get("/api/v1/me", headers=_bearer(_token(_claims())))
        assert "claim 'roles_ganlink' missing" in default_names.json()["detail"]


# -- ganlink api jwt-check ------------------------------------------------------------------------------


@pytest.fixture
def jwt_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {"DATA_DIR": str(tmp_path), "API_JWT_SECRET": SECRET, "API_JWT_ISSUER": ISSUER,
                        "API_JWT_AUDIENCE": AUDIENCE}.items():  # fmt: skip
        monkeypatch.setenv(f"GANLINK_{name}", value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("jwt_env")
def test_jwt_check_prints_the_identity_of_an_accepted_token(capsys: pytest.CaptureFixture[str]) -> None:
    expires = int(time.time()) + 3600
    assert main(["api", "jwt-check", _token(_claims(exp=expires))]) == 0
    out = capsys.readouterr().out
    assert f"accepted: actor 'jwt li.wei@plant', role engineer, plants {SMELTER}, issuer {ISSUER}" in out
    assert f"expires {datetime.fromtimestamp(expires, UTC):%Y-%m-%dT%H:%M:%S}Z" in out
    assert SECRET not in out


@pytest.mark.usefixtures("jwt_env")
def test_jwt_check_prints_the_reason_of_a_refusal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(_token(_claims(aud="grafana")) + "\n"))
    assert main(["api", "jwt-check", "-"]) == 1
    assert capsys.readouterr().out.strip() == "refused: wrong audience (claim 'aud')"
    assert main(["api", "jwt-check", "glk_an-api-key"]) == 1
    assert "not a JWT" in capsys.readouterr().out


def test_jwt_check_says_when_jwt_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GANLINK_DATA_DIR", str(tmp_path))
    for name in ("SECRET", "SECRET_FILE", "PUBLIC_KEY_FILE", "JWKS_FILE"):
        monkeypatch.delenv(f"GANLINK_API_JWT_{name}", raising=False)
    get_settings.cache_clear()
    try:
        assert main(["api", "jwt-check", _token(_claims())]) == 2
    finally:
        get_settings.cache_clear()
    assert "JWT is off" in capsys.readouterr().err
