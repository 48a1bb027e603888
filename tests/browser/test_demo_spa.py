"""The demo SPA in a real Chromium against a live server.

Each test drives the pages as a person would and watches the GraphQL
requests on the wire. Access tokens live ``ACCESS_TOKEN_TTL`` (3) seconds,
so expiry, refresh and rotation happen while the tests watch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.spa import (
    ACCESS_TOKEN_TTL,
    Demo,
    ServeDemo,
    answering,
    register,
    screenshot,
    sign_in,
    watch_wire,
)

pytestmark = pytest.mark.browser

NewContext = Callable[[], BrowserContext]


def wait_until_expired(demo: Demo, token: str) -> None:
    """Return once the server refuses ``token`` as expired."""
    deadline = time.monotonic() + ACCESS_TOKEN_TTL + 5
    while time.monotonic() < deadline:
        body = demo.graphql("{ me { id } }", token)
        if body.get("errors"):
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            return
        time.sleep(0.1)
    raise AssertionError("the access token did not expire")


def test_signed_in_page_keeps_no_token_in_browser_storage(
    demo: Demo, context: BrowserContext, page: Page
) -> None:
    token = register(page, demo.url, "stores@x.test")

    stored = page.evaluate(
        """async () => ({
            local: JSON.stringify({ ...localStorage }),
            session: JSON.stringify({ ...sessionStorage }),
            cookie: document.cookie,
            databases: (await indexedDB.databases()).map((db) => db.name),
        })"""
    )

    assert stored == {"local": "{}", "session": "{}", "cookie": "", "databases": []}
    assert token not in json.dumps(stored)
    (refresh,) = [c for c in context.cookies() if c["name"] == demo.cookie_name]
    assert refresh["httpOnly"] and refresh["secure"]


def test_reload_keeps_the_user_signed_in(demo: Demo, page: Page) -> None:
    register(page, demo.url, "reloads@x.test")

    page.reload()

    expect(page.get_by_test_id("profile-email")).to_have_text("reloads@x.test")


def test_five_queries_after_expiry_share_one_refresh(
    demo: Demo, context: BrowserContext, page: Page
) -> None:
    # Stop the page's clock, as a sleeping laptop would: the proactive
    # refresh never fires, so the token really expires under the page.
    now = datetime.now()
    page.clock.install(time=now)
    page.clock.pause_at(now + timedelta(seconds=1))
    wire = watch_wire(context)
    token = register(page, demo.url, "races@x.test")
    wait_until_expired(demo, token)
    wire.clear()

    page.get_by_test_id("fire-five").click()

    expect(page.get_by_test_id("fire-five-result")).to_have_text("5 of 5 answered.")
    assert wire.count("refreshToken") == 1
    assert wire.count("query Me") == 10  # five refused, five retried


def test_two_tabs_whose_tokens_expire_together_both_stay_signed_in(
    demo: Demo, context: BrowserContext
) -> None:
    wire = watch_wire(context)
    first = context.new_page()
    register(first, demo.url, "tabs@x.test")
    second = context.new_page()
    second.goto(f"{demo.url}/#/profile")
    expect(second.get_by_test_id("profile-email")).to_have_text("tabs@x.test")
    # The second tab's silent refresh handed its token to the first: both
    # now hold the same token, and their proactive timers fire together.
    wire.clear()

    deadline = time.monotonic() + 4 * ACCESS_TOKEN_TTL
    while wire.count("refreshToken") < 2:
        assert time.monotonic() < deadline, "no proactive refresh happened"
        first.wait_for_timeout(100)

    for tab in (first, second):
        expect(tab.get_by_test_id("page-profile")).to_be_visible()
        tab.get_by_test_id("fire-five").click()
        expect(tab.get_by_test_id("fire-five-result")).to_have_text("5 of 5 answered.")
    refreshes = wire.calls("refreshToken")
    answers = [request.response() for request in refreshes]
    assert all(a and "errors" not in a.json() for a in answers)
    # One refresh per expiry, not one per tab: the tabs shared each one.
    starts = [request.timing["startTime"] for request in refreshes]
    assert all(later - earlier > 1000 for earlier, later in pairwise(starts))


def test_signing_out_in_one_tab_signs_out_the_other(
    demo: Demo, context: BrowserContext
) -> None:
    first = context.new_page()
    register(first, demo.url, "leaves@x.test")
    second = context.new_page()
    second.goto(f"{demo.url}/#/sessions")
    expect(second.get_by_test_id("page-sessions")).to_be_visible()

    first.get_by_test_id("sign-out").click()

    for tab in (first, second):
        notice = tab.get_by_test_id("signed-out-notice")
        expect(notice).to_have_attribute("data-reason", "signed-out")
    screenshot(second, "signed-out")
    second.reload()
    expect(second.get_by_test_id("page-signin")).to_be_visible()
    expect(second.get_by_test_id("signed-out-notice")).to_have_count(0)


def replay_stolen_cookie(
    serve_demo: ServeDemo, new_context: NewContext
) -> tuple[Page, Page]:
    """Copy a victim's refresh cookie, let the victim rotate it, then replay it.

    :returns: the victim's tab and the thief's.
    """
    # No grace: the first replay of a rotated-out cookie is reuse (rule 3).
    demo = serve_demo(REFRESH_REUSE_GRACE=0)
    victim_context = new_context()
    victim = victim_context.new_page()
    register(victim, demo.url, "victim@x.test")
    stolen = [c for c in victim_context.cookies() if c["name"] == demo.cookie_name]
    with victim.expect_response(answering("refreshToken")):
        victim.reload()  # the silent refresh rotates the cookie the thief copied

    thief_context = new_context()
    # A cookie read back is a valid cookie to set; the stubs type them apart.
    thief_context.add_cookies(stolen)  # type: ignore[arg-type]
    thief = thief_context.new_page()
    thief.goto(demo.url)
    return victim, thief


def expect_reuse_screen(tab: Page) -> None:
    notice = tab.get_by_test_id("signed-out-notice")
    expect(notice).to_have_attribute("data-reason", "reused")
    expect(notice).to_contain_text("used from somewhere else")


def test_replayed_stolen_cookie_shows_the_thief_the_reuse_screen(
    serve_demo: ServeDemo, new_context: NewContext
) -> None:
    _, thief = replay_stolen_cookie(serve_demo, new_context)

    expect_reuse_screen(thief)
    screenshot(thief, "signed-out-reused")


def test_replayed_stolen_cookie_shows_the_victim_the_reuse_screen(
    serve_demo: ServeDemo, new_context: NewContext
) -> None:
    victim, thief = replay_stolen_cookie(serve_demo, new_context)
    expect_reuse_screen(thief)

    # The victim's tab learns at its next refresh, within ACCESS_TOKEN_TTL.
    expect_reuse_screen(victim)


def test_signing_out_everywhere_else_ends_the_other_sessions(
    demo: Demo, new_context: NewContext
) -> None:
    here = new_context().new_page()
    register(here, demo.url, "many@x.test")
    elsewhere = new_context().new_page()
    sign_in(elsewhere, demo.url, "many@x.test")
    here.goto(f"{demo.url}/#/sessions")
    rows = here.get_by_test_id("session-row")
    expect(rows).to_have_count(2)
    expect(here.locator("[data-current=true]")).to_have_count(1)

    here.get_by_test_id("revoke-others").click()

    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-current", "true")
    notice = elsewhere.get_by_test_id("signed-out-notice")
    expect(notice).to_have_attribute("data-reason", "ended")
    screenshot(elsewhere, "signed-out-ended")


def test_revoking_one_session_removes_it_from_the_list(
    demo: Demo, new_context: NewContext
) -> None:
    here = new_context().new_page()
    register(here, demo.url, "prunes@x.test")
    for _ in range(2):
        sign_in(new_context().new_page(), demo.url, "prunes@x.test")
    here.goto(f"{demo.url}/#/sessions")
    rows = here.get_by_test_id("session-row")
    expect(rows).to_have_count(3)

    here.get_by_test_id("revoke-session").first.click()

    expect(rows).to_have_count(2)
    expect(here.get_by_test_id("sessions-status")).to_have_text("Session revoked.")


def test_every_page_renders_and_is_captured(
    demo: Demo, new_context: NewContext
) -> None:
    page = new_context().new_page()
    page.goto(f"{demo.url}/#/signin")
    expect(page.get_by_test_id("page-signin")).to_be_visible()
    screenshot(page, "signin")
    page.get_by_test_id("switch-mode").click()
    expect(page.get_by_test_id("page-register")).to_be_visible()
    screenshot(page, "register")

    register(page, demo.url, "tours@x.test")
    sign_in(new_context().new_page(), demo.url, "tours@x.test")
    expect(page.get_by_test_id("profile-email")).to_have_text("tours@x.test")
    screenshot(page, "profile")
    page.get_by_test_id("nav-sessions").click()
    expect(page.get_by_test_id("session-row")).to_have_count(2)
    screenshot(page, "sessions")
