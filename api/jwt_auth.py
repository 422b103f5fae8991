"""Optional JWT bearer tokens from a site's identity provider, next to the registry's API keys.

Off unless the settings name key material (``GANLINK_API_JWT_SECRET`` or ``_SECRET_FILE`` for HS256,
``GANLINK_API_JWT_PUBLIC_KEY_FILE`` for RS256/ES256, ``GANLINK_API_JWT_JWKS_FILE``); then issuer and
audience are required. :class:`JwtValidator` accepts a token only when its ``alg`` is one the
configured keys use (never ``none``), its signature verifies, ``iss``/``aud`` match, it carries
``exp`` and ``sub``, it is within ``exp``/``nbf`` (with the leeway), and its role and plants claims are
valid. The caller it yields is a :class:`JwtIdentity`, an :class:`ApiKey` whose role and plants come
from the claims, so every route treats both kinds of token alike.

    GanlinkError
    ├── ConfigError   the JWT settings are incomplete or a key file is unusable (raised when the app is built)
    └── JwtRefused    a token was not accepted; ``reason`` says why, naming the claim when one is at fault
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ganlink.errors import ConfigError, GanlinkError
from ganlink.registry import ALL_PLANTS, ApiKey, Role
from ganlink.settings import Settings
from ganlink.topics import is_slug

__all__ = ["JwtIdentity", "JwtRefused", "JwtValidator", "VerificationKey", "looks_like_jwt"]

# Three base64url parts; the signature may be empty (alg "none"), which is refused with a reason.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
MIN_HS256_SECRET_BYTES = 32  # RFC 7518 3.2: an HMAC key at least as long as the hash output
_REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]


def looks_like_jwt(token: str) -> bool:
    """True for a compact JWS (three base64url parts); API keys (``glk_...``) never contain a dot."""
    return _JWT_SHAPE.fullmatch(token) is not None


class JwtIdentity(ApiKey):
    """A caller identified by a JWT. ``id`` is 0 (no stored key), ``name`` is the token's ``sub``."""

    subject: str
    issuer: str
    expires_s: int


class JwtRefused(GanlinkError):
    """A JWT that is not accepted. ``subject`` is set only when the signature verified (then it is trusted)."""

    def __init__(self, reason: str, *, subject: str | None = None) -> None:
        self.reason = reason
        self.subject = subject
        super().__init__(reason)


@dataclass(frozen=True)
class VerificationKey:
    """One key a token may be signed with: the algorithm it verifies, the key, its ``kid`` if known."""

    algorithm: str
    key: Any  # bytes (HS256 secret), a cryptography public key, or a jwt.PyJWK
    kid: str | None = None


class JwtValidator:
    """Validates JWTs against the configured keys, issuer and audience; maps claims to a caller."""

    def __init__(
        self,
        keys: Sequence[VerificationKey],
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 30.0,
        role_claim: str = "ganlink_role",
        plants_claim: str = "ganlink_plants",
    ) -> None:
        if not keys:
            raise ValueError("a JwtValidator needs at least one key")
        if "none" in {k.algorithm.lower() for k in keys}:
            raise ValueError("alg 'none' is never accepted")
        self.keys = tuple(keys)
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.role_claim = role_claim
        self.plants_claim = plants_claim

    @property
    def algorithms(self) -> list[str]:
        """The ``alg`` values accepted: those of the configured keys."""
        return sorted({k.algorithm for k in self.keys})

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtValidator | None:
        """The validator the settings configure, or None when JWT is off; ConfigError names what to fix."""
        if not settings.api_jwt_configured:
            return None
        missing = [name for name in ("api_jwt_issuer", "api_jwt_audience") if not getattr(settings, name)]
        if missing:
            env = ", ".join(f"GANLINK_{name.upper()}" for name in missing)
            raise ConfigError(f"JWT keys are configured but these are not set: {env} (tokens must name both)")
        keys: list[VerificationKey] = []
        secret = _shared_secret(settings)
        if secret is not None:
            keys.append(VerificationKey("HS256", secret))
        if settings.api_jwt_public_key_file is not None:
            keys.append(_pem_key(settings.api_jwt_public_key_file))
        if settings.api_jwt_jwks_file is not None:
            keys.extend(_jwks_keys(settings.api_jwt_jwks_file))
        return cls(
            keys,
            issuer=str(settings.api_jwt_issuer),
            audience=str(settings.api_jwt_audience),
            leeway_s=settings.api_jwt_leeway_s,
            role_claim=settings.api_jwt_role_claim,
            plants_claim=settings.api_jwt_plants_claim,
        )

    def identify(self, token: str) -> JwtIdentity:
        """The caller a valid token stands for; raises :class:`JwtRefused` with the reason otherwise."""
        claims = self._verified_claims(token)
        subject = str(claims["sub"])
        if not subject:
            raise JwtRefused("claim 'sub' is empty")
        return JwtIdentity(
            id=0,
            name=subject,
            role=self._role(claims, subject),
            plants=self._plants(claims, subject),
            created_ns=_int_claim(claims, "iat") * 1_000_000_000,
            subject=subject,
            issuer=self.issuer,
            expires_s=_int_claim(claims, "exp"),
        )

    def _verified_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise JwtRefused(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.algorithms:
            raise JwtRefused(f"algorithm {algorithm!r} not accepted (configured: {', '.join(self.algorithms)})")
        candidates = self._keys_for(algorithm, header.get("kid"))
        for number, candidate in enumerate(candidates, start=1):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway_s,
                    options={"require": _REQUIRED_CLAIMS},
                )
            except jwt.InvalidSignatureError as exc:
                if number < len(candidates):  # a key set without kid: try the next key of this algorithm
                    continue
                raise JwtRefused("bad signature") from exc
            except jwt.PyJWTError as exc:
                raise JwtRefused(_reason(exc)) from exc
            return claims
        raise JwtRefused(f"no configured key with kid {header.get('kid')!r} for {algorithm}")

    def _keys_for(self, algorithm: str, kid: object) -> list[VerificationKey]:
        same_alg = [k for k in self.keys if k.algorithm == algorithm]
        if kid is not None:
            by_kid = [k for k in same_alg if k.kid == kid]
            return by_kid or [k for k in same_alg if k.kid is None]
        return same_alg

    def _role(self, claims: dict[str, Any], subject: str) -> Role:
        value = claims.get(self.role_claim)
        if value is None:
            raise JwtRefused(f"claim {self.role_claim!r} missing", subject=subject)
        roles = [r.value for r in Role]
        if not isinstance(value, str) or value not in roles:
            raise JwtRefused(f"claim {self.role_claim!r} must be one of {', '.join(roles)}", subject=subject)
        return Role(value)

    def _plants(self, claims: dict[str, Any], subject: str) -> list[str]:
        value = claims.get(self.plants_claim)
        if value is None:
            raise JwtRefused(f"claim {self.plants_claim!r} missing", subject=subject)
        if not isinstance(value, list) or not value or not all(p == ALL_PLANTS or is_slug(p) for p in value):
            raise JwtRefused(
                f"claim {self.plants_claim!r} must be a non-empty list of plant ids or ['{ALL_PLANTS}']",
                subject=subject,
            )
        plants = sorted(set(value))
        return [ALL_PLANTS] if ALL_PLANTS in plants else plants


def _int_claim(claims: dict[str, Any], name: str) -> int:
    value = claims.get(name)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _reason(exc: jwt.PyJWTError) -> str:
    """A short reason for a client (and the audit log), naming the claim when one is at fault."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired (claim 'exp')"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid (claim 'nbf' or 'iat')"
    if isinstance(exc, jwt.InvalidIssuedAtError):
        return "claim 'iat' is invalid"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer (claim 'iss')"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience (claim 'aud')"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"claim {exc.claim!r} missing"
    if isinstance(exc, jwt.exceptions.InvalidSubjectError):
        return "claim 'sub' must be a string"
    if isinstance(exc, jwt.DecodeError):
        return f"malformed token: {exc}"
    return f"invalid token: {exc}"


def _shared_secret(settings: Settings) -> bytes | None:
    if settings.api_jwt_secret is not None and settings.api_jwt_secret_file is not None:
        raise ConfigError("set GANLINK_API_JWT_SECRET or GANLINK_API_JWT_SECRET_FILE, not both")
    if settings.api_jwt_secret is not None:
        secret = settings.api_jwt_secret.get_secret_value().encode()
        where = "GANLINK_API_JWT_SECRET"
    elif settings.api_jwt_secret_file is not None:
        secret = _read(settings.api_jwt_secret_file).strip()
        where = str(settings.api_jwt_secret_file)
    else:
        return None
    if len(secret) < MIN_HS256_SECRET_BYTES:
        raise ConfigError(f"the HS256 secret must be at least {MIN_HS256_SECRET_BYTES} bytes", path=where)
    return secret


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=str(path)) from exc


def _pem_key(path: Path) -> VerificationKey:
    """A PEM public key or certificate: RSA verifies RS256, EC P-256 verifies ES256."""
    data = _read(path)
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key: Any = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise ConfigError(f"not a PEM public key or certificate: {exc}", path=str(path)) from exc
    if isinstance(key, rsa.RSAPublicKey):
        return VerificationKey("RS256", key)
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return VerificationKey("ES256", key)
    raise ConfigError("unsupported key type: use an RSA key (RS256) or an EC P-256 key (ES256)", path=str(path))


def _jwks_keys(path: Path) -> list[VerificationKey]:
    """The signing keys of a JWKS file (keys marked ``"use": "enc"`` are left out)."""
    try:
        document = json.loads(_read(path))
        key_set = jwt.PyJWKSet.from_dict(document)
    except (ValueError, jwt.PyJWTError) as exc:
        raise ConfigError(f"not a usable JSON Web Key Set: {exc}", path=str(path)) from exc
    keys = [
        VerificationKey(k.algorithm_name, k, k.key_id)
        for k in key_set.keys
        if k.public_key_use != "enc" and k.algorithm_name.lower() != "none"
    ]
    if not keys:
        raise ConfigError("no signing key in the key set", path=str(path))
    return keys
