"""The defaults of a fresh machine: an embedded Redis and SQLite under instance/."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from tests.conftest import FAST_HASH, ME, Api

pytestmark = pytest.mark.own_redis


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "instance"
    yield folder
    pid_file = folder / "redis.pid"
    if pid_file.exists():
        os.kill(int(pid_file.read_text()), signal.SIGTERM)


def fresh_app(instance: Path) -> Flask:
    app = create_app(FAST_HASH, environ={}, instance_path=str(instance))
    with app.app_context():
        upgrade()
    return app


def test_without_redis_url_or_database_url_everything_lives_in_instance(
    instance: Path,
) -> None:
    api = Api(fresh_app(instance))
    api.register()
    assert api.call(ME)["data"]["me"]["email"] == "ann@x.test"
    assert (instance / "users.sqlite3").exists()
    assert (instance / "redis.sock").is_socket()
    assert (instance / "appendonly.aof").exists()  # the embedded Redis persists


def test_workers_share_one_embedded_redis(instance: Path) -> None:
    first, second = Api(fresh_app(instance)), Api(fresh_app(instance))
    first.register()
    pid = (instance / "redis.pid").read_text()
    token = first.access_token
    assert second.call(ME, token=token)["data"]["me"]["email"] == "ann@x.test"
    assert (instance / "redis.pid").read_text() == pid


def test_building_the_app_starts_no_redis(instance: Path) -> None:
    create_app(FAST_HASH, environ={}, instance_path=str(instance))
    assert not (instance / "redis.sock").exists()
