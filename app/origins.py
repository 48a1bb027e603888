"""Which browser origins may call the API with credentials.

One rule serves both defences that look at ``Origin``: the CORS allow-list
(which origins may *read* responses) and the CSRF check (which origins may
*run* an operation that reads or sets the refresh cookie; CONTRACT.md,
"Errors"). An origin is allowed only when it equals one of ``CORS_ORIGINS``
exactly, up to the letter case of scheme and host (RFC 6454 section 6.1):
no prefix, suffix, pattern or wildcard ever matches, and neither does the
opaque origin ``null`` that sandboxed frames and ``file:`` pages send.
"""

from __future__ import annotations

from collections.abc import Iterable


class AllowedOrigins:
    """The configured origins, compared exactly.

    :param origins: serialised origins (``scheme://host[:port]``), as
        validated by :mod:`app.config`.
    """

    def __init__(self, origins: Iterable[str]) -> None:
        self._folded = frozenset(origin.casefold() for origin in origins)

    def allows(self, origin: str | None) -> bool:
        """Whether a request carrying this ``Origin`` header is trusted."""
        if not origin:
            return False
        return origin.casefold() in self._folded
