"""CORS over real HTTP: an exact allow-list with credentials, never ``*``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from app.config import ConfigError
from tests.conftest import AppFactory
from tests.graphql_http import Http
from tests.servers import live_server

SPA = "http://127.0.0.1:5173"

#: Origins that resemble an allowed one and must get nothing.
NEAR_MISSES = [
    "http://127.0.0.1:5173.evil.example",
    "http://127.0.0.1:51730",
    "http://127.0.0.1:517",
    "http://127.0.0.1:5174",
    "https://127.0.0.1:5173",
    "http://127.0.0.1",
    "http://127.0.0.2:5173",
    "http://evil.example",
    "http://evil.example/http://127.0.0.1:5173",
    "http://127.0.0.1:5173/",
    "http://127.0.0.1:5173@evil.example",
    "null",
    "*",
]


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app({"CORS_ORIGINS": f"{SPA},http://localhost:5173"})


@pytest.fixture
def http(app: Flask) -> Iterator[Http]:
    with live_server(app) as server:
        yield Http(server.url, origin=SPA)


def _preflight(http: Http, origin: str, path: str = "/graphql") -> requests.Response:
    return http.request("OPTIONS", path, headers={
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,authorization",
    })


def test_preflight_from_an_allowed_origin_allows_credentials_and_is_cached(
        http: Http) -> None:
    response = _preflight(http, SPA)
    headers = response.headers
    assert response.status_code == 200
    assert headers["Access-Control-Allow-Origin"] == SPA
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert set(headers["Access-Control-Allow-Methods"].split(", ")) == {"GET", "POST"}
    allowed = headers["Access-Control-Allow-Headers"].lower().split(",")
    assert {h.strip() for h in allowed} == {"content-type", "authorization"}
    assert 60 <= int(headers["Access-Control-Max-Age"]) <= 7200
    assert "Origin" in headers["Vary"]


def test_a_request_from_an_allowed_origin_may_read_the_answer(http: Http) -> None:
    response = http.post("{ __typename }")
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


def test_refusals_carry_cors_headers_so_the_spa_can_read_them(http: Http) -> None:
    response = http.post("{ nope }")
    assert response.status_code == 400
    assert response.headers["Access-Control-Allow-Origin"] == SPA


def test_the_allowed_origin_is_echoed_never_a_wildcard(http: Http) -> None:
    for origin in (SPA, "http://localhost:5173"):
        response = http.post("{ __typename }", origin=origin)
        assert response.raw.headers.getlist("Access-Control-Allow-Origin") == [origin]


@pytest.mark.parametrize("origin", NEAR_MISSES)
def test_near_miss_origins_get_no_cors_headers(http: Http, origin: str) -> None:
    preflight = _preflight(http, origin)
    for response in (preflight, http.post("{ __typename }", origin=origin)):
        headers = response.headers
        assert "Access-Control-Allow-Origin" not in headers
        assert "Access-Control-Allow-Credentials" not in headers


def test_requests_without_origin_get_no_allow_list(http: Http) -> None:
    response = http.post("{ __typename }", origin=None)
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("path", ["/.well-known/jwks.json", "/healthz", "/"])
def test_cors_covers_the_graphql_endpoint_only(http: Http, path: str) -> None:
    response = http.get(path, headers={"Origin": SPA})
    preflight = _preflight(http, SPA, path)
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_an_ipv6_origin_is_matched_as_a_literal(make_app: AppFactory) -> None:
    """``[::1]`` is compared as text, never read as a pattern."""
    app = make_app({"CORS_ORIGINS": "http://[::1]:5173"})
    with live_server(app) as server:
        http = Http(server.url)
        allowed = http.post("{ __typename }", origin="http://[::1]:5173")
        assert allowed.headers["Access-Control-Allow-Origin"] == "http://[::1]:5173"
        for origin in ("http://1:5173", "http://::5173", "http://[::1]:5173.evil"):
            response = http.post("{ __typename }", origin=origin)
            assert "Access-Control-Allow-Origin" not in response.headers
            assert http.login(origin=origin).status_code == 403


@pytest.mark.parametrize("value", ["*", "null", "127.0.0.1:5173", "file://",
                                   "http://app.example/path"])
def test_cors_origins_must_be_plain_origins(make_app: AppFactory, value: str) -> None:
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        make_app({"CORS_ORIGINS": value})
