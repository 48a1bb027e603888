"""Fixtures: a real Redis per test session, a fresh database per test, and
applications built from ``create_app(test_config)`` with a manual clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from redis import Redis
from redis.cluster import RedisCluster
from sqlalchemy import text

from app import create_app
from app.clock import ManualClock
from app.models import db
from app.redis_client import client_options
from tests.cluster import Cluster
from tests.servers import RedisServer, live_server

ORIGIN = "http://127.0.0.1:5000"
#: A well-formed session id (``<user id>:<12 characters>``) that names nobody.
UNKNOWN_SESSION = "0" * 36 + ":" + "A" * 12

#: Cheap argon2 parameters: tests exercise the logic, not the hash cost.
FAST_HASH = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}

PG_URL = os.environ.get("TEST_DATABASE_URL")

#: ``cluster`` runs every test that uses ``redis_url`` against a Redis Cluster
#: of three masters and three replicas (``make test-cluster``).
TEST_REDIS = os.environ.get("TEST_REDIS", "single")
if TEST_REDIS not in ("single", "cluster"):
    raise pytest.UsageError("TEST_REDIS must be 'single' or 'cluster'")
CLUSTER_MODE = TEST_REDIS == "cluster"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium")
    config.addinivalue_line("markers", "postgres: needs TEST_DATABASE_URL")
    config.addinivalue_line("markers", "redis: uses the shared Redis (TEST_REDIS)")
    config.addinivalue_line("markers", "own_redis: starts the Redis it tests itself")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if (
            "redis_url" in getattr(item, "fixturenames", ())
            and item.get_closest_marker("own_redis") is None
        ):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """Three masters and three replicas, started once per test session."""
    cluster = Cluster().start()
    yield cluster
    cluster.close()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """An empty Redis: a single server, or every master of the cluster."""
    if CLUSTER_MODE:
        cluster: Cluster = request.getfixturevalue("redis_cluster")
        cluster.wait_healthy()
        cluster.flushall()
        return cluster.url
    server: RedisServer = request.getfixturevalue("redis_server")
    client = server.client()
    client.flushall()
    client.close()
    return server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A client of the test Redis of the right kind (``Redis`` or ``RedisCluster``)."""
    kind = RedisCluster if CLUSTER_MODE else Redis
    client = kind.from_url(redis_url, **client_options(cluster=CLUSTER_MODE))
    yield client
    client.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_800_000_000.0)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Every database the suite can reach; PostgreSQL when TEST_DATABASE_URL is set."""
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("TEST_DATABASE_URL is not set")
        return PG_URL
    return f"sqlite:///{tmp_path}/users.sqlite3"


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/users.sqlite3"


AppFactory = Callable[..., Flask]


@pytest.fixture
def make_app(redis_url: str, sqlite_url: str, clock: ManualClock) -> AppFactory:
    """Build an app on the test Redis and a fresh database; settings override."""

    def build(
        config: dict[str, Any] | None = None,
        *,
        app_clock: Any = None,
        database_url: str | None = None,
    ) -> Flask:
        settings = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url or sqlite_url,
            "REDIS_CLUSTER": CLUSTER_MODE,
            **FAST_HASH,
            **(config or {}),
        }
        app = create_app(settings, clock=app_clock or clock, environ={})
        with app.app_context():
            reset_database()
        return app

    return build


def reset_database() -> None:
    if db.engine.dialect.name == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    db.drop_all()
    db.create_all()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


class Api:
    """A GraphQL client over Flask's test client, with a cookie jar."""

    def __init__(
        self, app: Flask, origin: str | None = ORIGIN, user_agent: str = "pytest"
    ) -> None:
        self.app = app
        self.client = app.test_client()
        self.origin = origin
        self.user_agent = user_agent
        self.access_token: str | None = None

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        **headers: str,
    ) -> Any:
        sent = {"User-Agent": self.user_agent, **headers}
        if self.origin:
            sent.setdefault("Origin", self.origin)
        bearer = token or self.access_token
        if bearer:
            sent.setdefault("Authorization", f"Bearer {bearer}")
        return self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=sent
        )

    def call(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
    ) -> dict[str, Any]:
        response = self.post(query, variables, token)
        body: dict[str, Any] = response.get_json()
        return body

    # -- the operations of CONTRACT.md ----------------------------------

    def register(
        self, email: str = "ann@x.test", password: str = "correct horse"
    ) -> Any:
        return self._grant(
            "registerUser", REGISTER, {"email": email, "password": password}
        )

    def login(self, email: str = "ann@x.test", password: str = "correct horse") -> Any:
        return self._grant("loginUser", LOGIN, {"email": email, "password": password})

    def refresh(self) -> Any:
        return self._grant("refreshToken", REFRESH, None)

    def _grant(self, field: str, query: str, variables: dict[str, Any] | None) -> Any:
        body = self.call(query, variables)
        data = body.get("data") or {}
        if data.get(field):
            self.access_token = data[field]["accessToken"]
        return body

    @property
    def refresh_cookie(self) -> str | None:
        name = self.app.extensions["token_service"].settings.refresh_cookie_name
        cookie = self.client.get_cookie(name)
        return cookie.value if cookie else None

    def set_refresh_cookie(self, value: str) -> None:
        name = self.app.extensions["token_service"].settings.refresh_cookie_name
        self.client.set_cookie(name, value, path="/")


REGISTER = """mutation($email: String!, $password: String!) {
  registerUser(email: $email, password: $password) {
    accessToken tokenType expiresIn user { id email userType createdAt } } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  loginUser(email: $email, password: $password) {
    accessToken tokenType expiresIn user { id email userType createdAt } } }"""
REFRESH = "mutation { refreshToken { accessToken expiresIn user { id email } } }"
ME = "{ me { id email userType createdAt } }"
SESSIONS = (
    "{ sessions { id createdAt lastUsedAt expiresAt userAgent ipAddress current } }"
)


def code(body: dict[str, Any]) -> str | None:
    """The ``extensions.code`` of the first error, if any."""
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app)


@pytest.fixture
def http(app: Flask) -> Iterator[Any]:
    """The app (as the test module builds it) on a real HTTP server."""
    from tests.graphql_http import Http  # it imports this module's queries

    with live_server(app) as server:
        yield Http(server.url)
