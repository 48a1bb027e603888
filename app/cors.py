"""CORS on the GraphQL endpoint: which pages may read its answers.

Only ``/graphql`` takes part (:class:`app.graphql.view.GraphQLEndpoint`
calls :meth:`Cors.add`; Flask's paths never do), and only for an allowed
origin: the rule of :class:`app.origins.AllowedOrigins`, the one the CSRF
check applies too. The answer names that one origin and allows
credentials, never ``*``; a request with no ``Origin``, or another one, gets
no CORS header at all, so the browser keeps the answer from the page (Fetch
standard, "CORS check") and nobody is shown the allow-list.

A preflight from an allowed origin learns the methods and request headers
the endpoint accepts, and the browser may cache that answer for
``max_age`` seconds.
"""

from __future__ import annotations

from collections.abc import Iterable

from werkzeug.wrappers import Request, Response

from .origins import AllowedOrigins


class Cors:
    """Adds the CORS headers of the endpoint to its responses.

    :param origins: the origins whose pages may read the answers.
    :param methods: the methods a preflight may ask for.
    :param headers: the request headers a preflight may ask for.
    :param max_age: seconds a browser may cache a preflight's answer.
    """

    def __init__(self, origins: AllowedOrigins, *,
                 methods: Iterable[str], headers: Iterable[str],
                 max_age: int) -> None:
        self.origins = origins
        self.methods = frozenset(method.upper() for method in methods)
        self.headers = frozenset(header.lower() for header in headers)
        self.max_age = str(max_age)

    def add(self, request: Request, response: Response) -> None:
        """Let the origin of ``request`` read ``response``, if it is allowed."""
        origin = request.environ.get("HTTP_ORIGIN")
        if origin is None or not self.origins.allows(origin):
            return

        headers = response.headers
        headers[len(headers):] = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Credentials", "true"),
            # The answer depends on Origin: no cache may give it to another page.
            ("Vary", "Origin"),
        ]
        if request.method == "OPTIONS":
            self._preflight(request, response)

    def _preflight(self, request: Request, response: Response) -> None:
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        if method not in self.methods:
            return

        asked = request.headers.get("Access-Control-Request-Headers", "")
        allowed = sorted(name.strip() for name in asked.split(",")
                         if name.strip().lower() in self.headers)
        headers = response.headers
        if allowed:
            headers.add("Access-Control-Allow-Headers", ", ".join(allowed))
        headers.add("Access-Control-Max-Age", self.max_age)
        headers.add("Access-Control-Allow-Methods", ", ".join(sorted(self.methods)))
