"""Driving the demo SPA: the live server, the wire, the forms, screenshots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from playwright.sync_api import BrowserContext, Page, Request

DEMO = Path(__file__).resolve().parents[2] / "client-demo"
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "correct horse battery"

#: Short enough that a test sees tokens expire, long enough for a round trip.
ACCESS_TOKEN_TTL = 3


@dataclass
class Demo:
    """The SPA and its API on one origin, and the app behind them."""

    url: str
    app: Flask

    @property
    def cookie_name(self) -> str:
        name: str = self.app.extensions["token_service"].settings.refresh_cookie_name
        return name

    def graphql(self, query: str, token: str | None = None) -> dict[str, Any]:
        """Call the API directly, as another program would."""
        headers = {"Origin": self.url}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = requests.post(
            f"{self.url}/graphql", json={"query": query}, headers=headers, timeout=10
        )
        body: dict[str, Any] = response.json()
        return body


#: ``serve_demo(port=None, **settings)``: start one more live server.
ServeDemo = Callable[..., Demo]


@dataclass
class Wire:
    """The GraphQL requests a browser context sends, in order."""

    requests: list[Request] = field(default_factory=list)

    def record(self, request: Request) -> None:
        if request.url.endswith("/graphql") and request.method == "POST":
            self.requests.append(request)

    def calls(self, field_name: str) -> list[Request]:
        """The requests whose document names ``field_name``."""
        return [r for r in self.requests if field_name in (r.post_data or "")]

    def count(self, field_name: str) -> int:
        return len(self.calls(field_name))

    def clear(self) -> None:
        self.requests.clear()


def watch_wire(context: BrowserContext) -> Wire:
    wire = Wire()
    context.on("request", wire.record)
    return wire


def register(page: Page, url: str, email: str) -> str:
    """Register ``email`` through the form at ``url``; return its access token."""
    return _submit(page, f"{url}/#/register", email, "registerUser")


def sign_in(page: Page, url: str, email: str) -> str:
    """Sign ``email`` in through the form at ``url``; return its access token."""
    return _submit(page, f"{url}/#/signin", email, "loginUser")


def _submit(page: Page, form: str, email: str, operation: str) -> str:
    page.goto(form)
    page.get_by_test_id("email").fill(email)
    page.get_by_test_id("password").fill(PASSWORD)
    with page.expect_response(answering(operation)) as answer:
        page.get_by_test_id("submit").click()
    token: str = answer.value.json()["data"][operation]["accessToken"]
    page.get_by_test_id("page-profile").wait_for()
    return token


def answering(field_name: str) -> Callable[[Any], bool]:
    """Match the response to a GraphQL request that names ``field_name``."""
    return lambda response: (response.url.endswith("/graphql")
                             and field_name in (response.request.post_data or ""))


def screenshot(page: Page, name: str) -> None:
    """Save the whole page, cut to its content, as ``screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1000, "height": 200})
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
