"""Rate limits over real HTTP: logins, registrations, cookie operations, and
the client address behind trusted proxies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask

from app.clock import ManualClock
from app.errors import RateLimited
from app.rate_limits import COOKIE_OPERATIONS_LIMIT, Rate, RateLimits
from tests.conftest import LOGIN, REFRESH, SESSIONS, AppFactory
from tests.graphql_http import Http, cookie_pair, error_code, set_cookies
from tests.servers import live_server

WRONG = "wrong password"
LOGOUT = "mutation { logout }"
LIMITS = {"LOGIN_RATE_LIMIT": "3/minute", "REGISTER_RATE_LIMIT": "3/hour"}


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(LIMITS)


@pytest.fixture
def proxied(make_app: AppFactory) -> Iterator[Http]:
    """A server behind one trusted proxy hop."""
    with live_server(make_app({**LIMITS, "TRUSTED_PROXIES": 1})) as server:
        yield Http(server.url)


def _code(response: requests.Response) -> str | None:
    assert response.status_code == 200, response.text
    return error_code(response.json())


def _retry_after(response: requests.Response) -> int:
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert isinstance(retry_after, int)
    return retry_after


def _fail(http: Http, times: int, email: str = "ann@x.test", **options: Any) -> None:
    for _ in range(times):
        assert _code(http.login(email, WRONG, **options)) == "INVALID_CREDENTIALS"


# -- loginUser ----------------------------------------------------------------------


def test_past_the_limit_even_the_right_password_is_rate_limited(http: Http) -> None:
    http.register()
    _fail(http, 3)
    response = http.login()
    assert 1 <= _retry_after(response) <= 60
    assert set_cookies(response) == []
    assert _code(http.login(password=WRONG)) == "RATE_LIMITED"


def test_the_login_window_frees_on_the_service_clock(http: Http,
                                                     clock: ManualClock) -> None:
    http.register()
    _fail(http, 3)
    clock.advance(20)
    retry_after = _retry_after(http.login())
    assert retry_after == 40  # the first failure leaves the window then

    clock.advance(retry_after - 1)
    assert _code(http.login()) == "RATE_LIMITED"
    clock.advance(1)
    assert _code(http.login()) is None


def test_successful_logins_do_not_count(http: Http) -> None:
    http.register()
    for _ in range(5):
        assert _code(http.login()) is None


def test_the_login_limit_is_per_e_mail_address(http: Http) -> None:
    http.register()
    http.register("bob@x.test")
    _fail(http, 3)
    assert _code(http.login("bob@x.test")) is None
    assert _code(http.login()) == "RATE_LIMITED"


def test_spellings_of_one_address_share_one_window(http: Http) -> None:
    """The user store folds case and Unicode forms; so must the limit."""
    http.register()
    for spelling in ("ANN@X.TEST", "ann@\uff58.test", " ann@x.test "):
        _fail(http, 1, email=spelling)
    assert _code(http.login()) == "RATE_LIMITED"


def test_unknown_addresses_are_limited_like_known_ones(http: Http) -> None:
    _fail(http, 3, email="nobody@x.test")
    assert _code(http.login("nobody@x.test", WRONG)) == "RATE_LIMITED"


# -- registerUser and the cookie operations ceiling ---------------------------------


def test_registrations_are_limited_per_address(proxied: Http) -> None:
    here = {"X-Forwarded-For": "203.0.113.7"}
    for name in ("a", "b", "c"):
        assert _code(proxied.register(f"{name}@x.test", **here)) is None
    response = proxied.register("d@x.test", **here)
    assert 3500 <= _retry_after(response) <= 3600
    # Nothing was created: the address is free from elsewhere.
    elsewhere = {"X-Forwarded-For": "198.51.100.9"}
    assert _code(proxied.register("d@x.test", **elsewhere)) is None


def test_cookie_operations_have_a_ceiling_per_address(http: Http) -> None:
    ceiling = int(COOKIE_OPERATIONS_LIMIT.split("/")[0])
    for _ in range(ceiling):
        assert _code(http.post(LOGOUT)) is None
    assert 1 <= _retry_after(http.post(LOGOUT)) <= 60
    assert _code(http.login()) == "RATE_LIMITED"
    # Bearer-authenticated queries are not cookie operations.
    assert _code(http.post("{ me { id } }")) == "UNAUTHENTICATED"


def test_refreshes_do_not_count_against_the_ceiling(http: Http) -> None:
    ceiling = int(COOKIE_OPERATIONS_LIMIT.split("/")[0])
    cookie = cookie_pair(http.register())
    for _ in range(ceiling):
        response = http.post(REFRESH, cookie=cookie)
        assert _code(response) is None
        cookie = cookie_pair(response)
    assert _code(http.post(REFRESH)) == "REFRESH_TOKEN_MISSING"
    assert _code(http.login()) is None


@pytest.mark.parametrize(("text", "limit", "seconds"), [
    ("10/minute", 10, 60), ("20/hour", 20, 3600), ("5/10 minutes", 5, 600),
    (" 1 / day ", 1, 86400), ("3/seconds", 3, 1), ("0/hour", 0, 3600),
])
def test_rates_read_as_configured(text: str, limit: int, seconds: int) -> None:
    assert Rate.parse(text) == Rate(limit, seconds * 1000)


def _limits(redis_client: Any, clock: ManualClock) -> RateLimits:
    return RateLimits(redis_client, clock, login="2/minute", register="2/hour",
                      cookie_operations="4/minute")


def _refused(call: Any, *args: Any) -> int | None:
    try:
        call(*args)
    except RateLimited as err:
        return err.retry_after
    return None


def test_a_login_refused_by_its_window_still_counts_against_the_ceiling(
        redis_client: Any, clock: ManualClock) -> None:
    limits = _limits(redis_client, clock)
    limits.hit_login("ann@x.test", "192.0.2.1")
    limits.hit_login("ann@x.test", "192.0.2.1")
    for _ in range(4):
        assert _refused(limits.admit_login, "ann@x.test", "192.0.2.1") == 60
    # The ceiling is spent too, for every cookie operation of the address.
    assert _refused(limits.hit_cookie_operation, "192.0.2.1") == 60
    assert _refused(limits.admit_login, "bob@x.test", "192.0.2.1") == 60
    assert _refused(limits.hit_cookie_operation, "198.51.100.9") is None


def test_a_registration_refused_by_the_ceiling_is_not_counted_as_one(
        redis_client: Any, clock: ManualClock) -> None:
    limits = _limits(redis_client, clock)
    for _ in range(4):
        limits.hit_cookie_operation("192.0.2.1")
    clock.advance(30)
    assert _refused(limits.admit_register, "192.0.2.1") == 30
    clock.advance(30)
    limits.admit_register("192.0.2.1")
    limits.admit_register("192.0.2.1")
    assert _refused(limits.admit_register, "192.0.2.1") == 3600


def test_a_zero_limit_refuses_everything(redis_client: Any, clock: ManualClock) -> None:
    limits = RateLimits(redis_client, clock, login="10/minute", register="0/hour")
    assert _refused(limits.admit_register, "192.0.2.1") == 3600
    limits.admit_login("ann@x.test", "192.0.2.1")


# -- aliases, fragments and batches cannot multiply attempts ------------------------

_ATTEMPT = 'loginUser(email: "ann@x.test", password: "wrong password") { expiresIn }'


@pytest.mark.parametrize("document", [
    "mutation { " + " ".join(f"a{i}: {_ATTEMPT}" for i in range(5)) + " }",
    f"mutation {{ {_ATTEMPT} ...F }} fragment F on Mutation {{ again: {_ATTEMPT} }}",
    f"mutation {{ {_ATTEMPT} ... on Mutation {{ again: {_ATTEMPT} }} }}",
])
def test_a_document_with_several_login_attempts_runs_none(http: Http,
                                                          document: str) -> None:
    http.register()
    response = http.post(document)
    assert response.status_code == 400
    assert "data" not in response.json()
    _fail(http, 3)  # every attempt still available


def test_a_batch_of_login_attempts_runs_none(http: Http) -> None:
    http.register()
    attempt = {"query": LOGIN, "variables": {"email": "ann@x.test", "password": WRONG}}
    response = http.session.post(http.url, data=json.dumps([attempt] * 5), headers={
        "Content-Type": "application/json", "Origin": http.origin or ""})
    assert response.status_code == 400
    _fail(http, 3)


def test_only_the_chosen_operation_of_a_document_counts(http: Http) -> None:
    http.register()
    document = f"mutation A {{ {_ATTEMPT} }} mutation B {{ {_ATTEMPT} }}"
    body = {"query": document, "operationName": "A"}
    response = http.session.post(http.url, json=body,
                                 headers={"Origin": http.origin or ""})
    assert error_code(response.json()) == "INVALID_CREDENTIALS"
    _fail(http, 2)
    assert _code(http.login()) == "RATE_LIMITED"


# -- the client address ---------------------------------------------------------------


def _session_ip(http: Http, response: requests.Response) -> str:
    token = response.json()["data"]["registerUser"]["accessToken"]
    sessions = http.call(SESSIONS, token=token)["data"]["sessions"]
    address: str = sessions[0]["ipAddress"]
    return address


def test_without_trusted_proxies_x_forwarded_for_is_ignored(http: Http) -> None:
    registered = http.register(**{"X-Forwarded-For": "203.0.113.7"})
    assert _session_ip(http, registered) == "127.0.0.1"
    for n in range(3):
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert _code(http.login(password=WRONG, **headers)) == "INVALID_CREDENTIALS"
    assert _code(http.login(**{"X-Forwarded-For": "192.0.2.1"})) == "RATE_LIMITED"


def test_behind_one_proxy_the_last_hop_is_the_client(proxied: Http) -> None:
    registered = proxied.register(**{"X-Forwarded-For": "203.0.113.7"})
    assert _session_ip(proxied, registered) == "203.0.113.7"

    _fail(proxied, 3, **{"X-Forwarded-For": "203.0.113.7"})
    # What a client writes left of the proxy's own entry changes nothing.
    spoofed = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7"}
    assert _code(proxied.login(**spoofed)) == "RATE_LIMITED"
    # Another client behind the same proxy has its own window.
    assert _code(proxied.login(**{"X-Forwarded-For": "198.51.100.9"})) is None


def test_behind_two_proxies_the_second_to_last_hop_is_the_client(
        make_app: AppFactory) -> None:
    with live_server(make_app({"TRUSTED_PROXIES": 2})) as server:
        http = Http(server.url)
        chain = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7, 10.0.0.2"}
        assert _session_ip(http, http.register(**chain)) == "203.0.113.7"
