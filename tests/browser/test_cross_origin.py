"""The SPA on an origin of its own, as `npm run dev` runs it.

The app is built with ``VITE_API_URL`` naming the API's origin and served by a
plain static server on another port: every call is cross-origin, so the
refresh cookie travels only because of ``credentials: "include"`` and the
server's CORS allow-list.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.spa import DEMO, Demo, ServeDemo, register, watch_wire
from tests.servers import free_port

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def split_origins(
    serve_demo: ServeDemo, demo_dist: Path, tmp_path: Path
) -> Iterator[tuple[str, Demo]]:
    """The SPA's own origin, and the API on another one that allows it."""
    api_port, spa_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    spa_url = f"http://127.0.0.1:{spa_port}"
    out = tmp_path / "dist"
    subprocess.run(
        [str(DEMO / "node_modules" / ".bin" / "vite"), "build", "--logLevel", "warn",
         "--outDir", str(out), "--emptyOutDir"],
        cwd=DEMO, check=True,
        env={**os.environ, "VITE_API_URL": f"{api_url}/graphql"},
    )
    demo = serve_demo(port=api_port, CORS_ORIGINS=f"{api_url},{spa_url}")
    static = ThreadingHTTPServer(
        ("127.0.0.1", spa_port), partial(QuietHandler, directory=str(out))
    )
    threading.Thread(target=static.serve_forever, daemon=True).start()

    yield spa_url, demo
    static.shutdown()
    static.server_close()


def test_spa_on_its_own_origin_signs_in_and_restores_the_session(
    split_origins: tuple[str, Demo], context: BrowserContext, page: Page
) -> None:
    spa_url, demo = split_origins
    wire = watch_wire(context)
    register(page, spa_url, "travels@x.test")
    wire.clear()

    page.reload()

    expect(page.get_by_test_id("profile-email")).to_have_text("travels@x.test")
    (refresh,) = wire.calls("refreshToken")
    assert refresh.url == f"{demo.url}/graphql"
    assert refresh.header_value("origin") == spa_url
