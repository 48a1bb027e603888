"""Hardening headers on every response, and the CSP of the demo SPA.

The API answers JSON only, so its responses get a policy that allows
nothing at all. The demo SPA at ``/`` is a Vite build: one module script
and one style sheet from its own origin, no inline script or style, no
``eval``, and it talks to ``/graphql`` on the same origin. Its policy
allows exactly that, so an injected ``<script>`` or inline handler does not
run (the access token lives in that page's memory). Framing is refused
everywhere (clickjacking of the sign-in form).
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

#: For JSON and anything else that is not a page: nothing may load or run.
API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

#: For the demo SPA's HTML. ``form-action 'none'``: the sign-in form is
#: handled by script; if that failed, a native submission must not put the
#: password into a URL.
SPA_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
))

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # A URL of this service never travels to another site in a Referer.
    "Referrer-Policy": "no-referrer",
    # frame-ancestors for browsers that predate CSP level 2.
    "X-Frame-Options": "DENY",
    # No other window keeps a handle on the SPA's (its opener, popups).
    "Cross-Origin-Opener-Policy": "same-origin",
    # No other site embeds these responses with <script> or <img>; CORS
    # requests are not affected (Fetch standard, CORP check).
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

#: Sent only on responses that arrived over HTTPS (RFC 6797 section 7.2).
STRICT_TRANSPORT_SECURITY = "max-age=31536000"


def _wanted(is_page: bool, secure: bool) -> tuple[tuple[str, str, str], ...]:
    """Name, lower-case name and value of each header a response gets."""
    wanted = dict(HEADERS)
    wanted["Content-Security-Policy"] = SPA_POLICY if is_page else API_POLICY
    wanted["Cache-Control"] = "no-store"
    if secure:
        wanted["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
    return tuple((name, name.lower(), value) for name, value in wanted.items())


#: By (is the response an HTML page, did the request come over HTTPS).
_WANTED = {(page, secure): _wanted(page, secure)
           for page in (False, True) for secure in (False, True)}


def apply(response: Response) -> Response:
    """Flask's hook: :func:`add` for the request being answered."""
    add(response, request.is_secure)
    return response


def add(response: Response, secure: bool) -> None:
    """Add the hardening headers that ``response`` does not set itself.

    A response that says nothing about caching gets ``no-store``: only the
    JWKS and the SPA's files are meant to be cached, and they say so.

    :param secure: the request came over HTTPS (HSTS is sent then only).
    """
    wanted = _WANTED[response.mimetype == "text/html", secure]
    # One pass over the headers already set, then one slice assignment that
    # appends the rest: a setdefault per header would scan them all again
    # for each of the nine, and extend() walks them one add() at a time.
    # Either way werkzeug refuses a value with a line break.
    headers = response.headers
    present = {name.lower() for name, _ in headers}
    headers[len(headers):] = [(name, value) for name, lower, value in wanted
                              if lower not in present]
