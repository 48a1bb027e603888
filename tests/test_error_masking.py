"""No response body carries a traceback, a path, SQL, a URL or a library's
message: outages, corrupted data and bugs are forced for real, and every
answer is read over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from app import create_app
from app.models import db
from app.sessions import session_key
from tests.conftest import (
    CLUSTER_MODE,
    FAST_HASH,
    ME,
    REFRESH,
    UNKNOWN_SESSION,
    AppFactory,
)
from tests.graphql_http import (
    PASSWORD,
    Http,
    assert_no_internals,
    cookie_pair,
    error_code,
    set_cookies,
)
from tests.servers import RedisServer, free_port, live_server

SECRET = "s3cret-in-url"
LOGOUT = "mutation { logout }"
#: Well-formed, so that it is refused by its MAC and not by its shape.
FORGED = "__Host-refresh=" + UNKNOWN_SESSION + ".0." + "B" * 43


def _masked(response: requests.Response, code: str, status: int = 200) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert error_code(response.json()) == code
    assert_no_internals(response.text)
    assert SECRET not in response.text


def _cookie_operations(http: Http, cookie: str = FORGED) -> list[requests.Response]:
    return [
        http.register(),
        http.login(),
        http.post(REFRESH, cookie=cookie),
        http.post(LOGOUT, cookie=cookie),
    ]


# -- outages -----------------------------------------------------------------------


@pytest.fixture
def redis_down(make_app: AppFactory) -> Iterator[tuple[Http, int]]:
    port = free_port()  # nothing listens there
    app = make_app({"REDIS_URL": f"redis://:{SECRET}@127.0.0.1:{port}/0"})
    with live_server(app) as server:
        yield Http(server.url), port


def test_redis_never_reached_is_service_unavailable_without_detail(
        redis_down: tuple[Http, int]) -> None:
    http, port = redis_down
    for response in _cookie_operations(http)[:2]:
        _masked(response, "SERVICE_UNAVAILABLE")
        assert str(port) not in response.text
        assert response.json()["errors"][0]["message"] == (
            "The service is temporarily unavailable.")


def test_redis_lost_mid_session_is_service_unavailable_without_detail(
        make_app: AppFactory) -> None:
    redis = RedisServer().start()
    try:
        app = make_app({"REDIS_URL": redis.url, "REDIS_CLUSTER": 0})
        with live_server(app) as server:
            http = Http(server.url)
            cookie = cookie_pair(http.register())
            assert cookie is not None
            redis.stop()
            for response in _cookie_operations(http, cookie):
                _masked(response, "SERVICE_UNAVAILABLE")
                assert str(redis.port) not in response.text
    finally:
        redis.close()


def test_readiness_names_redis_without_its_url(redis_down: tuple[Http, int]) -> None:
    http, port = redis_down
    response = http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert str(port) not in response.text and SECRET not in response.text


def test_database_down_is_service_unavailable_without_detail(redis_url: str) -> None:
    port = free_port()
    url = f"postgresql+psycopg://app:{SECRET}@127.0.0.1:{port}/users"
    app = create_app({"REDIS_URL": redis_url, "REDIS_CLUSTER": CLUSTER_MODE,
                      "DATABASE_URL": url, **FAST_HASH}, environ={})
    with live_server(app) as server:
        for response in _cookie_operations(Http(server.url))[:2]:
            _masked(response, "SERVICE_UNAVAILABLE")
            assert str(port) not in response.text


def test_a_missing_table_leaks_no_sql(app: Flask) -> None:
    with app.app_context():
        db.drop_all()
    with live_server(app) as server:
        for response in _cookie_operations(Http(server.url))[:2]:
            assert error_code(response.json()) in ("SERVICE_UNAVAILABLE",
                                                   "INTERNAL_SERVER_ERROR")
            assert_no_internals(response.text)
            assert "table" not in response.text.lower()


# -- bugs and corrupted data ------------------------------------------------------


@pytest.mark.parametrize("debug", [0, 1])
def test_an_unexpected_error_in_a_resolver_is_masked_and_logged(
        make_app: AppFactory, redis_client: Any, caplog: pytest.LogCaptureFixture,
        debug: int) -> None:
    app = make_app({"FLASK_DEBUG": debug})
    with live_server(app) as server:
        http = Http(server.url)
        cookie = cookie_pair(http.register())
        assert cookie is not None
        session_id = cookie.split("=", 1)[1].split(".")[0]
        # The sessions' hash replaced by a string: Redis answers WRONGTYPE.
        redis_client.set(session_key(session_id), "not a hash")
        with caplog.at_level(logging.ERROR, logger="app"):
            response = http.post(REFRESH, cookie=cookie)

    _masked(response, "INTERNAL_SERVER_ERROR")
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error."
    assert set(error) <= {"message", "extensions", "locations", "path"}
    assert response.json()["data"] is None
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_broken_rate_limit_window_fails_closed(
        make_app: AppFactory, redis_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    with live_server(app) as server, caplog.at_level(logging.ERROR, logger="app"):
        http = Http(server.url)
        http.register()
        # The address's cookie operations window replaced by a string: the
        # limits' script fails with WRONGTYPE.
        redis_client.set("rl:{127.0.0.1}:cookie", "not a list")
        response = http.login()

    _masked(response, "INTERNAL_SERVER_ERROR")
    assert response.json()["data"] is None
    assert set_cookies(response) == []
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_failure_outside_execution_is_a_500_in_json_and_logged(
        app: Flask, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The endpoint's last net: a bug past execution (injected here, where
    no input can reach one) is logged once and answered in the error shape,
    with the hardening headers, never as an HTML page."""
    from app.graphql import view

    def broken(result: Any) -> Any:
        raise RuntimeError(SECRET)

    monkeypatch.setattr(view, "_shape", broken)
    with live_server(app) as server, caplog.at_level(logging.ERROR, logger="app"):
        response = Http(server.url).post("{ __typename }")

    _masked(response, "INTERNAL_SERVER_ERROR", 500)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_a_forged_token_gets_the_public_message_only(http_app: Http) -> None:
    response = http_app.post(ME, token="eyJhbGciOiJub25lIn0.e30.")
    _masked(response, "UNAUTHENTICATED")
    assert response.json()["errors"][0]["message"] == "Authentication required."


@pytest.fixture
def http_app(app: Flask) -> Iterator[Http]:
    with live_server(app) as server:
        yield Http(server.url)


# -- logs ------------------------------------------------------------------------


def test_logs_never_carry_passwords_or_tokens(
        http_app: Http, caplog: pytest.LogCaptureFixture) -> None:
    secrets: list[str] = [PASSWORD, "wrong password"]
    with caplog.at_level(logging.DEBUG):
        registered = http_app.register()
        http_app.login(password="wrong password")
        login = http_app.login()
        refreshed = http_app.post(REFRESH, cookie=cookie_pair(login))
        http_app.post(REFRESH, cookie=cookie_pair(login))  # grace answer
        http_app.post(LOGOUT, cookie=cookie_pair(refreshed))
    for response in (registered, login, refreshed):
        payload = next(iter(response.json()["data"].values()))
        secrets.append(payload["accessToken"])
        pair = cookie_pair(response)
        assert pair is not None
        secrets.append(pair.split("=", 1)[1])

    text = "\n".join(_rendered(record) for record in caplog.records)
    assert caplog.records
    for secret in secrets:
        assert secret not in text


def _rendered(record: logging.LogRecord) -> str:
    parts = [record.getMessage()]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    parts.extend(str(value) for key, value in vars(record).items()
                 if key not in logging.makeLogRecord({}).__dict__)
    return " ".join(parts)
