"""Browser fixtures: the built demo SPA served by a live app, and Chromium.

The app runs on a real HTTP server in a thread with the real clock and a
short ``ACCESS_TOKEN_TTL``, so tokens expire while a test watches. Chromium
is Debian's package (``/usr/bin/chromium``, or ``CHROMIUM_PATH``); Playwright
only drives it and never downloads a browser of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from app.clock import SystemClock
from tests.browser.spa import ACCESS_TOKEN_TTL, DEMO, Demo, ServeDemo
from tests.servers import free_port, live_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# -- the SPA -----------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_dist() -> Path:
    """``client-demo/dist``, built first when missing or older than its sources."""
    dist = DEMO / "dist"
    if _needs_build(dist):
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is needed to build client-demo (Node.js 20.19+)")
        if not (DEMO / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=DEMO, check=True)
        subprocess.run([npm, "run", "build"], cwd=DEMO, check=True)
    return dist


def _needs_build(dist: Path) -> bool:
    index = dist / "index.html"
    if not index.is_file():
        return True
    sources = [DEMO / "index.html", DEMO / "package.json", DEMO / "package-lock.json",
               DEMO / "vite.config.ts", *(DEMO / "src").rglob("*")]
    built = index.stat().st_mtime
    return any(path.stat().st_mtime > built for path in sources if path.is_file())


# -- the server --------------------------------------------------------------


@pytest.fixture
def serve_demo(make_app: Callable[..., Flask], demo_dist: Path) -> Iterator[ServeDemo]:
    """Start the app on a free port (or ``port``); keyword arguments override
    its settings."""
    with ExitStack() as servers:

        def serve(port: int | None = None, **overrides: Any) -> Demo:
            port = port or free_port()
            url = f"http://127.0.0.1:{port}"
            config = {"ACCESS_TOKEN_TTL": ACCESS_TOKEN_TTL, "CORS_ORIGINS": url,
                      "LOGIN_RATE_LIMIT": "1000/minute",
                      "REGISTER_RATE_LIMIT": "1000/hour", **overrides}
            app = make_app(config, app_clock=SystemClock())
            servers.enter_context(live_server(app, port))
            return Demo(url, app)

        yield serve


@pytest.fixture
def demo(serve_demo: ServeDemo) -> Demo:
    return serve_demo()


# -- the browser -------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser profiles (cookie jars); closed after the test."""
    contexts: list[BrowserContext] = []

    def open_context() -> BrowserContext:
        context = browser.new_context(viewport={"width": 1100, "height": 760})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        context.close()


@pytest.fixture
def context(new_context: Callable[[], BrowserContext]) -> BrowserContext:
    return new_context()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
