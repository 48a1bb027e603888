"""Settings: one table of defaults, validated at start-up with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import DEFAULTS, ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent


def load(tmp_path: Path, dotenv: str | None = None, **env: str):  # type: ignore[no-untyped-def]
    path = None
    if dotenv is not None:
        path = tmp_path / ".env"
        path.write_text(dotenv)
    return load_settings(
        environ=env,
        instance_path=str(tmp_path),
        dotenv_path=str(path) if path else None,
    )


def test_defaults_are_the_contracts(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert (s.access_token_ttl, s.refresh_token_ttl, s.session_max_age) == (
        300,
        1209600,
        2592000,
    )
    assert s.refresh_reuse_grace == 10
    assert s.cookie_secure and s.refresh_cookie_name == "__Host-refresh"
    assert s.jwt_algorithm == "EdDSA"
    assert (s.jwt_issuer, s.jwt_audience) == ("token-service", "api")
    assert (s.graphql_max_depth, s.graphql_max_aliases, s.graphql_max_bytes) == (
        10,
        20,
        16384,
    )
    assert s.login_rate_limit == "10/minute" and s.register_rate_limit == "20/hour"
    assert s.database_url.startswith("sqlite:///") and s.redis_url is None
    assert "http://127.0.0.1:5000" in s.cors_origins


def test_every_setting_has_a_help_line() -> None:
    assert all(setting.help for setting in DEFAULTS.values())


def test_cookie_name_without_secure_is_plain_refresh(tmp_path: Path) -> None:
    s = load(tmp_path, COOKIE_SECURE="0")
    assert s.refresh_cookie_name == "refresh"
    assert any("COOKIE_SECURE=0" in w for w in s.warnings)


def test_secure_cookie_without_prefix_is_accepted_with_a_warning(
    tmp_path: Path,
) -> None:
    s = load(tmp_path, REFRESH_COOKIE_NAME="rt")
    assert s.refresh_cookie_name == "rt"
    assert any("__Host-" in w for w in s.warnings)


def test_dotenv_is_honoured_and_the_environment_wins(tmp_path: Path) -> None:
    s = load(
        tmp_path, "ACCESS_TOKEN_TTL=60\nJWT_ISSUER=from-dotenv\n", ACCESS_TOKEN_TTL="90"
    )
    assert s.access_token_ttl == 90 and s.jwt_issuer == "from-dotenv"


def test_any_combination_of_lifetimes_is_valid(tmp_path: Path) -> None:
    s = load(tmp_path, REFRESH_TOKEN_TTL="1000", SESSION_MAX_AGE="10")
    assert s.session_lifetime == 10


@pytest.mark.parametrize(
    "name,value",
    [
        ("ACCESS_TOKEN_TTL", "0"),
        ("ACCESS_TOKEN_TTL", "five"),
        ("REFRESH_REUSE_GRACE", "-1"),
        ("COOKIE_SECURE", "maybe"),
        ("JWT_ALGORITHM", "none"),
        ("JWT_ALGORITHM", "HS512"),
        ("CORS_ORIGINS", "*"),
        ("CORS_ORIGINS", "app.example"),
        ("CORS_ORIGINS", "https://app.example/path"),
        ("CORS_ORIGINS", "https://*.example"),
        ("CORS_ORIGINS", "https://user@app.example"),
        ("LOGIN_RATE_LIMIT", "lots"),
        ("REGISTER_RATE_LIMIT", "5/0 minutes"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("REFRESH_COOKIE_NAME", "a b"),
        ("GRAPHQL_MAX_DEPTH", "0"),
        ("TRUSTED_PROXIES", "-2"),
    ],
)
def test_bad_values_stop_with_a_line_naming_the_variable(
    tmp_path: Path, name: str, value: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, **{name: value})
    assert name in str(caught.value) and "\n" not in str(caught.value)


def test_host_prefix_needs_a_secure_cookie(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, COOKIE_SECURE="0", REFRESH_COOKIE_NAME="__Host-refresh")


def test_cluster_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, REDIS_CLUSTER="1")


def test_mismatched_private_key_stops_the_app(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from app import create_app

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY"):
        create_app({"JWT_PRIVATE_KEY": pem, "JWT_ALGORITHM": "EdDSA"}, environ={})
    with pytest.raises(ConfigError, match="JWT_PRIVATE_KEY"):
        create_app({"JWT_PRIVATE_KEY": "not a pem"}, environ={})
    assert create_app({"JWT_PRIVATE_KEY": pem, "JWT_ALGORITHM": "ES256"}, environ={})
    inferred = create_app({"JWT_PRIVATE_KEY": pem}, environ={})
    assert inferred.extensions["token_service"].settings.jwt_algorithm == "ES256"


def test_gunicorn_entry_point_refuses_bad_config_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in DEFAULTS}
    env["ACCESS_TOKEN_TTL"] = "-5"
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "configuration error: ACCESS_TOKEN_TTL='-5': "
        "must be a positive number of seconds"
    ]
