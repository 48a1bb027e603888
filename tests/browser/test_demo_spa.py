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

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    ACCESS_TOKEN_TTL,
    Demo,
    ServeDemo,
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
    token = register(demo, page, "stores@x.test")

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
    register(demo, page, "reloads@x.test")

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
    token = register(demo, page, "races@x.test")
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
    register(demo, first, "tabs@x.test")
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
    answers = [r.response() for r in wire.requests if "refreshToken" in (r.post_data or "")]
    assert all(a and "errors" not in a.json() for a in answers)


def test_signing_out_in_one_tab_signs_out_the_other(
    demo: Demo, context: BrowserContext
) -> None:
    first = context.new_page()
    register(demo, first, "leaves@x.test")
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


def test_replayed_stolen_cookie_ends_both_with_the_reuse_screen(
    serve_demo: ServeDemo, new_context: NewContext
) -> None:
    # No grace: the first replay of a rotated-out cookie is reuse (rule 3).
    demo = serve_demo(REFRESH_REUSE_GRACE=0)
    victim_context = new_context()
    victim = victim_context.new_page()
    register(demo, victim, "victim@x.test")
    stolen = [c for c in victim_context.cookies() if c["name"] == demo.cookie_name]
    with victim.expect_response(lambda r: "refreshToken" in (r.request.post_data or "")):
        victim.reload()  # the silent refresh rotates the cookie the thief copied

    thief_context = new_context()
    # A cookie read back is a valid cookie to set; the stubs type them apart.
    thief_context.add_cookies(stolen)  # type: ignore[arg-type]
    thief = thief_context.new_page()
    thief.goto(demo.url)

    for tab in (thief, victim):
        notice = tab.get_by_test_id("signed-out-notice")
        expect(notice).to_have_attribute("data-reason", "reused")
        expect(notice).to_contain_text("used from somewhere else")
    screenshot(victim, "signed-out-reused")


def test_signing_out_everywhere_else_ends_the_other_sessions(
    demo: Demo, new_context: NewContext
) -> None:
    here = new_context().new_page()
    register(demo, here, "many@x.test")
    elsewhere = new_context().new_page()
    sign_in(demo, elsewhere, "many@x.test")
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
    register(demo, here, "prunes@x.test")
    for _ in range(2):
        sign_in(demo, new_context().new_page(), "prunes@x.test")
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

    register(demo, page, "tours@x.test")
    sign_in(demo, new_context().new_page(), "tours@x.test")
    expect(page.get_by_test_id("profile-email")).to_have_text("tours@x.test")
    screenshot(page, "profile")
    page.get_by_test_id("nav-sessions").click()
    expect(page.get_by_test_id("session-row")).to_have_count(2)
    screenshot(page, "sessions")
