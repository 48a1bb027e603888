"""Redis failures, on a redis-server of each test's own (CONTRACT.md rule 5).

Down, paused, restarted with and without its data: the service answers
SERVICE_UNAVAILABLE within two seconds where it needs Redis, keeps
verifying access tokens by their signature, recovers by itself, and never
lets a session that Redis has lost or revoked back in. The refresh path
needs Redis only, not the database.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jwt
import pytest
from flask import Flask

from app import create_app
from app.clock import ManualClock
from app.models import db
from tests.conftest import FAST_HASH, ME, PG_URL, SESSIONS, Api, AppFactory, code
from tests.proxy import TcpProxy
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.own_redis

#: CONTRACT.md rule 5: an answer within two seconds.
DEADLINE = 2.0
LOGOUT = "mutation { logout }"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A Redis that keeps its data across restarts (AOF, fsync always)."""
    own = RedisServer("--appendonly", "yes", "--appendfsync", "always").start()
    yield own
    own.close()


@pytest.fixture
def volatile_server() -> Iterator[RedisServer]:
    """A Redis without persistence: a restart loses everything."""
    own = RedisServer().start()
    yield own
    own.close()


def _app(make_app: AppFactory, server: RedisServer, **config: Any) -> Flask:
    return make_app({"REDIS_URL": server.url, "REDIS_CLUSTER": False, **config})


@pytest.fixture
def app(make_app: AppFactory, server: RedisServer) -> Flask:
    return _app(make_app, server)


@contextmanager
def paused(server: RedisServer, operations: int) -> Iterator[None]:
    """``CLIENT PAUSE`` long enough for ``operations`` requests to time out.

    Redis 6.2 pauses ``CLIENT UNPAUSE`` too, so the pause is sized to the
    test and waited out.
    """
    admin = server.client()
    admin.execute_command("CLIENT", "PAUSE", int((operations * 1.2 + 0.3) * 1000))
    try:
        yield
    finally:
        server.wait_ready()
        admin.close()


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = call()
    return result, time.monotonic() - start


def signed_in(app: Flask, email: str = "ann@x.test") -> Api:
    api = Api(app)
    assert code(api.register(email)) is None
    return api


def _operations(api: Api) -> dict[str, Callable[[], Any]]:
    """Every operation that needs Redis, each answering a body."""
    return {
        "registerUser": lambda: api.register("new@x.test"),
        "loginUser": lambda: api.login(),
        "refreshToken": lambda: api.refresh(),
        "logout": lambda: api.call(LOGOUT),
        "sessions": lambda: api.call(SESSIONS),
        "logoutAll": lambda: api.call("mutation { logoutAll }"),
    }


def _assert_unavailable_quickly(api: Api, what: str) -> None:
    for name, operation in _operations(api).items():
        body, seconds = timed(operation)
        print(f"{what}: {name} SERVICE_UNAVAILABLE in {seconds:.3f} s")
        assert code(body) == "SERVICE_UNAVAILABLE", name
        assert seconds < DEADLINE, name


# -- down and paused --------------------------------------------------------


def test_redis_down_answers_service_unavailable_within_two_seconds(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    server.stop()
    _assert_unavailable_quickly(api, "down")


def test_paused_redis_answers_service_unavailable_within_two_seconds(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    with paused(server, len(_operations(api))):
        _assert_unavailable_quickly(api, "paused")


def test_paused_redis_answers_a_worker_without_connections_within_two_seconds(
    app: Flask, server: RedisServer, sqlite_url: str, clock: ManualClock
) -> None:
    api = signed_in(app)
    # Another worker on the same stores, whose pool has no connection yet.
    worker = create_app({"REDIS_URL": server.url, "DATABASE_URL": sqlite_url,
                         **FAST_HASH}, clock=clock, environ={})
    fresh = Api(worker)
    fresh.set_refresh_cookie(api.refresh_cookie or "")
    with paused(server, 1):
        body, seconds = timed(fresh.refresh)
    print(f"paused, new connection: refreshToken in {seconds:.3f} s")
    assert code(body) == "SERVICE_UNAVAILABLE"
    assert seconds < DEADLINE


def test_readyz_names_redis_while_it_is_down_or_paused(
    app: Flask, server: RedisServer
) -> None:
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    with paused(server, 1):
        answer, seconds = timed(lambda: client.get("/readyz"))
    print(f"paused: /readyz 503 in {seconds:.3f} s")
    assert answer.status_code == 503 and answer.get_json()["down"] == ["redis"]
    assert seconds < DEADLINE

    server.stop()
    down, seconds = timed(lambda: client.get("/readyz"))
    print(f"down: /readyz 503 in {seconds:.3f} s")
    assert down.status_code == 503 and down.get_json()["down"] == ["redis"]
    assert seconds < DEADLINE


# -- access tokens while Redis is down (rule 5) -----------------------------


def test_me_answers_from_the_verified_token_while_redis_is_down(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    expected = api.call(ME)["data"]["me"]
    server.stop()

    body, seconds = timed(lambda: api.call(ME))
    assert "errors" not in body
    assert body["data"]["me"] == expected
    assert seconds < DEADLINE


def test_me_while_redis_is_paused_answers_within_two_seconds(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    with paused(server, 1):
        body, seconds = timed(lambda: api.call(ME))
    print(f"paused: me from the token in {seconds:.3f} s")
    assert body["data"]["me"]["email"] == "ann@x.test"
    assert seconds < DEADLINE


def test_jwks_verifies_tokens_while_redis_is_down(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    server.stop()

    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    token = api.access_token or ""
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    claims = jwt.decode(token, key, algorithms=[key.algorithm_name], audience="api",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["sub"] == api.call(ME)["data"]["me"]["id"]


def test_forged_or_expired_tokens_are_refused_while_redis_is_down(
    app: Flask, server: RedisServer, clock: ManualClock
) -> None:
    api = signed_in(app)
    token = api.access_token or ""
    server.stop()

    head, payload, signature = token.split(".")
    forged = ".".join((head, payload, signature[::-1]))
    assert code(api.call(ME, token=forged)) == "UNAUTHENTICATED"
    clock.advance(301)
    assert code(api.call(ME, token=token)) == "UNAUTHENTICATED"


def test_only_me_is_served_on_an_unchecked_session(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    server.stop()
    body = api.call("{ me { email } sessions { id } }")
    assert code(body) == "SERVICE_UNAVAILABLE"
    assert [e["path"] for e in body["errors"]] == [["sessions"]]


# -- recovery -----------------------------------------------------------------


def test_service_recovers_without_restart_when_redis_returns(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    client = app.test_client()
    server.stop()
    assert code(api.refresh()) == "SERVICE_UNAVAILABLE"
    assert client.get("/readyz").status_code == 503

    server.start()
    assert client.get("/readyz").status_code == 200
    assert code(api.refresh()) is None
    assert code(api.call(SESSIONS)) is None
    assert code(Api(app).login()) is None


def test_restart_with_persistence_keeps_sessions_and_revocations(
    app: Flask, server: RedisServer
) -> None:
    kept, revoked = signed_in(app), Api(app)
    assert code(revoked.login()) is None
    revoked_cookie = revoked.refresh_cookie or ""
    assert revoked.call(LOGOUT)["data"]["logout"] is True

    assert server.process is not None
    server.process.kill()  # a crash: only what the AOF holds survives
    server.process.wait()
    server.start()

    assert code(kept.refresh()) is None
    assert code(kept.call(ME)) is None
    revoked.set_refresh_cookie(revoked_cookie)
    assert code(revoked.refresh()) == "REFRESH_TOKEN_INVALID"


def test_redis_restarted_without_its_data_signs_everyone_out(
    make_app: AppFactory, volatile_server: RedisServer
) -> None:
    app = _app(make_app, volatile_server)
    ann, bob = signed_in(app), signed_in(app, "bob@x.test")
    old_cookie, old_token = ann.refresh_cookie or "", ann.access_token
    assert bob.call(LOGOUT)["data"]["logout"] is True

    volatile_server.stop()
    volatile_server.start()
    assert volatile_server.client().dbsize() == 0

    # State that is gone reads as revoked: nothing reopens.
    assert code(ann.call(ME, token=old_token)) == "UNAUTHENTICATED"
    assert code(ann.refresh()) == "REFRESH_TOKEN_INVALID"
    ann.set_refresh_cookie(old_cookie)
    assert code(ann.refresh()) == "REFRESH_TOKEN_INVALID"
    assert code(bob.refresh()) == "REFRESH_TOKEN_MISSING"

    # Signing in again starts a new session; the old one stays dead.
    assert code(ann.login()) is None
    ann_new = ann.refresh_cookie or ""
    assert ann_new.split(".")[0] != old_cookie.split(".")[0]
    assert code(ann.call(ME, token=old_token)) == "UNAUTHENTICATED"


# -- the refresh path needs no database -------------------------------------


@pytest.fixture
def unreachable_database(database_url: str, tmp_path: Any) -> Iterator[
        tuple[str, Callable[[], None]]]:
    """A database URL and a function that makes it unreachable.

    PostgreSQL is reached through a proxy that is then cut; SQLite loses its
    file and folder, so no connection can be opened again.
    """
    if database_url.startswith("postgresql"):
        assert PG_URL
        port = int(PG_URL.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
        proxy = TcpProxy(port).start()
        yield PG_URL.replace(f":{port}/", f":{proxy.port}/"), proxy.cut
        proxy.cut()
        return

    folder = tmp_path / "db"
    os.makedirs(folder)
    yield f"sqlite:///{folder}/users.sqlite3", lambda: shutil.rmtree(folder)


def test_refresh_works_while_the_database_is_unreachable(
    make_app: AppFactory, server: RedisServer, clock: ManualClock,
    unreachable_database: tuple[str, Callable[[], None]],
) -> None:
    url, cut = unreachable_database
    app = make_app({"REDIS_URL": server.url, "REDIS_CLUSTER": False},
                   database_url=url)
    api = signed_in(app)
    assert code(api.refresh()) is None

    cut()
    with app.app_context():
        db.engine.dispose()  # drop pooled connections, as a restart would
    assert code(Api(app).login()) == "SERVICE_UNAVAILABLE"

    # Past the key ring's reload interval and the access token's lifetime.
    for _ in range(3):
        clock.advance(200)
        body = api.refresh()
        assert code(body) is None, body
        assert code(api.call(ME)) is None


# -- other ways Redis refuses ---------------------------------------------


def test_full_redis_under_noeviction_answers_service_unavailable(
    app: Flask, server: RedisServer
) -> None:
    api = signed_in(app)
    admin = server.client()
    admin.set("ballast", "x" * 3_000_000)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "2mb")  # below what it holds: no write fits

    assert code(Api(app).login()) == "SERVICE_UNAVAILABLE"
    assert code(api.refresh()) == "SERVICE_UNAVAILABLE"
    assert code(api.call(ME)) is None  # reads still work


def test_unreachable_cluster_answers_service_unavailable(make_app: AppFactory) -> None:
    app = make_app({"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
                    "REDIS_CLUSTER": True})
    body, seconds = timed(lambda: Api(app).login())
    assert code(body) == "SERVICE_UNAVAILABLE"
    assert seconds < DEADLINE
    # An operation that needs no Redis before its resolver runs, too.
    assert code(Api(app).call(ME)) == "SERVICE_UNAVAILABLE"
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503 and answer.get_json()["down"] == ["redis"]


def test_logout_that_cannot_reach_redis_keeps_the_cookie(
    app: Flask, server: RedisServer
) -> None:
    api = Api(app)
    api.register()
    server.stop()
    response = api.post(LOGOUT)
    assert code(response.get_json()) == "SERVICE_UNAVAILABLE"
    assert "Set-Cookie" not in response.headers  # the user can try again
    server.start()
    assert api.call(LOGOUT)["data"]["logout"] is True
