"""Sessions: families of refresh tokens kept in Redis.

A refresh token is ``<session id>.<generation>.<MAC>``, the MAC an
HMAC-SHA256 of ``<session id>.<generation>`` under a server secret that never
leaves the database and the workers. Redis keeps only the current generation,
so no token is stored at all and a session costs O(1) memory however often it
rotates. Because the successor of generation *n* is always the same string,
the grace rule (CONTRACT.md rule 2) hands every concurrent caller the same
successor without storing it.

Every key of one session is ``s:{<session id>}``: one key, one hash slot, so
each rotation and revocation is one atomic Lua script on a single Redis and on
a Redis Cluster alike. ``u:{<user id>}`` indexes a user's sessions; it is a
superset repaired lazily, and the session key is the truth.

Deadlines are kept in milliseconds in the hash and checked in the scripts
against the caller's clock; the Redis TTL only reclaims memory, so a
controllable clock governs expiry in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from . import user_agents
from .clock import Clock
from .config import Settings
from .errors import RefreshTokenInvalid, RefreshTokenReused
from .redis_client import Script
from .redis_scripts import CREATE, REVOKE, ROTATE

logger = logging.getLogger(__name__)

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{22})\.(0|[1-9][0-9]{0,8})\.([A-Za-z0-9_-]{43})$")

_FIELDS = ("u", "c", "l", "a", "ua", "ip", "e", "t", "uc")


def session_key(session_id: str) -> str:
    return "s:{" + session_id + "}"


def tombstone_key(session_id: str) -> str:
    """Marks a session closed for reuse; same hash slot as the session."""
    return "r:{" + session_id + "}"


def user_key(user_id: str) -> str:
    return "u:{" + user_id + "}"


@dataclass(frozen=True)
class SessionUser:
    """What a session remembers of its user, so hot paths need no SQL."""

    id: str
    email: str
    user_type: str
    created_at: float


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user: SessionUser
    created_at: float
    last_used_at: float
    expires_at: float
    user_agent: str | None
    ip_address: str | None


@dataclass(frozen=True)
class Rotation:
    """A refresh token handed to the client, and how long its cookie lives."""

    session_id: str
    token: str
    max_age: int
    user: SessionUser
    #: ``False`` when the grace rule answered with an existing successor.
    rotated: bool = True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _user_type(code: str) -> str:
    return "admin" if code == "a" else "user"


class SessionStore:
    """Creates, rotates, lists and revokes sessions.

    :param redis: a redis-py client (``Redis`` or ``RedisCluster``) that
        decodes responses.
    :param secret: returns the MAC key; called lazily so that the database
        is not needed at construction.
    """

    def __init__(
        self,
        redis: Any,
        settings: Settings,
        clock: Clock,
        secret: Callable[[], bytes],
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.clock = clock
        self._secret = secret
        self._create = Script(redis, CREATE)
        self._rotate = Script(redis, ROTATE)
        self._revoke = Script(redis, REVOKE)

    # -- tokens ---------------------------------------------------------

    def _mac(self, session_id: str, generation: int) -> str:
        message = f"{session_id}.{generation}".encode()
        return _b64(hmac.new(self._secret(), message, hashlib.sha256).digest())

    def _token(self, session_id: str, generation: int) -> str:
        return f"{session_id}.{generation}.{self._mac(session_id, generation)}"

    def parse(self, token: str) -> tuple[str, int]:
        """Return the session id and generation of an authentic token.

        :raises RefreshTokenInvalid: malformed or forged.
        """
        match = _TOKEN.match(token)
        if not match:
            raise RefreshTokenInvalid("malformed")

        session_id, generation = match[1], int(match[2])
        expected = self._mac(session_id, generation)
        if not hmac.compare_digest(expected, match[3]):
            raise RefreshTokenInvalid("forged", session_id)

        return session_id, generation

    # -- lifecycle --------------------------------------------------------

    def create(
        self,
        user: SessionUser,
        user_agent: str | None,
        ip_address: str | None,
    ) -> Rotation:
        """Start a session for ``user``; returns its first refresh token."""
        session_id = secrets.token_urlsafe(16)
        now = _ms(self.clock.now())
        lifetime = _ms(self.settings.session_lifetime)
        absolute = now + _ms(self.settings.session_max_age)

        # Index first: the index may name a session that failed to start,
        # never miss one that did.
        index = user_key(user.id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(index, session_id, "")
        pipe.pexpire(index, _ms(self.settings.session_max_age))
        pipe.execute()

        self._create(
            keys=[session_key(session_id)],
            args=[
                now, absolute, lifetime, user.id, user_agents.compact(user_agent),
                ip_address or "", user.email, user.user_type[0], int(user.created_at),
            ],
        )
        return Rotation(session_id, self._token(session_id, 0), lifetime // 1000, user)

    def rotate(
        self,
        token: str,
        user_agent: str | None,
        ip_address: str | None,
    ) -> Rotation:
        """Exchange ``token`` for its successor (CONTRACT.md rules 1-3).

        :raises RefreshTokenInvalid: malformed, forged, unknown, expired or
            revoked.
        :raises RefreshTokenReused: a rotated-out token came back, now or
            earlier; the whole session has been revoked.
        """
        session_id, generation = self.parse(token)

        reply = self._rotate(
            keys=[session_key(session_id), tombstone_key(session_id)],
            args=[
                generation,
                _ms(self.clock.now()),
                _ms(self.settings.refresh_token_ttl),
                _ms(self.settings.refresh_reuse_grace),
                user_agents.compact(user_agent),
                ip_address or "",
            ],
        )
        status = int(reply[0])
        if status == 0:
            raise RefreshTokenInvalid("unknown", session_id)
        if status == 3:
            raise RefreshTokenReused(
                session_id, reply[3], generation, int(reply[1]),
                session_user_agent=reply[4] or None, session_ip=reply[5] or None,
            )
        if status == 4:
            raise RefreshTokenReused(session_id, "", generation, None)

        current, remaining = int(reply[1]), int(reply[2])
        user = SessionUser(reply[3], reply[4], _user_type(reply[5]), float(reply[6]))
        return Rotation(
            session_id,
            self._token(session_id, current),
            max(1, remaining // 1000),
            user,
            rotated=status == 1,
        )

    def revoke(self, session_id: str, owner: str | None = None) -> str | None:
        """Revoke a live session; returns its user id, or ``None`` if none.

        :param owner: when given, revoke only if the session belongs to this
            user; a session of someone else is left alone and its owner
            returned, so the caller can refuse with ``FORBIDDEN``.
        """
        reply = self._revoke(
            keys=[session_key(session_id)],
            args=[owner or "", _ms(self.clock.now()),
                  _ms(self.settings.refresh_token_ttl)],
        )
        status = int(reply[0])
        if status == 0:
            return None
        if status == -1:
            return str(reply[1])
        try:
            self.redis.hdel(user_key(str(reply[1])), session_id)
        except RedisError as err:
            # The session is revoked; its index entry is repaired lazily.
            logger.warning("index of session %s not updated: %s", session_id,
                           err.__class__.__name__)
        return str(reply[1])

    def revoke_user(self, user_id: str) -> int:
        """Revoke every session of ``user_id``; returns how many were live."""
        index = user_key(user_id)
        members = self.redis.hkeys(index)
        revoked = 0
        for session_id in members:
            if self.revoke(session_id, owner=user_id) == user_id:
                revoked += 1
        if members:
            # Only the ids read: a session started meanwhile keeps its entry,
            # or no later revoke_user could find it.
            self.redis.hdel(index, *members)
        return revoked

    # -- reading --------------------------------------------------------

    def alive(self, session_id: str, user_id: str) -> bool:
        """Whether ``session_id`` is a live session of ``user_id``: one round trip."""
        return self.user_of(session_id, user_id) is not None

    def user_of(
        self, session_id: str, user_id: str | None = None
    ) -> SessionUser | None:
        """The user a live session belongs to, or ``None`` (CONTRACT.md rule 4)."""
        info = self.get(session_id)
        if info is None or (user_id is not None and info.user.id != user_id):
            return None
        return info.user

    def get(self, session_id: str) -> SessionInfo | None:
        """The live session ``session_id``, or ``None``."""
        if not SESSION_ID.match(session_id):
            return None
        values = self.redis.hmget(session_key(session_id), _FIELDS)
        return self._info(session_id, values)

    def list_user(self, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id``, oldest first; repairs the index."""
        index = user_key(user_id)
        ids = sorted(self.redis.hkeys(index))
        if not ids:
            return []

        pipe = self.redis.pipeline(transaction=False)
        for session_id in ids:
            pipe.hmget(session_key(session_id), _FIELDS)
        rows = pipe.execute()

        sessions, stale = [], []
        for session_id, values in zip(ids, rows, strict=True):
            info = self._info(session_id, values)
            if info is None or info.user.id != user_id:
                stale.append(session_id)
            else:
                sessions.append(info)
        if stale:
            self.redis.hdel(index, *stale)
        return sorted(sessions, key=lambda s: s.created_at)

    def iter_all(self) -> Iterator[SessionInfo]:
        """Every live session; scans the keyspace (for administrators)."""
        for key in self.redis.scan_iter(match="s:{*}", count=1000):
            session_id = key[3:-1]
            info = self.get(session_id)
            if info is not None:
                yield info

    def _info(self, session_id: str, values: list[Any]) -> SessionInfo | None:
        user_id, created, last, absolute, agent, ip, email, kind, user_created = values
        if user_id is None:
            return None
        expires = min(int(last) + _ms(self.settings.refresh_token_ttl), int(absolute))
        if _ms(self.clock.now()) >= expires:
            return None  # past its deadline; Redis reclaims the key by TTL
        return SessionInfo(
            id=session_id,
            user=SessionUser(user_id, email, _user_type(kind), float(user_created)),
            created_at=int(created) / 1000,
            last_used_at=int(last) / 1000,
            expires_at=expires / 1000,
            user_agent=agent or None,
            ip_address=ip or None,
        )

    # -- administration ---------------------------------------------------

    def revoke_all(self) -> int:
        """Revoke every live session; returns how many were live.

        Scans the keyspace (every primary of a cluster) and revokes each
        session with the script :meth:`revoke` uses, so a session rotating
        during the sweep dies all the same. A session started after the
        sweep began may survive it.
        """
        revoked = 0
        for key in self.redis.scan_iter(match="s:{*}", count=1000):
            if self.revoke(key[3:-1]) is not None:
                revoked += 1
        return revoked
