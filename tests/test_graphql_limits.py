"""GraphQL limits over real HTTP: every refusal is a 4xx in the JSON shape.

Depth, aliases and bytes come from the ``GRAPHQL_MAX_*`` settings; the
parser's token limit and the field limit are constants of
:mod:`app.graphql.documents`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from flask import Flask
from graphql import get_introspection_query

from app.graphql.documents import MAX_FIELDS, MAX_TOKENS
from tests.conftest import AppFactory
from tests.graphql_http import Http, assert_no_internals, error_code
from tests.servers import live_server

#: GRAPHQL_MAX_BYTES keeps its default of 16384.
LIMITS = {"GRAPHQL_MAX_DEPTH": 3, "GRAPHQL_MAX_ALIASES": 3}


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(LIMITS)


def _refused(response: requests.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert error_code(body) == code, body
    assert "data" not in body
    assert_no_internals(response.text)


def _answered(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- depth -------------------------------------------------------------------

DEEP = "mutation { refreshToken { user { id } } }"  # depth 3


@pytest.mark.parametrize("document", [
    DEEP,
    "mutation { refreshToken { user { id __typename } } }",
    "mutation { ...M } fragment M on Mutation { refreshToken { ...U } }"
    " fragment U on AuthPayload { user { id } }",
    "mutation { ... on Mutation { refreshToken"
    " { ... on AuthPayload { user { id } } } } }",
])
def test_a_document_at_the_depth_limit_runs(http: Http, document: str) -> None:
    assert error_code(_answered(http.post(document))) == "REFRESH_TOKEN_MISSING"


def test_depth_counts_through_fragments(make_app: AppFactory) -> None:
    app = make_app({"GRAPHQL_MAX_DEPTH": 2})
    with live_server(app) as server:
        http = Http(server.url)
        _refused(http.post(DEEP), "QUERY_TOO_DEEP")
        _refused(http.post("mutation { ...M } fragment M on Mutation"
                           " { refreshToken { ...U } }"
                           " fragment U on AuthPayload { user { id } }"),
                 "QUERY_TOO_DEEP")
        _refused(http.post("mutation { ... on Mutation { refreshToken"
                           " { ... on AuthPayload { user { id } } } } }"),
                 "QUERY_TOO_DEEP")
        assert error_code(http.post("{ me { id } }").json()) == "UNAUTHENTICATED"


# -- aliases, fields, bytes, tokens --------------------------------------------


def test_aliases_up_to_the_limit_run(http: Http) -> None:
    body = _answered(http.post("{ a: __typename b: __typename c: __typename }"))
    assert body["data"] == {"a": "Query", "b": "Query", "c": "Query"}


@pytest.mark.parametrize("document", [
    "{ a: __typename b: __typename c: __typename d: __typename }",
    "{ ...F ...G } fragment F on Query { a: __typename b: __typename }"
    " fragment G on Query { c: __typename d: __typename }",
    "query A { a: __typename b: __typename } query B { c: __typename d: __typename }",
])
def test_too_many_aliases_are_refused(http: Http, document: str) -> None:
    _refused(http.post(document), "TOO_MANY_ALIASES")


def test_a_fragment_spread_everywhere_is_measured_once_and_refused_fast(
        http: Http) -> None:
    """30 levels of fragments, each spreading the next twice: 2^30 leaves."""
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}"
                     for i in range(30))
    started = time.monotonic()
    _refused(http.post(f"{{ ...F0 }} {chain} fragment F30 on Query"
                       " { x: __typename }"), "TOO_MANY_ALIASES")
    body = _answered(http.post(f"{{ ...F0 }} {chain} fragment F30 on Query"
                               " { __typename }"))
    assert body == {"data": {"__typename": "Query"}}
    assert time.monotonic() - started < 2


def test_too_many_fields_are_refused_before_validation(http: Http) -> None:
    """Validation compares fields pairwise: 400 of them would cost a second."""
    _refused(http.post("{ " + "me { id } " * 400 + "}"), "TOO_MANY_FIELDS")
    _refused(http.post("{ " + "__typename " * (MAX_FIELDS + 1) + "}"),
             "TOO_MANY_FIELDS")
    assert _answered(http.post("{ " + "__typename " * MAX_FIELDS + "}"))["data"]


def test_a_document_over_the_byte_limit_is_refused(http: Http) -> None:
    document = "{ __typename }"
    padding = 16384 - len(document)
    assert _answered(http.post(document + " " * padding))["data"]
    _refused(http.post(document + " " * (padding + 1)), "DOCUMENT_TOO_LARGE", 413)
    # Bytes, not characters: "é" is two of them.
    accented = document + "#" + "é" * (padding // 2)
    _refused(http.post(accented), "DOCUMENT_TOO_LARGE", 413)


def test_a_body_over_the_request_limit_is_refused_in_json(http: Http) -> None:
    body = json.dumps({"query": "{ __typename }", "variables": {"x": "y" * 70000}})
    response = http.session.post(http.url, data=body,
                                 headers={"Content-Type": "application/json"})
    _refused(response, "DOCUMENT_TOO_LARGE", 413)


def test_the_parser_gives_up_past_its_token_limit(http: Http) -> None:
    response = http.post("{ " + "a " * MAX_TOKENS + "}")
    _refused(response, "GRAPHQL_PARSE_FAILED")
    assert "tokens" in response.json()["errors"][0]["message"]


# -- introspection, __typename, GraphiQL ------------------------------------------


@pytest.mark.parametrize("document", [
    "{ __schema { queryType { name } } }",
    '{ __type(name: "User") { fields { name } } }',
    "{ t: __schema { types { name } } }",
    "{ ...F } fragment F on Query { __schema { types { name } } }",
    "{ me { id } ... on Query { __type(name: \"Session\") { name } } }",
])
def test_introspection_is_refused_outside_debug_mode(http: Http, document: str) -> None:
    _refused(http.post(document), "INTROSPECTION_DISABLED")


def test_introspection_works_in_debug_mode(make_app: AppFactory) -> None:
    app = make_app({"FLASK_DEBUG": 1})
    with live_server(app) as server:
        body = _answered(Http(server.url).post(get_introspection_query()))
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"User", "AuthPayload", "Session"} <= names


def test_typename_is_always_allowed(http: Http) -> None:
    assert _answered(http.post("{ __typename }"))["data"] == {"__typename": "Query"}
    body = _answered(http.post("mutation { __typename }"))
    assert body["data"] == {"__typename": "Mutation"}


def test_validation_suggests_no_field_names_outside_debug_mode(http: Http) -> None:
    response = http.post("{ sesions { id } }")
    _refused(response, "GRAPHQL_VALIDATION_FAILED")
    assert "Did you mean" not in response.text


@pytest.mark.parametrize("debug", [0, 1])
def test_graphiql_is_never_served(make_app: AppFactory, debug: int) -> None:
    app = make_app({"FLASK_DEBUG": debug})
    with live_server(app) as server:
        response = Http(server.url).get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/json"
    assert "graphiql" not in response.text.lower()


# -- fragments that trap naive validators ------------------------------------------


@pytest.mark.parametrize("document", [
    "{ ...Nope }",
    "{ me { ...Nope } }",
    "{ me { ... on User { ...Nope } } }",
])
def test_an_unknown_fragment_is_a_validation_error(http: Http, document: str) -> None:
    _refused(http.post(document), "GRAPHQL_VALIDATION_FAILED")


@pytest.mark.parametrize("document", [
    "{ ...A } fragment A on Query { ...A }",
    "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
    "{ me { ...U } } fragment U on User { id ... on User { ...U } }",
])
def test_circular_fragments_are_a_validation_error(http: Http, document: str) -> None:
    _refused(http.post(document), "GRAPHQL_VALIDATION_FAILED")


# -- malformed requests --------------------------------------------------------------


def _raw(http: Http, data: bytes | str) -> requests.Response:
    return http.session.post(http.url, data=data,
                             headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("data", [
    "[" * 50000,
    '{"query": "{ __typename }", "variables": ' + '{"a":' * 10000 + "}" * 10001,
    '{"query": ' + "[" * 30000 + "]" * 30000 + "}",
])
def test_deeply_nested_json_is_a_bad_request(http: Http, data: str) -> None:
    _refused(_raw(http, data), "BAD_REQUEST")


def test_deeply_nested_variables_in_a_get_are_a_bad_request(http: Http) -> None:
    params = {"query": "{ __typename }", "variables": "[" * 5000}
    _refused(http.get("/graphql", params=params), "BAD_REQUEST")


def test_a_deeply_nested_document_is_a_parse_error(http: Http) -> None:
    document = "{" + " ... on Query {" * 300 + " __typename" + " }" * 301
    _refused(_raw(http, json.dumps({"query": document})), "GRAPHQL_PARSE_FAILED")


@pytest.mark.parametrize("data", [
    b"",
    b"not json",
    b"\xff\xfe{}",
    b'"a string"',
    b"42",
    b"{}",
    b'{"query": 7}',
    b'{"query": "  "}',
    b'{"query": "{ __typename }", "variables": []}',
    b'{"query": "{ __typename }", "operationName": 5}',
    b'{"query": "{ __typename }", "operationName": "Nope"}',
    b'{"query": "query A { __typename } query B { __typename }"}',
    b'{"query": "{ __typename"}',
    b'{"query": "1' + b"0" * 5000 + b'"}',
    b'{"query": "{ __typename }", "variables": {"n": 1' + b"0" * 5000 + b"}}",
])
def test_malformed_requests_are_bad_requests(http: Http, data: bytes) -> None:
    response = _raw(http, data)
    assert 400 <= response.status_code < 500, response.text
    assert error_code(response.json()) in ("BAD_REQUEST", "GRAPHQL_PARSE_FAILED")
    assert_no_internals(response.text)


_LOGIN = ("mutation($e: String!, $p: String!) "
          "{ loginUser(email: $e, password: $p) { expiresIn } }")


@pytest.mark.parametrize("body", [
    {"query": "{ __typename }\ud800"},
    {"query": _LOGIN, "variables": {"e": "ann@x.test", "p": "correct horse\udc00"}},
    {"query": _LOGIN, "variables": {"e": "ann\ud83d@x.test", "p": "correct horse"}},
    {"query": "{ __typename }", "variables": {"\ud800": 1}},
    {"query": "{ __typename }", "variables": {"list": ["ok", ["\udfff"]]}},
    {"query": "query A { __typename }", "operationName": "A\ud800"},
])
def test_an_unpaired_surrogate_is_a_bad_request(http: Http,
                                                body: dict[str, Any]) -> None:
    """JSON can escape half a UTF-16 pair; no password hasher, e-mail check or
    database takes the string it decodes to."""
    response = http.session.post(http.url, data=json.dumps(body), headers={
        "Content-Type": "application/json", "Origin": http.origin or ""})
    _refused(response, "BAD_REQUEST")
    assert "surrogate" in response.json()["errors"][0]["message"]


def test_an_unpaired_surrogate_in_a_get_is_a_bad_request(http: Http) -> None:
    params = {"query": "{ __typename }", "variables": '{"x": "\\ud800"}'}
    _refused(http.get("/graphql", params=params), "BAD_REQUEST")


def test_a_password_beyond_the_basic_plane_signs_in(http: Http) -> None:
    """A surrogate pair is one character, escaped or not."""
    password = "correct horse \U0001f40e battery"
    assert error_code(http.register("ann@x.test", password).json()) is None
    for data in (json.dumps({"query": _LOGIN,
                             "variables": {"e": "ann@x.test", "p": password}}),
                 json.dumps({"query": _LOGIN,
                             "variables": {"e": "ann@x.test", "p": password}},
                            ensure_ascii=False)):
        response = http.session.post(http.url, data=data.encode(), headers={
            "Content-Type": "application/json", "Origin": http.origin or ""})
        assert response.json()["data"]["loginUser"]["expiresIn"] > 0


def test_a_variable_of_the_wrong_type_is_refused_before_execution(http: Http) -> None:
    response = http.post("mutation($id: ID!) { revokeSession(id: $id) }",
                         {"id": {"x": 1}})
    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_USER_INPUT"


def test_each_request_gives_its_database_connection_back(app: Flask,
                                                        http: Http) -> None:
    """The endpoint runs each request in an application context, whose end
    closes the database session: a request that read and then refused (the
    address is taken) leaves no transaction holding a connection."""
    from app.models import db

    assert error_code(http.register().json()) is None
    assert error_code(http.register().json()) == "EMAIL_TAKEN"
    with app.app_context():
        assert db.engine.pool.checkedout() == 0


def test_options_answers_with_the_allowed_methods(http: Http) -> None:
    response = http.request("OPTIONS", "/graphql")
    assert response.status_code == 200
    assert response.content == b""
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS",
                                                         "POST"}
    # No Origin: no CORS header (tests/test_cors.py has the preflights).
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_refused_in_json(http: Http, method: str) -> None:
    response = http.request(method, "/graphql", json={"query": "{ __typename }"})
    _refused(response, "METHOD_NOT_ALLOWED", 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
