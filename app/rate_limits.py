"""Rate limits on the same Redis as the sessions, as moving windows.

- Failed ``loginUser`` per e-mail and client address (``LOGIN_RATE_LIMIT``):
  past the limit every attempt for that pair, the right password included,
  is refused until the window frees (CONTRACT.md), so a password guesser
  cannot tell a hit from a miss.
- ``registerUser`` per client address (``REGISTER_RATE_LIMIT``).
- A generous ceiling per address for every cookie operation
  (:data:`COOKIE_OPERATIONS_LIMIT`).

Checking and counting are two round trips, so a burst of parallel requests
can overshoot a limit by its own width; one document carries at most one
cookie operation, so aliases and batches cannot.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import RedisClusterStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from .errors import RateLimited

COOKIE_OPERATIONS_LIMIT = "300/minute"


def _storage(redis: Any, cluster: bool) -> Any:
    if cluster:
        node = redis.get_default_node()
        return RedisClusterStorage(f"redis+cluster://{node.host}:{node.port}")
    return RedisStorage("redis://", connection_pool=redis.connection_pool)


def _digest(value: str) -> str:
    # Keys name no e-mail address in the clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class RateLimits:
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
        """:raises RateLimited: the pair has used up its failed attempts."""
        key = _digest(email.strip().lower()), ip or "-"
        if not self._limiter.test(self.login, "login", *key):
            raise RateLimited(self._retry_after(self.login, "login", *key))

    def hit_login(self, email: str, ip: str | None) -> None:
        """Count one failed login of the pair."""
        self._limiter.hit(self.login, "login", _digest(email.strip().lower()), ip or "-")

    def hit_register(self, ip: str | None) -> None:
        """:raises RateLimited: the address has registered too often."""
        self._hit_or_raise(self.register, "register", ip or "-")

    def hit_cookie_operation(self, ip: str | None) -> None:
        """:raises RateLimited: the address sends too many cookie operations."""
        self._hit_or_raise(self.cookie_operations, "cookie", ip or "-")

    def _hit_or_raise(self, item: RateLimitItem, *key: str) -> None:
        if not self._limiter.hit(item, *key):
            raise RateLimited(self._retry_after(item, *key))

    def _retry_after(self, item: RateLimitItem, *key: str) -> int:
        stats = self._limiter.get_window_stats(item, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))
