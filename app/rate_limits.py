"""Rate limits on the same Redis as the sessions, as moving windows.

- Failed ``loginUser`` per e-mail and client address (``LOGIN_RATE_LIMIT``):
  past the limit every attempt for that pair, the right password included,
  is refused until the window frees (CONTRACT.md), so a password guesser
  cannot tell a hit from a miss. The e-mail is keyed in the form the user
  store compares, so ``ANN@x.test`` or a full-width letter in the domain
  does not open a fresh window for the same account.
- ``registerUser`` per client address (``REGISTER_RATE_LIMIT``).
- A generous ceiling per address for the cookie operations that sign in,
  register or sign out (:data:`COOKIE_OPERATIONS_LIMIT`), counted before
  execution; :mod:`app.graphql.view` leaves ``refreshToken`` out.

The client address is ``request.remote_addr``, which believes
``X-Forwarded-For`` only through ``TRUSTED_PROXIES`` hops (ProxyFix).

Checking and counting are two round trips, so a burst of parallel requests
can overshoot a limit by its own width; one request carries at most one
cookie operation, so aliases and batches cannot. The windows run on the
wall clock (``limits`` reads ``time.time()``), not on the service's clock.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import RedisClusterStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import BadUserInput, RateLimited
from .users import normalize_email

#: Cookie operations one address may send; far above what people behind
#: one NAT do, far below what a script does.
COOKIE_OPERATIONS_LIMIT = "300/minute"

#: Connection settings of the service's cluster client that the limiter's
#: own cluster client must share: credentials, TLS, timeouts.
_CLUSTER_OPTIONS = ("username", "password", "connection_class",
                    "socket_timeout", "socket_connect_timeout")


def _storage(redis: Any, cluster: bool) -> Any:
    if cluster:
        # limits builds its own cluster client from a URL; hand it the
        # connection settings of ours rather than a bare host and port.
        node = redis.get_default_node()
        options = {
            key: value for key, value in redis.nodes_manager.connection_kwargs.items()
            if value is not None
            and (key in _CLUSTER_OPTIONS or key.startswith("ssl_"))
        }
        return RedisClusterStorage(f"redis+cluster://{node.host}:{node.port}",
                                   **options)
    return RedisStorage("redis://", connection_pool=redis.connection_pool)


def _account(email: str) -> str:
    """The key of an e-mail address: normalised, then hashed.

    Keys name no address in the clear.
    """
    try:
        normal = normalize_email(email)
    except BadUserInput:
        normal = email.strip().lower()
    return hashlib.sha256(normal.encode()).hexdigest()[:32]


def _address(ip: str | None) -> str:
    return ip or "-"


class RateLimits:
    """The service's three limits.

    :param redis: the service's redis-py client (``Redis`` or
        ``RedisCluster``); the limiter shares its connection pool.
    :param login: ``LOGIN_RATE_LIMIT``, e.g. ``"10/minute"``.
    :param register: ``REGISTER_RATE_LIMIT``.
    """

    def __init__(
        self,
        redis: Any,
        *,
        cluster: bool,
        login: str,
        register: str,
        cookie_operations: str = COOKIE_OPERATIONS_LIMIT,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(_storage(redis, cluster))
        self.login: RateLimitItem = parse(login)
        self.register: RateLimitItem = parse(register)
        self.cookie_operations: RateLimitItem = parse(cookie_operations)

    def check_login(self, email: str, ip: str | None) -> None:
        """Refuse a login attempt, right or wrong, once the pair is spent.

        :raises RateLimited: the pair has used up its failed attempts.
        """
        key = "login", _account(email), _address(ip)
        if not self._limiter.test(self.login, *key):
            raise RateLimited(self._retry_after(self.login, *key))

    def hit_login(self, email: str, ip: str | None) -> None:
        """Count one failed login of the pair."""
        self._limiter.hit(self.login, "login", _account(email), _address(ip))

    def hit_register(self, ip: str | None) -> None:
        """:raises RateLimited: the address has registered too often."""
        self._hit_or_raise(self.register, "register", _address(ip))

    def hit_cookie_operation(self, ip: str | None) -> None:
        """:raises RateLimited: the address sends too many cookie operations."""
        self._hit_or_raise(self.cookie_operations, "cookie", _address(ip))

    def _hit_or_raise(self, item: RateLimitItem, *key: str) -> None:
        if not self._limiter.hit(item, *key):
            raise RateLimited(self._retry_after(item, *key))

    def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        """Seconds until the oldest hit leaves the window (at least 1)."""
        stats = self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
