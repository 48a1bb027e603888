"""Every command fails in one line, with status 3, when Redis or the database
cannot be reached; never with a traceback."""

from __future__ import annotations

import pytest
from flask import Flask

from app import create_app
from app.clock import ManualClock
from app.users import Argon2Parameters, Users
from tests.admin_cli import Cli
from tests.conftest import CLUSTER_MODE, FAST_HASH, UNKNOWN_SESSION, AppFactory
from tests.servers import free_port

PASSWORD = "correct horse"

NEEDS_REDIS = [
    ("sessions", "list"),
    ("sessions", "list", "--json"),
    ("sessions", "list", "--user", "ann@x.test"),
    ("sessions", "show", UNKNOWN_SESSION),
    ("sessions", "revoke", UNKNOWN_SESSION),
    ("sessions", "revoke-user", "ann@x.test"),
    ("sessions", "revoke-all", "--yes"),
    ("users", "set-type", "ann@x.test", "admin"),
    ("events",),
    ("events", "--user", "ann@x.test"),
]

NEEDS_DATABASE = [
    ("users", "create", "bob@x.test"),
    ("users", "list"),
    ("users", "set-type", "ann@x.test", "admin"),
    ("sessions", "list", "--user", "ann@x.test"),
    ("sessions", "revoke-user", "ann@x.test"),
    ("keys", "list"),
    ("keys", "show", "some-kid"),
    ("keys", "rotate"),
    ("events", "--user", "ann@x.test"),
]


@pytest.fixture
def redis_down(make_app: AppFactory) -> Flask:
    """An app whose Redis port has nobody listening; its database works."""
    app = make_app({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                    "REDIS_CLUSTER": False})
    with app.app_context():
        Users(Argon2Parameters(1, 1024, 1)).register("ann@x.test", PASSWORD)
    return app


@pytest.fixture
def database_down(redis_url: str, tmp_path: object, clock: ManualClock) -> Flask:
    """An app whose SQLite file lies in a directory that does not exist."""
    return create_app(
        {"REDIS_URL": redis_url, "REDIS_CLUSTER": CLUSTER_MODE,
         "DATABASE_URL": f"sqlite:///{tmp_path}/gone/db.sqlite3", **FAST_HASH},
        clock=clock, environ={},
    )


@pytest.mark.parametrize("args", NEEDS_REDIS, ids=" ".join)
def test_unreachable_redis_fails_in_one_line(redis_down: Flask,
                                            args: tuple[str, ...]) -> None:
    error = Cli(redis_down).fails(*args, status=3)

    assert error.startswith("error: Redis is unavailable: ")
    assert "Connection refused" in error


@pytest.mark.parametrize("args", NEEDS_DATABASE, ids=" ".join)
def test_unreachable_database_fails_in_one_line(database_down: Flask,
                                               args: tuple[str, ...]) -> None:
    error = Cli(database_down).fails(*args, status=3, input=PASSWORD)

    assert error == "error: the database is unavailable: unable to open database file"
