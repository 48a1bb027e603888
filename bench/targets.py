"""The three targets, how to serve them and how to set up their clients.

Each target answers two scenarios: ``refresh`` (rotate the refresh cookie,
get an access token) and ``me`` (who am I, with a bearer token). A client is
a refresh cookie and an access token of its own session. Every refresh run
starts on fresh sessions: wrk stops with requests in flight, whose rotations
the server made but no client saw, and a later run presenting such a
rotated-out cookie would be refused as reuse (flask-jwt-extended would find
it on its blocklist).
"""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

ORIGIN = "http://127.0.0.1:5000"
COOKIE = "refresh"
PASSWORD = "bench password 1"

REFRESH = "mutation { refreshToken { accessToken expiresIn user { id email } } }"
ME = "{ me { id email userType createdAt } }"
REGISTER = """mutation($email: String!, $password: String!) {
  registerUser(email: $email, password: $password) { accessToken } }"""
LOGIN = """mutation($email: String!, $password: String!) {
  loginUser(email: $email, password: $password) { accessToken } }"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: str = ""


@dataclass(frozen=True)
class User:
    id: str
    email: str


@dataclass(frozen=True)
class Client:
    """One session's refresh cookie and access token."""

    cookie: str
    access_token: str


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    app: str
    refresh: Request
    me: Request
    #: Creates user number ``index`` on a served target: (port, index) -> User.
    new_user: Callable[[int, int], User]
    #: Starts a session of that user: (port, user) -> Client.
    sign_in: Callable[[int, User], Client]


def post(port: int, path: str, body: dict[str, Any],
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    """POST JSON; returns the status, the decoded body and the refresh cookie."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", path, json.dumps(body), {
            "Content-Type": "application/json", "Origin": ORIGIN, **(headers or {}),
        })
        response = connection.getresponse()
        data = json.loads(response.read() or b"{}")
        jar: SimpleCookie = SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or ():
            jar.load(header)
        cookie = jar[COOKIE].value if COOKIE in jar else ""
        return response.status, data, cookie
    finally:
        connection.close()


def graphql(port: int, query: str, variables: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    status, data, cookie = post(port, "/graphql",
                                {"query": query, "variables": variables}, headers)
    if status != 200 or data.get("errors"):
        raise RuntimeError(f"GraphQL call failed: {status} {data.get('errors')}")
    return data["data"], cookie


def bench_email(index: int) -> str:
    return f"bench-{index}-{secrets.token_hex(4)}@x.test"


def _service_user(port: int, index: int) -> User:
    email = bench_email(index)
    graphql(port, REGISTER, {"email": email, "password": PASSWORD})
    return User("", email)


def _service_sign_in(port: int, user: User) -> Client:
    data, cookie = graphql(port, LOGIN, {"email": user.email, "password": PASSWORD})
    return Client(cookie, data["loginUser"]["accessToken"])


def _plain_user(port: int, index: int) -> User:
    return User(f"user-{index}-{secrets.token_hex(4)}", bench_email(index))


def _plain_sign_in(port: int, user: User) -> Client:
    status, data, cookie = post(port, "/login", {"id": user.id, "email": user.email})
    if status != 200 or not cookie:
        raise RuntimeError(f"set-up login failed: {status}")
    return Client(cookie, data.get("accessToken") or data["access_token"])


TARGETS = (
    Target("service", "this service", "wsgi:app",
           Request("POST", "/graphql", json.dumps({"query": REFRESH})),
           Request("POST", "/graphql", json.dumps({"query": ME})),
           _service_user, _service_sign_in),
    Target("jwt_extended", "flask-jwt-extended", "bench.jwt_extended_app:app",
           Request("POST", "/refresh"), Request("GET", "/me"),
           _plain_user, _plain_sign_in),
    Target("floor", "floor (bare WSGI)", "bench.floor:app",
           Request("POST", "/refresh"), Request("POST", "/me"),
           _plain_user, _plain_sign_in),
)
