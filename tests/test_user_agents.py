"""The user agent a session keeps: the browser and platform, in 64 bytes."""

from __future__ import annotations

import pytest
from flask import Flask

from app.sessions import session_key
from app.user_agents import MAX_BYTES, compact
from tests.conftest import SESSIONS, Api

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
          "like Gecko) Chrome/131.0.0.0 Safari/537.36")
EDGE = CHROME + " Edg/131.0.0.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) "
                 "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 "
                 "Mobile/15E148 Safari/604.1")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.mark.parametrize("agent", ["", None, "Phone", "curl/8.5.0", "x" * MAX_BYTES])
def test_short_user_agents_are_kept_as_they_are(agent: str | None) -> None:
    assert compact(agent) == (agent or "")


@pytest.mark.parametrize("agent,kept", [
    (CHROME, "(Windows NT 10.0; Win64; x64) Chrome/131.0.0.0"),
    (EDGE, "(Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Edg/131.0.0.0"),
    (SAFARI_IPHONE, "(iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1"),
    (FIREFOX, "(X11; Linux x86_64; rv:128.0) Firefox/128.0"),
])
def test_long_user_agents_keep_the_browser_and_platform(agent: str, kept: str) -> None:
    assert compact(agent) == kept


def test_anything_longer_is_cut_at_a_character_boundary() -> None:
    kept = compact("é" * 100)
    assert kept == "é" * (MAX_BYTES // 2)
    assert len(compact("x" * 1000).encode()) == MAX_BYTES
    assert len(compact("ab" + "€" * 40).encode()) <= MAX_BYTES


def test_a_session_with_a_long_user_agent_stays_a_compact_hash(app: Flask) -> None:
    api = Api(app, user_agent=CHROME + " " + "x" * 200)
    api.register()
    listed = api.call(SESSIONS)["data"]["sessions"]
    assert listed[0]["userAgent"].startswith("(Windows NT 10.0; Win64; x64) Chrome/")

    redis = app.extensions["token_service"].redis
    encoding = redis.object("encoding", session_key(listed[0]["id"]))
    assert encoding in ("ziplist", "listpack")
