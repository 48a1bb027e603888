"""The refresh cookie over real HTTP, attribute by attribute (CONTRACT.md)."""

from __future__ import annotations

import logging

import pytest
import requests
from flask import Flask, Response

from app.clock import ManualClock
from app.config import ConfigError
from tests.conftest import REFRESH, SESSIONS, AppFactory
from tests.graphql_http import (
    Http,
    cookie_attributes,
    cookie_pair,
    error_code,
    set_cookies,
)
from tests.servers import live_server

IDLE, ABSOLUTE = 600, 1000
LOGOUT = "mutation { logout }"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app({"REFRESH_TOKEN_TTL": IDLE, "SESSION_MAX_AGE": ABSOLUTE})


def _cookie(response: requests.Response) -> tuple[str, str, dict[str, str]]:
    lines = set_cookies(response)
    assert len(lines) == 1, lines
    return cookie_attributes(lines[0])


def _assert_host_cookie(attributes: dict[str, str]) -> None:
    """``__Host-``: Secure, Path=/, no Domain; and HttpOnly, SameSite=Strict."""
    assert set(attributes) <= {"secure", "httponly", "path", "samesite",
                               "max-age", "expires"}
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["path"] == "/"
    assert attributes["samesite"] == "Strict"
    assert "domain" not in attributes


def test_register_sets_a_host_prefixed_strict_http_only_cookie(http: Http) -> None:
    name, value, attributes = _cookie(http.register())
    assert name == "__Host-refresh"
    assert value
    _assert_host_cookie(attributes)
    assert attributes["max-age"] == str(IDLE)


def test_login_and_refresh_set_the_same_attributes(http: Http) -> None:
    http.register()
    login = http.login()
    name, _, attributes = _cookie(login)
    assert name == "__Host-refresh"
    _assert_host_cookie(attributes)
    refreshed = http.post(REFRESH, cookie=cookie_pair(login))
    name, _, attributes = _cookie(refreshed)
    assert name == "__Host-refresh"
    _assert_host_cookie(attributes)


def test_max_age_is_the_sessions_remaining_lifetime(http: Http,
                                                    clock: ManualClock) -> None:
    cookie = cookie_pair(http.register())
    clock.advance(500)  # idle deadline renewed to 600 s, absolute one 500 s away
    refreshed = http.post(REFRESH, cookie=cookie)
    assert _cookie(refreshed)[2]["max-age"] == str(ABSOLUTE - 500)
    clock.advance(300)
    again = http.post(REFRESH, cookie=cookie_pair(refreshed))
    assert _cookie(again)[2]["max-age"] == str(ABSOLUTE - 800)


def test_idle_lifetime_caps_max_age_when_it_is_shorter(make_app: AppFactory,
                                                       clock: ManualClock) -> None:
    app = make_app({"REFRESH_TOKEN_TTL": 100, "SESSION_MAX_AGE": 1000})
    with live_server(app) as server:
        http = Http(server.url)
        cookie = cookie_pair(http.register())
        clock.advance(60)
        assert _cookie(http.post(REFRESH, cookie=cookie))[2]["max-age"] == "100"


def _assert_expired(response: requests.Response, name: str = "__Host-refresh") -> None:
    cookie_name, value, attributes = _cookie(response)
    assert (cookie_name, value) == (name, "")
    assert attributes["max-age"] == "0"
    assert "1970" in attributes["expires"]


def test_logout_answers_with_a_cookie_that_expires_it(http: Http) -> None:
    cookie = cookie_pair(http.register())
    response = http.post(LOGOUT, cookie=cookie)
    assert response.json()["data"]["logout"] is True
    _assert_expired(response)
    _assert_host_cookie(_cookie(response)[2])


def test_logout_without_a_cookie_still_expires_it(http: Http) -> None:
    response = http.post(LOGOUT)
    assert response.json()["data"]["logout"] is False
    _assert_expired(response)


def test_revoking_ones_own_session_expires_the_cookie(http: Http) -> None:
    token = http.register().json()["data"]["registerUser"]["accessToken"]
    session_id = http.call(SESSIONS, token=token)["data"]["sessions"][0]["id"]
    response = http.post("mutation($id: ID!) { revokeSession(id: $id) }",
                         {"id": session_id}, token=token)
    assert response.json()["data"]["revokeSession"] is True
    _assert_expired(response)


def test_logout_all_expires_the_cookie(http: Http) -> None:
    token = http.register().json()["data"]["registerUser"]["accessToken"]
    _assert_expired(http.post("mutation { logoutAll }", token=token))


def test_a_dead_refresh_cookie_is_cleared(http: Http) -> None:
    response = http.post(REFRESH, cookie="__Host-refresh=forged")
    assert error_code(response.json()) == "REFRESH_TOKEN_INVALID"
    _assert_expired(response)


def test_failed_logins_set_no_cookie(http: Http) -> None:
    http.register()
    assert set_cookies(http.login(password="wrong password")) == []


def test_cookie_secure_off_drops_the_prefix_and_warns_at_start_up(
        make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        app = make_app({"COOKIE_SECURE": 0})
    assert any("COOKIE_SECURE=0" in record.getMessage() for record in caplog.records)
    with live_server(app) as server:
        name, _, attributes = _cookie(Http(server.url).register())
    assert name == "refresh"
    assert "secure" not in attributes
    assert attributes["path"] == "/graphql"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Strict"
    assert "domain" not in attributes


def test_a_secure_prefixed_name_is_scoped_to_the_endpoint(make_app: AppFactory) -> None:
    app = make_app({"REFRESH_COOKIE_NAME": "__Secure-refresh"})
    with live_server(app) as server:
        name, _, attributes = _cookie(Http(server.url).register())
    assert name == "__Secure-refresh"
    assert "secure" in attributes
    assert attributes["path"] == "/graphql"


def test_an_unprefixed_secure_name_warns_at_start_up(
        make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="app"):
        make_app({"REFRESH_COOKIE_NAME": "refresh"})
    assert any("no __Host- prefix" in record.getMessage() for record in caplog.records)


def test_a_prefixed_name_without_secure_is_refused_at_start_up(
        make_app: AppFactory) -> None:
    with pytest.raises(ConfigError, match="REFRESH_COOKIE_NAME"):
        make_app({"COOKIE_SECURE": 0, "REFRESH_COOKIE_NAME": "__Host-refresh"})


@pytest.mark.parametrize("token", ["", "a;b", "a b", 'a"b', "a,b",
                                   "a\r\nSet-Cookie: admin=1"])
def test_a_value_a_cookie_cannot_carry_is_refused_not_sent(app: Flask,
                                                           token: str) -> None:
    cookies = app.extensions["token_service"].cookies
    response = Response()
    with pytest.raises(ValueError, match="no cookie carries"):
        cookies.set(response, token, 60)
    assert "Set-Cookie" not in response.headers


def test_the_cookie_header_names_each_attribute_once(http: Http) -> None:
    (line,) = set_cookies(http.register())
    names = [part.split("=")[0].strip().lower() for part in line.split(";")[1:]]
    assert sorted(names) == ["httponly", "max-age", "path", "samesite", "secure"]
