"""``flask doctor`` and the warnings gunicorn logs at start-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from app import create_app
from app.clock import SystemClock
from app.doctor import site
from tests.admin_cli import ROOT, flask, process_env
from tests.cluster import Cluster
from tests.conftest import FAST_HASH
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.own_redis

GUNICORN = os.path.join(os.path.dirname(sys.executable), "gunicorn")


@pytest.fixture
def sound_redis() -> Iterator[RedisServer]:
    """Redis as the README asks for it: AOF, noeviction, a memory cap."""
    server = RedisServer("--appendonly", "yes", "--maxmemory", "64mb",
                         "--maxmemory-policy", "noeviction").start()
    yield server
    server.close()


def doctor_app(tmp_path: Any, redis_url: str, migrate: bool = True,
               **config: Any) -> Flask:
    app = create_app({"REDIS_URL": redis_url,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/doctor.sqlite3",
                      **FAST_HASH, **config}, clock=SystemClock(), environ={})
    if migrate:
        upgraded = app.test_cli_runner().invoke(args=["db", "upgrade"])
        assert upgraded.exit_code == 0, upgraded.output
    return app


def doctor(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["doctor", *args])


def warnings(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("WARN")]


def test_sound_deployment_has_nothing_to_change(tmp_path: Any,
                                                sound_redis: RedisServer) -> None:
    result = doctor(doctor_app(tmp_path, sound_redis.url))
    assert result.exit_code == 0, result.output
    assert warnings(result) == []
    assert result.output.rstrip().endswith("nothing to change")


def test_redis_without_persistence_is_a_warning_with_the_fix(
    tmp_path: Any, sound_redis: RedisServer
) -> None:
    sound_redis.client().config_set("appendonly", "no")
    result = doctor(doctor_app(tmp_path, sound_redis.url))
    assert result.exit_code == 1
    assert warnings(result) == [
        "WARN  redis persistence: no persistence; a restart signs every user out"]
    assert "change: appendonly yes" in result.output


def test_rdb_snapshots_alone_are_a_warning(tmp_path: Any,
                                           sound_redis: RedisServer) -> None:
    admin = sound_redis.client()
    admin.config_set("appendonly", "no")
    admin.config_set("save", "900 1")
    result = doctor(doctor_app(tmp_path, sound_redis.url))
    assert "bring back sessions revoked" in " ".join(warnings(result))


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "volatile-ttl"])
def test_a_policy_that_evicts_is_a_warning(tmp_path: Any, sound_redis: RedisServer,
                                           policy: str) -> None:
    sound_redis.client().config_set("maxmemory-policy", policy)
    result = doctor(doctor_app(tmp_path, sound_redis.url))
    assert result.exit_code == 1
    [warning] = warnings(result)
    assert f"maxmemory-policy {policy} evicts keys" in warning
    assert "change: CONFIG SET maxmemory-policy noeviction" in result.output


def test_no_memory_cap_evicts_nothing(tmp_path: Any, sound_redis: RedisServer) -> None:
    admin = sound_redis.client()
    admin.config_set("maxmemory", "0")
    admin.config_set("maxmemory-policy", "allkeys-lru")
    assert warnings(doctor(doctor_app(tmp_path, sound_redis.url))) == []


def test_unreachable_redis_is_reported_quickly(tmp_path: Any) -> None:
    app = doctor_app(tmp_path, f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    result = doctor(app)
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert "WARN  redis: cannot be reached (ConnectionError)" in result.output


def test_unapplied_migrations_are_reported(tmp_path: Any,
                                           sound_redis: RedisServer) -> None:
    result = doctor(doctor_app(tmp_path, sound_redis.url, migrate=False))
    assert "schema at nothing, migrations at 0001" in result.output
    assert "change: flask --app wsgi db upgrade" in result.output


def test_cookie_without_secure_is_a_warning(tmp_path: Any,
                                            sound_redis: RedisServer) -> None:
    result = doctor(doctor_app(tmp_path, sound_redis.url, COOKIE_SECURE=0))
    assert warnings(result)[0].startswith("WARN  cookie: COOKIE_SECURE=0")
    assert "change: serve HTTPS" in result.output


def test_secure_cookie_without_a_prefix_is_a_warning(
    tmp_path: Any, sound_redis: RedisServer
) -> None:
    result = doctor(doctor_app(tmp_path, sound_redis.url, REFRESH_COOKIE_NAME="rt"))
    assert "WARN  cookie: the refresh cookie 'rt' has no __Host- prefix" \
        in result.output


def test_origins_on_two_sites_are_a_warning(tmp_path: Any,
                                            sound_redis: RedisServer) -> None:
    app = doctor_app(tmp_path, sound_redis.url,
                     CORS_ORIGINS="https://app.example.com,https://admin.example.org")
    [warning] = warnings(doctor(app))
    assert "CORS_ORIGINS spans 2 sites" in warning


@pytest.mark.parametrize(("origins", "api", "ok"), [
    ("https://app.example.com", "https://api.example.com", True),
    ("https://example.com", "https://api.example.com", True),
    ("http://app.example.com", "https://api.example.com", False),  # schemeful
    ("https://app.example.org", "https://api.example.com", False),
    ("https://app.example.com,https://spa.test", "https://api.example.com", False),
])
def test_origins_are_compared_with_the_apis_site(
    tmp_path: Any, sound_redis: RedisServer, origins: str, api: str, ok: bool
) -> None:
    app = doctor_app(tmp_path, sound_redis.url, CORS_ORIGINS=origins)
    result = doctor(app, "--api-origin", api)
    cors = [line for line in result.output.splitlines() if "cors:" in line]
    assert cors[0].startswith("ok" if ok else "WARN"), result.output


def test_site_is_scheme_and_registrable_domain() -> None:
    assert site("https://app.example.com:8443") == "https://example.com"
    assert site("http://app.example.com") == "http://example.com"
    assert site("http://127.0.0.1:5000") == "http://127.0.0.1"
    assert site("http://[::1]:5173") == "http://::1"
    assert site("http://localhost:5173") == "http://localhost"


def test_doctor_checks_every_node_of_a_cluster(tmp_path: Any,
                                               redis_cluster: Cluster) -> None:
    redis_cluster.wait_healthy()
    app = doctor_app(tmp_path, redis_cluster.url, REDIS_CLUSTER=True)
    result = doctor(app)
    assert "ok    redis: Redis 6.2" in result.output and "6 nodes" in result.output
    assert result.output.count("a failed shard stops only its own slots") == 6
    # The test cluster keeps no data on disk.
    assert len([w for w in warnings(result) if "no persistence" in w]) == 6


def test_building_the_app_connects_to_nothing(tmp_path: Any) -> None:
    env = process_env(f"redis://127.0.0.1:{free_port()}/0",
                      f"sqlite:///{tmp_path}/fresh.sqlite3")
    upgraded = flask("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "doctor" not in upgraded.stderr


def test_gunicorn_logs_the_doctors_warnings_once_at_start(
    tmp_path: Any, sound_redis: RedisServer
) -> None:
    sound_redis.client().config_set("appendonly", "no")
    env = process_env(sound_redis.url, f"sqlite:///{tmp_path}/g.sqlite3")
    assert flask("db", "upgrade", env=env).returncode == 0
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [GUNICORN, "-w", "2", "-b", f"127.0.0.1:{free_port()}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while log_path.read_text().count("Booting worker") < 2:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            server.terminate()
            server.wait(10)

    lines = [line for line in log_path.read_text().splitlines() if "doctor:" in line]
    assert len(lines) == 1
    assert "no persistence; a restart signs every user out; change: appendonly yes" \
        in lines[0]


@pytest.mark.parametrize(("setting", "value"), [("hash-max-ziplist-entries", "16"),
                                                ("hash-max-ziplist-value", "32")])
def test_smaller_compact_hashes_are_a_warning(tmp_path: Any, sound_redis: RedisServer,
                                              setting: str, value: str) -> None:
    sound_redis.client().config_set(setting, value)
    result = doctor(doctor_app(tmp_path, sound_redis.url))
    assert result.exit_code == 1
    [warning] = warnings(result)
    assert "a user's sessions leave the compact encoding sooner" in warning
    assert "change: CONFIG SET hash-max-ziplist-entries 128" in result.output
