"""Rate limits on the same Redis as the sessions, as moving windows.

- Failed ``loginUser`` per e-mail and client address (``LOGIN_RATE_LIMIT``):
  past the limit every attempt for that pair, the right password included,
  is refused until the window frees (CONTRACT.md), so a password guesser
  cannot tell a hit from a miss. The e-mail is keyed in the form the user
  store compares, so ``ANN@x.test`` or a full-width letter in the domain
  does not open a fresh window for the same account.
- ``registerUser`` per client address (``REGISTER_RATE_LIMIT``).
- A generous ceiling per address for the cookie operations that sign in,
  register or sign out (:data:`COOKIE_OPERATIONS_LIMIT`). ``refreshToken``
  is left out: it succeeds only with an authentic refresh token (a 256-bit
  MAC, checked in the worker before Redis is asked), so there is nothing to
  guess, and counting it would double the Redis work of every refresh.

A window is a Redis list of the times of its latest hits, newest first, at
most as many as the limit allows: it is full while it holds that many and
the oldest is younger than the window's width. Every window of an address lives in
``rl:{<address>}:...``, one cluster slot, so one script call checks and
counts all that a request needs: the ceiling and the login window of a
``loginUser``, the ceiling and the registration window of a
``registerUser``. A failed login is counted by a second call, after the
password was checked, so a burst of parallel wrong guesses can overshoot
the login limit by its own width; one request carries at most one cookie
operation, so aliases and batches cannot.

The client address is ``request.remote_addr``, which believes
``X-Forwarded-For`` only through ``TRUSTED_PROXIES`` hops (ProxyFix). The
windows run on the service's clock.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from .clock import Clock
from .config import RATE
from .errors import BadUserInput, RateLimited
from .redis_client import Script
from .users import normalize_email

#: Cookie operations one address may send; far above what people behind
#: one NAT do, far below what a script does.
COOKIE_OPERATIONS_LIMIT = "300/minute"

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

#: KEYS: the windows, in order. ARGV[1]: now (ms); then three values per
#: window: its limit, its width (ms), and 1 to count a hit or 0 to test only.
#: Returns 0, or the ms until the first full window frees; the windows after
#: a full one are neither tested nor counted.
WINDOWS = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[3 * i - 1])
  local width = tonumber(ARGV[3 * i])
  if limit == 0 then return width end
  local oldest = redis.call('LINDEX', key, limit - 1)
  if oldest and tonumber(oldest) > now - width then
    return tonumber(oldest) + width - now
  end
  if ARGV[3 * i + 1] == '1' then
    redis.call('LPUSH', key, ARGV[1])
    redis.call('LTRIM', key, 0, limit - 1)
    redis.call('PEXPIRE', key, width)
  end
end
return 0
"""


@dataclass(frozen=True)
class Rate:
    """``limit`` hits per ``width_ms``."""

    limit: int
    width_ms: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``10/minute``, ``20/hour``, ``5/10 minutes``.

        :raises ValueError: anything else.
        """
        match = RATE.match(text)
        if not match:
            raise ValueError("must look like 10/minute or 20/hour")
        count, multiple, unit = match.groups()
        return cls(int(count), int(multiple or 1) * _UNITS[unit] * 1000)


def _account(email: str) -> str:
    """The key of an e-mail address: normalised, then hashed.

    Keys name no address in the clear.
    """
    try:
        normal = normalize_email(email)
    except BadUserInput:
        normal = email.strip().lower()
    return hashlib.sha256(normal.encode()).hexdigest()[:32]


def _prefix(ip: str | None) -> str:
    # The braces make the address the hash tag: one slot per address.
    return f"rl:{{{ip or '-'}}}:"


class RateLimits:
    """The service's three limits.

    :param redis: the service's redis-py client (``Redis`` or
        ``RedisCluster``).
    :param login: ``LOGIN_RATE_LIMIT``, e.g. ``"10/minute"``.
    :param register: ``REGISTER_RATE_LIMIT``.
    """

    def __init__(
        self,
        redis: Any,
        clock: Clock,
        *,
        login: str,
        register: str,
        cookie_operations: str = COOKIE_OPERATIONS_LIMIT,
    ) -> None:
        self._windows = Script(redis, WINDOWS)
        self._clock = clock
        self.login = Rate.parse(login)
        self.register = Rate.parse(register)
        self.cookie_operations = Rate.parse(cookie_operations)

    def admit_login(self, email: str, ip: str | None) -> None:
        """Count a login attempt against the ceiling, and refuse it, right or
        wrong, once the pair has used up its failed attempts.

        :raises RateLimited:
        """
        prefix = _prefix(ip)
        self._check((prefix + "cookie", self.cookie_operations, True),
                    (prefix + "login:" + _account(email), self.login, False))

    def hit_login(self, email: str, ip: str | None) -> None:
        """Count one failed login of the pair."""
        try:
            self._check((_prefix(ip) + "login:" + _account(email), self.login, True))
        except RateLimited:
            pass  # already full: nothing more to count

    def admit_register(self, ip: str | None) -> None:
        """Count a registration against the ceiling and the address's window.

        :raises RateLimited:
        """
        prefix = _prefix(ip)
        self._check((prefix + "cookie", self.cookie_operations, True),
                    (prefix + "register", self.register, True))

    def hit_cookie_operation(self, ip: str | None) -> None:
        """Count a sign-out against the ceiling.

        :raises RateLimited:
        """
        self._check((_prefix(ip) + "cookie", self.cookie_operations, True))

    def _check(self, *windows: tuple[str, Rate, bool]) -> None:
        args: list[Any] = [int(self._clock.now() * 1000)]
        for _, rate, count in windows:
            args += [rate.limit, rate.width_ms, 1 if count else 0]
        wait_ms = int(self._windows(keys=[key for key, _, _ in windows], args=args))
        if wait_ms:
            raise RateLimited(max(1, math.ceil(wait_ms / 1000)))
