"""Caching and hardening headers over real HTTP, and the SPA's CSP."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser

import pytest
import requests

from app.web import DEMO_DIST
from tests.conftest import REFRESH, AppFactory
from tests.graphql_http import Http, cookie_pair
from tests.servers import live_server

HARDENING = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _policy(response: requests.Response) -> dict[str, list[str]]:
    directives = {}
    for part in response.headers["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _assert_no_store(response: requests.Response) -> None:
    assert response.headers["Cache-Control"] == "no-store"


# -- caching -------------------------------------------------------------------


def test_token_responses_are_never_cached(http: Http) -> None:
    """RFC 6749 section 5.1: responses carrying tokens say no-store."""
    register = http.register()
    login = http.login()
    refresh = http.post(REFRESH, cookie=cookie_pair(login))
    for response in (register, login, refresh):
        assert "accessToken" in response.text
        _assert_no_store(response)
        assert response.headers["Pragma"] == "no-cache"


def test_refusals_and_preflights_are_never_cached(http: Http) -> None:
    responses = [
        http.login(origin=None),
        http.session.post(http.url, data="{}", headers={"Content-Type": "text/plain"}),
        http.post("{ nope }"),
        http.request("PUT", "/graphql"),
        http.request("OPTIONS", "/graphql", headers={
            "Origin": "http://127.0.0.1:5173",
            "Access-Control-Request-Method": "POST",
        }),
    ]
    assert [r.status_code for r in responses] == [403, 415, 400, 405, 200]
    for response in responses:
        _assert_no_store(response)


def test_the_jwks_keeps_its_own_short_cache_lifetime(http: Http) -> None:
    response = http.get("/.well-known/jwks.json")
    assert response.headers["Cache-Control"] == "public, max-age=60"


# -- hardening -----------------------------------------------------------------


@pytest.mark.parametrize("method, path", [
    ("POST", "/graphql"),
    ("GET", "/graphql"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/"),
    ("GET", "/no/such/page"),
])
def test_every_response_carries_the_hardening_headers(http: Http, method: str,
                                                      path: str) -> None:
    response = http.request(method, path, json={"query": "{ __typename }"})
    for name, value in HARDENING.items():
        assert response.headers[name] == value
    assert _policy(response)["frame-ancestors"] == ["'none'"]
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_api_responses_allow_no_content_at_all(http: Http) -> None:
    policy = _policy(http.post("{ __typename }"))
    assert policy["default-src"] == ["'none'"]


def test_hsts_is_sent_when_the_request_came_over_https(make_app: AppFactory) -> None:
    app = make_app({"TRUSTED_PROXIES": 1})
    with live_server(app) as server:
        http = Http(server.url)
        secure = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        plain = http.get("/healthz", headers={"X-Forwarded-Proto": "http"})
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in plain.headers


def test_graphql_answers_carry_hsts_over_https_and_each_header_once(
        make_app: AppFactory) -> None:
    app = make_app({"TRUSTED_PROXIES": 1})
    with live_server(app) as server:
        http = Http(server.url)
        secure = http.post("{ __typename }", **{"X-Forwarded-Proto": "https"})
        plain = http.post("{ __typename }", **{"X-Forwarded-Proto": "http"})
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in plain.headers
    names = [name.lower() for name, _ in secure.raw.headers.iteritems()]
    assert len(names) == len(set(names)), names


def test_a_forwarded_proto_from_an_untrusted_client_is_ignored(http: Http) -> None:
    response = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


# -- the demo SPA ---------------------------------------------------------------


class _Page(HTMLParser):
    """The subresources and inline code of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        #: style attributes, on* handlers and <style> elements.
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if "style" in attributes or any(name.startswith("on") for name in attributes):
            self.inline_styles += 1
        if tag == "script":
            if attributes.get("src"):
                self.urls.append(attributes["src"] or "")
            else:
                self._in_script = True
        elif tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"] or "")
        elif tag == "style":
            self.inline_styles += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


def test_the_spa_policy_allows_scripts_and_styles_from_its_own_origin_only(
        http: Http) -> None:
    policy = _policy(http.get("/"))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    for directive, sources in policy.items():
        for source in sources:
            assert "unsafe" not in source and source != "*", (directive, source)
            assert not re.match(r"^(https?:|//)", source), (directive, source)


@pytest.mark.skipif(not os.path.isfile(os.path.join(DEMO_DIST, "index.html")),
                    reason="the demo SPA is not built (make demo)")
def test_the_built_spa_loads_everything_its_policy_allows(http: Http) -> None:
    page = http.get("/")
    assert page.headers["Content-Type"].startswith("text/html")
    parsed = _Page()
    parsed.feed(page.text)
    assert parsed.inline_scripts == 0
    assert parsed.inline_styles == 0
    assert parsed.urls
    for url in parsed.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = http.get(url)
        assert asset.status_code == 200
        # nosniff: a script or style sheet served as anything else is blocked.
        expected = "text/javascript" if url.endswith(".js") else "text/css"
        assert asset.headers["Content-Type"].startswith(expected), url
