"""Idle and absolute session lifetimes and access-token expiry, on a manual clock."""

from __future__ import annotations

import pytest
from flask import Flask

from app.clock import ManualClock
from tests.conftest import ME, SESSIONS, Api, AppFactory, code

DAY = 24 * 3600


def max_age(api: Api) -> int:
    header = api.post("mutation { refreshToken { expiresIn } }").headers["Set-Cookie"]
    return int(header.split("Max-Age=")[1].split(";")[0])


@pytest.fixture
def short_app(make_app: AppFactory) -> Flask:
    return make_app(
        {"REFRESH_TOKEN_TTL": 100, "SESSION_MAX_AGE": 250, "ACCESS_TOKEN_TTL": 30}
    )


def test_idle_session_expires_after_refresh_token_ttl(
    short_app: Flask, clock: ManualClock
) -> None:
    api = Api(short_app)
    api.register()
    clock.advance(100)
    assert code(api.refresh()) == "REFRESH_TOKEN_INVALID"


def test_each_refresh_extends_the_idle_deadline(
    short_app: Flask, clock: ManualClock
) -> None:
    api = Api(short_app)
    api.register()
    for _ in range(2):
        clock.advance(99)
        assert code(api.refresh()) is None


def test_absolute_lifetime_ends_an_active_session(
    short_app: Flask, clock: ManualClock
) -> None:
    api = Api(short_app)
    api.register()
    for _ in range(4):
        clock.advance(60)
        assert code(api.refresh()) is None
    clock.advance(10)  # 250 s after login
    assert code(api.refresh()) == "REFRESH_TOKEN_INVALID"


def test_cookie_max_age_is_the_earlier_deadline(
    short_app: Flask, clock: ManualClock
) -> None:
    api = Api(short_app)
    api.register()
    assert max_age(api) == 100  # idle deadline first
    clock.advance(90)
    assert max_age(api) == 100
    clock.advance(90)
    assert max_age(api) == 70  # absolute deadline: 250 - 180


def test_session_max_age_shorter_than_idle_caps_it(
    make_app: AppFactory, clock: ManualClock
) -> None:
    api = Api(make_app({"REFRESH_TOKEN_TTL": 14 * DAY, "SESSION_MAX_AGE": DAY}))
    body = api.post("""mutation { registerUser(email: "a@x.test",
        password: "correct horse") { expiresIn } }""")
    assert "Max-Age=86400" in body.headers["Set-Cookie"]
    clock.advance(DAY)
    assert code(api.refresh()) == "REFRESH_TOKEN_INVALID"


def test_expired_session_is_gone_from_the_list(
    short_app: Flask, clock: ManualClock
) -> None:
    old, new = Api(short_app), Api(short_app)
    old.register()
    clock.advance(60)
    new.login()
    clock.advance(50)
    new.refresh()
    assert len(new.call(SESSIONS)["data"]["sessions"]) == 1


def test_access_token_expires_after_its_ttl(
    short_app: Flask, clock: ManualClock
) -> None:
    api = Api(short_app)
    api.register()
    clock.advance(29)
    assert code(api.call(ME)) is None
    clock.advance(1)
    assert code(api.call(ME)) == "UNAUTHENTICATED"


def test_access_token_of_an_expired_session_is_refused(
    make_app: AppFactory, clock: ManualClock
) -> None:
    api = Api(make_app({"REFRESH_TOKEN_TTL": 10, "ACCESS_TOKEN_TTL": 300}))
    api.register()
    clock.advance(10)
    assert code(api.call(ME)) == "UNAUTHENTICATED"
