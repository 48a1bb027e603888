"""The migrations upgrade, downgrade and upgrade again on SQLite and PostgreSQL.

Each run gets an empty database of its own (a new database on the
PostgreSQL server), and no Redis: migrating must not need one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.engine import make_url

from app import create_app
from app.models import db
from tests.servers import free_port

TABLES = {"users", "signing_keys", "server_secrets"}


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    if not database_url.startswith("postgresql"):
        yield database_url
        return

    url = make_url(database_url)
    name = f"migrations_{secrets.token_hex(4)}"
    server = url._replace(drivername="postgresql", database="postgres")
    with psycopg.connect(server.render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(server.render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def app(empty_database: str) -> Iterator[Flask]:
    # A Redis that is not there: migrating must not touch it.
    app = create_app({"DATABASE_URL": empty_database,
                      "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, environ={})
    yield app
    with app.app_context():
        db.engine.dispose()


def flask_db(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output
    return str(result.output)


def tables(app: Flask) -> set[str]:
    with app.app_context():
        names = set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()
    return names - {"alembic_version"}


def revision(app: Flask) -> Any:
    with app.app_context(), db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")
                            ).scalar()


def test_upgrade_downgrade_and_upgrade_again(app: Flask) -> None:
    flask_db(app, "upgrade")
    assert tables(app) == TABLES
    assert revision(app) == "0001"

    flask_db(app, "downgrade", "base")
    assert tables(app) == set()
    assert revision(app) is None

    flask_db(app, "upgrade")
    assert tables(app) == TABLES


def test_models_match_the_migrations(app: Flask) -> None:
    flask_db(app, "upgrade")
    flask_db(app, "check")  # exits 1 when autogenerate finds a difference


def test_the_migrated_schema_stores_users_and_rotates_keys(app: Flask) -> None:
    flask_db(app, "upgrade")
    with app.app_context():
        state = app.extensions["token_service"]
        user = state.users.register("Ann@X.test", "correct horse")
        assert state.users.authenticate("ann@x.test", "correct horse").id == user.id
        first = state.keys.signing_key()
        second = state.keys.rotate()
        published = {key["kid"] for key in state.keys.jwks()["keys"]}
        assert published == {first.kid, second.kid}
        assert state.keys.get(first.kid).retired_at is not None
        db.session.remove()
