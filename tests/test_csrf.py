"""CSRF over real HTTP: Origin checks, content types, GET and batches.

Every refusal is checked for its status and code and for leaving nothing
changed: no user created, no session started, no token rotated or revoked.
"""

from __future__ import annotations

import json

import pytest
import requests
from flask import Flask

from tests.conftest import LOGIN, ME, REFRESH, REGISTER, SESSIONS, AppFactory
from tests.graphql_http import PASSWORD, Http, cookie_pair, error_code, set_cookies
from tests.servers import live_server

#: Origin headers a cross-site attacker could make a browser send.
FOREIGN_ORIGINS = [
    None,
    "http://evil.example",
    "http://127.0.0.1:5000.evil.example",
    "http://127.0.0.1:5001",
    "https://127.0.0.1:5000",
    "null",
]

LOGOUT = "mutation { logout }"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    # No grace: a token rotated by a refused request would then read as reuse.
    return make_app({"REFRESH_REUSE_GRACE": 0})


def _signed_in(http: Http) -> tuple[str, str]:
    """Register Ann from the allowed origin; her access token and cookie."""
    response = http.register()
    pair = cookie_pair(response)
    assert pair is not None
    return response.json()["data"]["registerUser"]["accessToken"], pair


def _refused(response: requests.Response, status: int = 403,
             code: str = "CSRF_CHECK_FAILED") -> None:
    assert response.status_code == status
    body = response.json()
    assert error_code(body) == code
    assert "data" not in body
    assert set_cookies(response) == []


# -- Origin ----------------------------------------------------------------


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_register_from_a_foreign_origin_is_refused_and_creates_no_user(
        http: Http, origin: str | None) -> None:
    _refused(http.register(origin=origin))
    assert error_code(http.register().json()) is None  # the address is still free


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_login_from_a_foreign_origin_is_refused_and_starts_no_session(
        http: Http, origin: str | None) -> None:
    token, _ = _signed_in(http)
    _refused(http.login(origin=origin))
    assert len(http.call(SESSIONS, token=token)["data"]["sessions"]) == 1


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_refresh_from_a_foreign_origin_is_refused_and_rotates_nothing(
        http: Http, origin: str | None) -> None:
    _, cookie = _signed_in(http)
    _refused(http.post(REFRESH, origin=origin, cookie=cookie))
    # Had the refused call rotated the token, this one would be reuse.
    assert error_code(http.call(REFRESH, cookie=cookie)) is None


@pytest.mark.parametrize("origin", FOREIGN_ORIGINS)
def test_logout_from_a_foreign_origin_is_refused_and_revokes_nothing(
        http: Http, origin: str | None) -> None:
    token, cookie = _signed_in(http)
    _refused(http.post(LOGOUT, origin=origin, cookie=cookie, token=token))
    assert http.call(ME, token=token)["data"]["me"]["email"] == "ann@x.test"


def test_cookie_operations_from_an_allowed_origin_run(http: Http) -> None:
    token, cookie = _signed_in(http)
    assert error_code(http.call(REFRESH, cookie=cookie)) is None
    assert http.call(LOGOUT, token=token)["data"]["logout"] is True


def test_every_configured_origin_is_allowed_in_any_letter_case(
        make_app: AppFactory) -> None:
    app = make_app({"CORS_ORIGINS": "https://App.Example, http://localhost:5173"})
    with live_server(app) as server:
        http = Http(server.url)
        assert http.register(origin="https://app.example").status_code == 200
        assert http.login(origin="http://localhost:5173").status_code == 200
        _refused(http.login(origin="https://app.example.evil"))


def test_bearer_only_mutations_need_no_origin(http: Http) -> None:
    """logoutAll and revokeSession are authorised by the bearer token, which
    no cross-site page can attach; the cookie is not what grants them."""
    token, _ = _signed_in(http)
    body = http.call("mutation { logoutAll }", origin=None, token=token)
    assert body["data"]["logoutAll"] == 1


# -- bodies a cross-site form or a simple fetch can send ---------------------


def _register_body() -> str:
    return json.dumps({"query": REGISTER,
                       "variables": {"email": "ann@x.test", "password": PASSWORD}})


@pytest.mark.parametrize("content_type", [
    "text/plain",
    "text/plain;charset=UTF-8",
    "application/x-www-form-urlencoded",
    None,
])
def test_non_json_bodies_are_refused_before_execution(
        http: Http, content_type: str | None) -> None:
    headers = {"Origin": http.origin or ""}
    if content_type:
        headers["Content-Type"] = content_type
    response = http.session.post(http.url, data=_register_body(), headers=headers)
    _refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert error_code(http.register().json()) is None


def test_form_fields_are_refused_before_execution(http: Http) -> None:
    variables = json.dumps({"email": "ann@x.test", "password": PASSWORD})
    response = http.session.post(
        http.url, data={"query": REGISTER, "variables": variables},
        headers={"Origin": http.origin or ""})
    _refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert error_code(http.register().json()) is None


def test_multipart_bodies_are_refused_before_execution(http: Http) -> None:
    response = http.session.post(
        http.url, files={"operations": (None, _register_body())},
        headers={"Origin": http.origin or ""})
    assert response.request.headers["Content-Type"].startswith("multipart/form-data")
    _refused(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert error_code(http.register().json()) is None


# -- GET and batches ---------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_mutation_sent_with_get_never_runs(http: Http, method: str) -> None:
    params = {"query": REGISTER,
              "variables": json.dumps({"email": "ann@x.test", "password": PASSWORD})}
    response = http.request(method, "/graphql", params=params,
                            headers={"Origin": http.origin or ""})
    assert response.status_code == 405
    if method == "GET":
        assert error_code(response.json()) == "METHOD_NOT_ALLOWED"
    assert set_cookies(response) == []
    assert error_code(http.register().json()) is None


def test_get_runs_queries(http: Http) -> None:
    response = http.get("/graphql", params={"query": "{ __typename }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


def test_get_cannot_pick_a_mutation_out_of_a_document(http: Http) -> None:
    document = "query Q { __typename } mutation M { logout }"
    response = http.get("/graphql", params={"query": document, "operationName": "M"})
    assert response.status_code == 405


def test_batches_are_refused_and_run_nothing(http: Http) -> None:
    login = {"query": LOGIN, "variables": {"email": "ann@x.test", "password": "x"}}
    register = {"query": REGISTER,
                "variables": {"email": "ann@x.test", "password": PASSWORD}}
    response = http.session.post(http.url, json=[register, login],
                                 headers={"Origin": http.origin or ""})
    _refused(response, 400, "BATCH_NOT_SUPPORTED")
    assert error_code(http.register().json()) is None
