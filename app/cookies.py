"""The refresh cookie and its attributes (CONTRACT.md, RFC 6265bis).

``__Host-`` names get ``Path=/`` as the prefix demands; any other name is
scoped to the GraphQL endpoint so the token travels nowhere else. Never a
``Domain``: a cookie without one is sent back to this host only.
"""

from __future__ import annotations

from flask import Response

from .config import Settings


class RefreshCookie:
    def __init__(self, settings: Settings, graphql_path: str) -> None:
        self.name = settings.refresh_cookie_name
        self.secure = settings.cookie_secure
        self.path = "/" if self.name.startswith("__Host-") else graphql_path

    def set(self, response: Response, token: str, max_age: int) -> None:
        """Send ``token`` for ``max_age`` seconds: the session's remaining life."""
        response.set_cookie(
            self.name, token, max_age=max_age, path=self.path,
            secure=self.secure, httponly=True, samesite="Strict",
        )

    def clear(self, response: Response) -> None:
        """Tell the browser to drop the cookie now."""
        response.set_cookie(
            self.name, "", max_age=0, expires=0, path=self.path,
            secure=self.secure, httponly=True, samesite="Strict",
        )
