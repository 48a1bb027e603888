"""Settings: one declared table of defaults, read from the environment once.

Every variable of the service is declared in :data:`DEFAULTS` with its parser
and a one-line meaning. :func:`load_settings` reads the environment (and a
``.env`` file), validates every value and raises :class:`ConfigError` with one
line naming the variable when something is wrong, so that a bad deployment
stops at start-up instead of failing mid-request.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

ALGORITHMS = ("EdDSA", "ES256", "RS256", "HS256")


class ConfigError(Exception):
    """A configuration value is missing, malformed or insecure."""


def _seconds(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive number of seconds")
    return number


def _flag(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be 0 or 1")


def _origins(value: str) -> tuple[str, ...]:
    stripped = (part.strip().rstrip("/") for part in value.split(","))
    origins = tuple(part for part in stripped if part)
    for origin in origins:
        url = urlsplit(origin)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{origin!r} is not an origin like https://app.example")
        if url.path or url.query or url.fragment or url.username or url.password:
            raise ValueError(f"{origin!r} must be scheme://host[:port] only")
        if "*" in url.netloc:
            # Origins are compared literally; a wildcard would never match
            # and suggests a pattern this service does not support.
            raise ValueError(f"{origin!r}: wildcards are not supported")
    return origins


def _algorithm(value: str) -> str:
    if value not in ALGORITHMS:
        raise ValueError(f"must be one of {', '.join(ALGORITHMS)}")
    return value


#: A rate limit: a count, a slash, an optional multiple and a unit.
RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")


def _rate(value: str) -> str:
    match = RATE.match(value)
    if not match or (match[2] and int(match[2]) == 0):
        raise ValueError("must look like 10/minute or 20/hour")
    return value.strip()


def _text(value: str) -> str:
    return value


def _optional(value: str) -> str | None:
    return value or None


def _cookie_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", value):
        raise ValueError("must be letters, digits, '_' or '-'")
    return value


@dataclass(frozen=True)
class Setting:
    parse: Callable[[str], Any]
    default: str | None
    help: str


#: Every setting, its parser and its default; ``None`` means "derived".
DEFAULTS: dict[str, Setting] = {
    "DATABASE_URL": Setting(_optional, None, "SQLAlchemy URL; SQLite under instance/"),
    "REDIS_URL": Setting(_optional, None, "Redis for sessions; embedded server"),
    "REDIS_CLUSTER": Setting(_flag, "0", "REDIS_URL names a Redis Cluster node"),
    "ACCESS_TOKEN_TTL": Setting(_positive, "300", "access token lifetime"),
    "REFRESH_TOKEN_TTL": Setting(_positive, "1209600", "idle session lifetime"),
    "SESSION_MAX_AGE": Setting(_positive, "2592000", "absolute session lifetime"),
    "REFRESH_REUSE_GRACE": Setting(_seconds, "10", "predecessor grace, 0 = off"),
    "CORS_ORIGINS": Setting(_origins, None, "origins allowed with credentials"),
    "COOKIE_SECURE": Setting(_flag, "1", "0 only for plain-http hosts"),
    "REFRESH_COOKIE_NAME": Setting(_cookie_name, None, "name of the refresh cookie"),
    "JWT_ALGORITHM": Setting(_algorithm, None, "EdDSA, or the JWT_PRIVATE_KEY's"),
    "JWT_PRIVATE_KEY": Setting(_optional, None, "PEM to start the key ring with"),
    "JWT_ISSUER": Setting(_text, "token-service", "iss written and demanded"),
    "JWT_AUDIENCE": Setting(_text, "api", "aud written and demanded"),
    "TRUSTED_PROXIES": Setting(_seconds, "0", "proxy hops allowed to set XFF"),
    "LOGIN_RATE_LIMIT": Setting(_rate, "10/minute", "failed logins per e-mail+IP"),
    "REGISTER_RATE_LIMIT": Setting(_rate, "20/hour", "registrations per IP"),
    "GRAPHQL_MAX_DEPTH": Setting(_positive, "10", "deepest selection allowed"),
    "GRAPHQL_MAX_ALIASES": Setting(_positive, "20", "aliases allowed per document"),
    "GRAPHQL_MAX_BYTES": Setting(_positive, "16384", "largest document, bytes"),
    "PORT": Setting(_positive, "5000", "port of `make run` and the demo origin"),
    "FLASK_DEBUG": Setting(_flag, "0", "debug mode: introspection, GraphiQL"),
    "KEY_RING_REFRESH": Setting(_positive, "30", "seconds a worker caches the ring"),
    "ARGON2_TIME_COST": Setting(_positive, "3", "argon2id passes"),
    "ARGON2_MEMORY_COST": Setting(_positive, "65536", "argon2id memory, KiB"),
    "ARGON2_PARALLELISM": Setting(_positive, "4", "argon2id lanes"),
    "EVENTS_MAX": Setting(_positive, "100000", "security events kept in Redis"),
    "SESSIONS_PER_USER": Setting(
        _positive, "100", "live sessions one user may hold at once"
    ),
}


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one application instance."""

    database_url: str
    redis_url: str | None
    redis_cluster: bool
    access_token_ttl: int
    refresh_token_ttl: int
    session_max_age: int
    refresh_reuse_grace: int
    cors_origins: tuple[str, ...]
    cookie_secure: bool
    refresh_cookie_name: str
    jwt_algorithm: str
    jwt_private_key: str | None
    jwt_issuer: str
    jwt_audience: str
    trusted_proxies: int
    login_rate_limit: str
    register_rate_limit: str
    graphql_max_depth: int
    graphql_max_aliases: int
    graphql_max_bytes: int
    port: int
    debug: bool
    key_ring_refresh: int
    argon2_time_cost: int
    argon2_memory_cost: int
    argon2_parallelism: int
    events_max: int
    sessions_per_user: int
    instance_path: str
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def session_lifetime(self) -> int:
        """The longest a session can live: the absolute cap wins (CONTRACT.md)."""
        return min(self.refresh_token_ttl, self.session_max_age)


def _read_dotenv(path: str) -> dict[str, str]:
    if not os.path.exists(path):
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    instance_path: str,
    dotenv_path: str | None = None,
) -> Settings:
    """Build :class:`Settings` from ``.env``, the environment and ``overrides``.

    Later sources win: ``.env`` < environment < ``overrides``.

    :raises ConfigError: one line naming the variable at fault.
    """
    raw: dict[str, str] = {}
    if dotenv_path:
        raw.update(_read_dotenv(dotenv_path))
    source = os.environ if environ is None else environ
    raw.update({k: v for k, v in source.items() if k in DEFAULTS})
    for key, value in (overrides or {}).items():
        if key not in DEFAULTS:
            raise ConfigError(f"{key}: unknown setting")
        raw[key] = str(int(value)) if isinstance(value, bool) else str(value)

    values: dict[str, Any] = {}
    for key, setting in DEFAULTS.items():
        text = raw.get(key, setting.default)
        if text is None:
            values[key] = None
            continue
        try:
            values[key] = setting.parse(text)
        except ValueError as err:
            raise ConfigError(f"{key}={text!r}: {err}") from None

    return _derive(values, instance_path)


def _derive(values: dict[str, Any], instance_path: str) -> Settings:
    warnings: list[str] = []
    port = values["PORT"]
    secure = values["COOKIE_SECURE"]

    database_url = values["DATABASE_URL"] or (
        "sqlite:///" + os.path.join(instance_path, "users.sqlite3")
    )
    origins = values["CORS_ORIGINS"] or (
        f"http://127.0.0.1:{port}",
        f"http://localhost:{port}",
        "http://127.0.0.1:5173",
        "http://localhost:5173",
    )

    cookie_name = values["REFRESH_COOKIE_NAME"]
    if cookie_name is None:
        cookie_name = "__Host-refresh" if secure else "refresh"
    if cookie_name.startswith(("__Host-", "__Secure-")) and not secure:
        raise ConfigError(
            f"REFRESH_COOKIE_NAME={cookie_name!r}: a __Host-/__Secure- cookie "
            "needs COOKIE_SECURE=1"
        )
    if secure and not cookie_name.startswith(("__Host-", "__Secure-")):
        warnings.append(
            f"REFRESH_COOKIE_NAME={cookie_name!r} has no __Host- prefix; "
            "a sibling subdomain could overwrite the cookie"
        )
    if not secure:
        warnings.append(
            "COOKIE_SECURE=0: the refresh cookie travels over plain HTTP; "
            "use it only behind no proxy on a trusted network"
        )

    redis_url = values["REDIS_URL"]
    if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL: scheme must be redis://, rediss:// or unix://")
    if values["REDIS_CLUSTER"] and not redis_url:
        raise ConfigError("REDIS_CLUSTER=1 needs REDIS_URL naming a cluster node")

    if values["JWT_ALGORITHM"] is None:
        values["JWT_ALGORITHM"] = _key_algorithm(values["JWT_PRIVATE_KEY"])
    if values["JWT_ALGORITHM"] == "HS256":
        warnings.append(
            "JWT_ALGORITHM=HS256: other services cannot verify access tokens "
            "through the JWKS; prefer EdDSA or ES256"
        )

    debug = values["FLASK_DEBUG"]
    if not debug:
        for origin in origins:
            if origin.startswith("http://") and not _is_loopback(origin):
                warnings.append(
                    f"CORS_ORIGINS allows {origin} over plain HTTP outside debug mode"
                )

    names = {f.name for f in fields(Settings)}
    kwargs = {k.lower(): v for k, v in values.items() if k.lower() in names}
    return Settings(
        **{
            **kwargs,
            "database_url": database_url,
            "cors_origins": origins,
            "refresh_cookie_name": cookie_name,
            "debug": debug,
            "instance_path": instance_path,
            "warnings": tuple(warnings),
        }
    )


def _key_algorithm(pem: str | None) -> str:
    """The algorithm a configured private key implies; EdDSA without one."""
    if not pem:
        return "EdDSA"
    from .keys import algorithm_for, parse_private_pem

    return algorithm_for(parse_private_pem(pem))


def _is_loopback(origin: str) -> bool:
    host = urlsplit(origin).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")
