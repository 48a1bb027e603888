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

import re

from werkzeug.wrappers import Response

from .config import Settings

#: Characters every refresh token is made of: all of them cookie-octets
#: (RFC 6265 section 4.1.1), so the value goes out as it is, unquoted.
_VALUE = re.compile(r"[A-Za-z0-9._:~-]+")


class RefreshCookie:
    """Sets and clears the refresh cookie on responses.

    :param graphql_path: the endpoint's path, the narrowest ``Path`` that
        still reaches it.
    """

    def __init__(self, settings: Settings, graphql_path: str) -> None:
        self.name = settings.refresh_cookie_name
        self.secure = settings.cookie_secure
        self.path = "/" if self.name.startswith("__Host-") else graphql_path
        secure = "; Secure" if self.secure else ""
        self._attributes = f"; Path={self.path}{secure}; HttpOnly; SameSite=Strict"

    def set(self, response: Response, token: str, max_age: int) -> None:
        """Send ``token`` for ``max_age`` seconds: the session's remaining life.

        The header is written here rather than by werkzeug's ``set_cookie``,
        which also computes an ``Expires`` date and checks for quoting on
        every call: browsers go by ``Max-Age`` when both are there (RFC 6265
        section 5.3), and a token has nothing to quote.

        :raises ValueError: ``token`` holds a character a cookie value
            cannot carry unquoted.
        """
        if not _VALUE.fullmatch(token):
            raise ValueError("a refresh token holds a character no cookie carries")
        response.headers.add(
            "Set-Cookie",
            f"{self.name}={token}; Max-Age={max(0, max_age)}{self._attributes}",
        )

    def clear(self, response: Response) -> None:
        """Tell the browser to drop the cookie now (``logout``, revocation).

        Same name and attributes as :meth:`set`, so it replaces that cookie;
        the past ``Expires`` is for clients that know no ``Max-Age``.
        """
        response.headers.add(
            "Set-Cookie",
            f"{self.name}=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0"
            f"{self._attributes}",
        )
