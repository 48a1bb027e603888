"""The signing key ring: which key signs, which keys verify, and the JWKS.

Keys live in the database so that every worker on every host sees a
rotation without a restart. Each worker caches the parsed ring and reloads it
every ``KEY_RING_REFRESH`` seconds, and at once (at most once a second) when a
token names a ``kid`` it does not know, so a rotation reaches every worker
within ``KEY_RING_REFRESH`` seconds and tokens signed by a newer key verify
everywhere immediately.

A retired key keeps verifying, and stays in the JWKS, until every token it
signed has expired: ``ACCESS_TOKEN_TTL`` plus the ring's refresh interval
(a worker may sign with it that long after the rotation) plus the clock leeway.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from sqlalchemy.exc import SQLAlchemyError

from .clock import Clock
from .config import ConfigError, Settings
from .errors import NotFound
from .models import SigningKey, db

logger = logging.getLogger(__name__)

#: Seconds of clock skew tolerated between hosts when checking ``exp``/``iat``.
LEEWAY = 5

#: Seconds between two reloads forced by an unknown ``kid``.
_MISS_RELOAD_INTERVAL = 1.0


@dataclass(frozen=True)
class RingKey:
    """A parsed key of the ring."""

    kid: str
    algorithm: str
    signing_key: Any
    verifying_key: Any
    created_at: datetime
    retired_at: datetime | None
    public_jwk: dict[str, Any] | None


def as_utc(moment: datetime) -> datetime:
    """Attach UTC to a naive datetime read back from SQLite."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def algorithm_for(private_key: Any) -> str:
    """The JWS algorithm a private key object signs with."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if private_key.curve.name != "secp256r1":
            raise ConfigError("JWT_PRIVATE_KEY: of EC keys, only P-256 (ES256)")
        return "ES256"
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise ConfigError("JWT_PRIVATE_KEY: an RSA key needs 2048 bits or more")
        return "RS256"
    raise ConfigError("JWT_PRIVATE_KEY: unsupported key type")


def parse_private_pem(pem: str) -> Any:
    """Parse a PEM private key, or raise :class:`ConfigError` with one line."""
    try:
        return serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as err:
        raise ConfigError("JWT_PRIVATE_KEY: not an unencrypted PEM key") from err


def generate_private_key(algorithm: str) -> Any:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(algorithm)


def _public_jwk(algorithm: str, private_key: Any) -> dict[str, Any]:
    public = private_key.public_key()
    jwk: dict[str, Any] = json.loads(
        get_default_algorithms()[algorithm].to_jwk(public)  # type: ignore[attr-defined]
    )
    # RFC 7638 thumbprint: the required members, sorted, no white space.
    required = {"OKP": ("crv", "kty", "x"), "EC": ("crv", "kty", "x", "y"),
                "RSA": ("e", "kty", "n")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"),
                           sort_keys=True)
    jwk["kid"] = _b64(hashlib.sha256(canonical.encode()).digest())
    jwk["alg"] = algorithm
    jwk["use"] = "sig"
    return jwk


def _pem(private_key: Any) -> str:
    return cast(str, private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode())


def _parse_row(row: SigningKey) -> RingKey:
    created = as_utc(row.created_at)
    retired = as_utc(row.retired_at) if row.retired_at else None
    if row.algorithm == "HS256":
        secret = base64.b64decode(row.private_key)
        return RingKey(row.kid, "HS256", secret, secret, created, retired, None)
    private_key = serialization.load_pem_private_key(row.private_key.encode(), None)
    jwk = _public_jwk(row.algorithm, private_key)
    return RingKey(row.kid, row.algorithm, private_key, private_key.public_key(),
                   created, retired, jwk)


class KeyRing:
    """Per-worker cache of the signing keys stored in the database."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, RingKey] = {}
        self._active: RingKey | None = None
        self._loaded_at = float("-inf")
        self._miss_at = float("-inf")
        if settings.jwt_private_key:
            # Fail at start-up, not at the first login.
            key = parse_private_pem(settings.jwt_private_key)
            if algorithm_for(key) != settings.jwt_algorithm:
                raise ConfigError(
                    f"JWT_PRIVATE_KEY is a {algorithm_for(key)} key but "
                    f"JWT_ALGORITHM={settings.jwt_algorithm}"
                )

    @property
    def retention(self) -> int:
        """Seconds a retired key must keep verifying."""
        s = self.settings
        return s.access_token_ttl + s.key_ring_refresh + LEEWAY

    def signing_key(self) -> RingKey:
        """The key that signs new tokens; creates the first key if none exists."""
        self._refresh_if_stale()
        if self._active is None:
            self._ensure_key()
            self._reload()
        if self._active is None:  # pragma: no cover - the insert above failed
            raise RuntimeError("the key ring has no active key")
        return self._active

    def verifying_key(self, kid: str) -> RingKey | None:
        """The key named ``kid`` if it may still verify tokens, else ``None``."""
        self._refresh_if_stale()
        key = self._keys.get(kid)
        if key is None and self.clock.now() - self._miss_at > _MISS_RELOAD_INTERVAL:
            self._miss_at = self.clock.now()
            self._reload()
            key = self._keys.get(kid)
        return key if key is not None and self._published(key) else None

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify access tokens (RFC 7517)."""
        self._refresh_if_stale()
        if self._active is None:
            self.signing_key()
        keys = [k.public_jwk for k in self._keys.values()
                if k.public_jwk and self._published(k)]
        return {"keys": keys}

    def rotate(self) -> RingKey:
        """Add a new signing key and retire the current ones; returns the new key."""
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        private_key = generate_private_key(self.settings.jwt_algorithm) \
            if self.settings.jwt_algorithm != "HS256" else None
        row = self._new_row(private_key, now)
        for old in db.session.scalars(
            db.select(SigningKey).where(SigningKey.retired_at.is_(None))
        ):
            old.retired_at = now
        db.session.add(row)
        db.session.commit()
        logger.warning("signing key rotated: new kid %s", row.kid)
        self._reload()
        return self._keys[row.kid]

    def list(self) -> list[RingKey]:
        """Every key in the database, newest first, expired ones included."""
        rows = db.session.scalars(
            db.select(SigningKey).order_by(SigningKey.created_at.desc())
        )
        return [_parse_row(row) for row in rows]

    def get(self, kid: str) -> RingKey:
        row = db.session.get(SigningKey, kid)
        if row is None:
            raise NotFound(f"no key {kid}")
        return _parse_row(row)

    def _new_row(self, private_key: Any, now: datetime) -> SigningKey:
        algorithm = self.settings.jwt_algorithm
        if algorithm == "HS256":
            secret = secrets.token_bytes(32)
            return SigningKey(kid=_b64(secrets.token_bytes(16)), algorithm="HS256",
                              private_key=base64.b64encode(secret).decode(),
                              created_at=now)
        jwk = _public_jwk(algorithm, private_key)
        return SigningKey(kid=jwk["kid"], algorithm=algorithm,
                          private_key=_pem(private_key), created_at=now)

    def _ensure_key(self) -> None:
        now = datetime.fromtimestamp(self.clock.now(), UTC)
        exists = db.session.scalar(
            db.select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).limit(1)
        )
        if exists:
            return
        pem = self.settings.jwt_private_key
        if pem:
            private_key = parse_private_pem(pem)
        elif self.settings.jwt_algorithm == "HS256":
            private_key = None
        else:
            private_key = generate_private_key(self.settings.jwt_algorithm)
        row = self._new_row(private_key, now)
        if db.session.get(SigningKey, row.kid) is None:
            db.session.add(row)
            db.session.commit()
            logger.info("signing key ring started with kid %s", row.kid)

    def _refresh_if_stale(self) -> None:
        if self.clock.now() - self._loaded_at < self.settings.key_ring_refresh:
            return
        if self._active is None:
            self._reload()
            return
        try:
            self._reload()
        except SQLAlchemyError as err:
            # Keep signing and verifying with the ring we have, so the refresh
            # path does not need the database (DESIGN.md, "Failure"); try
            # again after another interval.
            db.session.rollback()
            self._loaded_at = self.clock.now()
            logger.warning("key ring kept as loaded; database unavailable: %s",
                           err.__class__.__name__)

    def _reload(self) -> None:
        with self._lock:
            now = self.clock.now()
            keys: dict[str, RingKey] = {}
            active: RingKey | None = None
            rows = db.session.scalars(
                db.select(SigningKey).order_by(SigningKey.created_at)
            ).all()
            db.session.rollback()  # end the read transaction at once
            for row in rows:
                key = self._keys.get(row.kid)
                retired = as_utc(row.retired_at) if row.retired_at else None
                if key is None or key.retired_at != retired:
                    key = _parse_row(row)  # parse each PEM once per worker
                if key.retired_at is not None and (
                    key.retired_at.timestamp() + self.retention <= now
                ):
                    continue
                keys[key.kid] = key
                if key.retired_at is None:
                    active = key  # rows are oldest first: the newest wins
            self._keys = keys
            self._active = active
            self._loaded_at = now

    def prune(self) -> tuple[str, ...]:
        """Delete keys retired longer than :attr:`retention` ago; returns their kids.

        No token they signed is valid any more and the ring no longer loads
        them, so their private keys serve no one: they are better gone from
        the database than kept for whoever reads it next.
        """
        now = self.clock.now()
        rows = db.session.scalars(
            db.select(SigningKey).where(SigningKey.retired_at.is_not(None))
        ).all()
        stale = [row for row in rows
                 if as_utc(row.retired_at).timestamp() + self.retention <= now]
        for row in stale:
            db.session.delete(row)
        db.session.commit()
        return tuple(row.kid for row in stale)

    def _published(self, key: RingKey) -> bool:
        """Whether ``key`` may verify: active, or retired under :attr:`retention`
        ago. Checked at each use, not only at each reload, so that a retired key
        leaves the JWKS on time rather than up to ``KEY_RING_REFRESH`` late."""
        if key.retired_at is None:
            return True
        return key.retired_at.timestamp() + self.retention > self.clock.now()
