"""A GraphQL client over real HTTP, for the tests of browser-facing rules.

Unlike :class:`tests.conftest.Api` it talks to a :func:`tests.servers.live_server`
through ``requests``, keeps no cookie jar (a ``Secure`` cookie would not come
back over plain HTTP anyway) and hands back raw responses, so that tests see
exactly the status, headers and ``Set-Cookie`` lines a browser would.
"""

from __future__ import annotations

import os
import re
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests

from tests.conftest import LOGIN, ORIGIN, REGISTER

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: What would betray internals in a response body: a traceback, a source
#: path, a library's exception or a connection URL.
INTERNALS = re.compile(
    "|".join((
        r"Traceback \(most recent call last\)",
        r'File "/', r'\.py", line', re.escape(ROOT), "site-packages",
        "sqlalchemy", "psycopg", "sqlite3", r"SELECT \S", r"INSERT INTO",
        r"redis://", r"rediss://", r"unix://", "WRONGTYPE", "redis.exceptions",
        "OperationalError", "ConnectionRefused", r"Errno \d",
    )),
    re.IGNORECASE,
)

PASSWORD = "correct horse"
#: An e-mail address and password pair that the helpers register.
ANN = {"email": "ann@x.test", "password": PASSWORD}


class Http:
    """POSTs GraphQL documents to a live server the way a browser would."""

    def __init__(self, base_url: str, origin: str | None = ORIGIN) -> None:
        self.base_url = base_url
        self.url = base_url + "/graphql"
        self.origin = origin
        self.session = requests.Session()
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))

    def post(self, query: str, variables: dict[str, Any] | None = None, *,
             origin: str | None | bool = True, cookie: str | None = None,
             token: str | None = None, **headers: str) -> requests.Response:
        """Send ``query``; ``origin=True`` sends the client's own origin."""
        sent = dict(headers)
        chosen = self.origin if origin is True else origin
        if chosen:
            sent["Origin"] = str(chosen)
        if cookie:
            sent["Cookie"] = cookie
        if token:
            sent["Authorization"] = f"Bearer {token}"
        body = {"query": query, "variables": variables}
        return self.session.post(self.url, json=body, headers=sent, timeout=10)

    def call(self, query: str, variables: dict[str, Any] | None = None,
             **options: Any) -> dict[str, Any]:
        body: dict[str, Any] = self.post(query, variables, **options).json()
        return body

    def register(self, email: str = ANN["email"], password: str = PASSWORD,
                 **options: Any) -> requests.Response:
        return self.post(REGISTER, {"email": email, "password": password}, **options)

    def login(self, email: str = ANN["email"], password: str = PASSWORD,
              **options: Any) -> requests.Response:
        return self.post(LOGIN, {"email": email, "password": password}, **options)

    def get(self, path: str, **options: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=10, **options)

    def request(self, method: str, path: str, **options: Any) -> requests.Response:
        return self.session.request(method, self.base_url + path, timeout=10,
                                    **options)


def set_cookies(response: requests.Response) -> list[str]:
    """The ``Set-Cookie`` lines of a response, unmerged."""
    return list(response.raw.headers.getlist("Set-Cookie"))


def cookie_pair(response: requests.Response) -> str | None:
    """``name=value`` of the cookie a response sets, to send back."""
    lines = set_cookies(response)
    return lines[0].split(";", 1)[0] if lines else None


def cookie_attributes(line: str) -> tuple[str, str, dict[str, str]]:
    """Name, value and attributes (lower-case names) of one ``Set-Cookie``."""
    pair, *attributes = (part.strip() for part in line.split(";"))
    name, _, value = pair.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        parsed[key.lower()] = val
    return name, value, parsed


def error_code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"]["code"] if errors else None


def assert_no_internals(text: str) -> None:
    found = INTERNALS.search(text)
    assert found is None, f"response leaks {found.group(0)!r}: {text[:300]}"
