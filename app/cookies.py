"""The refresh cookie and its attributes (CONTRACT.md, RFC 6265bis).

- ``HttpOnly``: script on the page, an injected one included, cannot read it.
- ``Secure`` (unless ``COOKIE_SECURE=0``): it never travels over plain HTTP.
- ``SameSite=Strict``: no other site's page makes the browser send it.
- No ``Domain``: it goes back to this host only, never to a subdomain.
- ``__Host-`` names get ``Path=/``, as the prefix demands, and the browser
  refuses any attempt by a sibling subdomain to overwrite them; any other
  name is scoped to the GraphQL endpoint, so the token travels nowhere else.
- ``Max-Age``: the session's remaining lifetime, so the browser drops the
  cookie when the session could no longer be refreshed anyway.
"""

from __future__ import annotations

from flask import Response

from .config import Settings


class RefreshCookie:
    """Sets and clears the refresh cookie on responses.

    :param graphql_path: the endpoint's path, the narrowest ``Path`` that
        still reaches it.
    """

    def __init__(self, settings: Settings, graphql_path: str) -> None:
        self.name = settings.refresh_cookie_name
        self.secure = settings.cookie_secure
        self.path = "/" if self.name.startswith("__Host-") else graphql_path

    def set(self, response: Response, token: str, max_age: int) -> None:
        """Send ``token`` for ``max_age`` seconds: the session's remaining life."""
        response.set_cookie(
            self.name, token, max_age=max(0, max_age), path=self.path,
            secure=self.secure, httponly=True, samesite="Strict",
        )

    def clear(self, response: Response) -> None:
        """Tell the browser to drop the cookie now (``logout``, revocation)."""
        response.set_cookie(
            self.name, "", max_age=0, expires=0, path=self.path,
            secure=self.secure, httponly=True, samesite="Strict",
        )
