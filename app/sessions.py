"""Sessions: families of refresh tokens kept in Redis.

A refresh token is ``<session id>.<generation>.<MAC>``, the MAC an
HMAC-SHA256 of ``<session id>.<generation>`` under a server secret that never
leaves the database and the workers. Redis keeps only the current generation,
so no token is stored at all and a session costs O(1) memory however often it
rotates. Because the successor of generation *n* is always the same string,
the grace rule (CONTRACT.md rule 2) hands every concurrent caller the same
successor without storing it.

A session id is ``<user id>:<12 random characters>``. All the sessions of a
user are fields of one hash, ``u:{<user id>}`` (laid out in
:mod:`app.redis_scripts`): one key, one hash slot, so each rotation and
revocation, a user's included, is one atomic Lua script on a single Redis and
on a Redis Cluster alike, and a session costs no Redis key of its own.

Deadlines are kept in milliseconds in the hash and checked in the scripts
against the caller's clock; the Redis TTL only reclaims memory, so a
controllable clock governs expiry in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import user_agents
from .clock import Clock
from .config import Settings
from .errors import RefreshTokenInvalid, RefreshTokenReused
from .redis_client import Script
from .redis_scripts import CREATE, REVOKE, REVOKE_USER, ROTATE

_USER = r"[A-Za-z0-9_-]{1,64}"
_NAME = r"[A-Za-z0-9_-]{12}"
_USER_ID = re.compile(_USER)
#: ``<user id>:<12 random characters>``.
SESSION_ID = re.compile(rf"^({_USER}):({_NAME})$")
#: ``<session id>.<generation>.<MAC>``.
_TOKEN = re.compile(
    rf"^({_USER}:{_NAME})\.(0|[1-9][0-9]{{0,8}})\.([A-Za-z0-9_-]{{43}})$"
)
_USER_FIELDS = ("e", "t", "c")


def user_key(user_id: str) -> str:
    """The hash that holds every session of ``user_id``."""
    return "u:{" + user_id + "}"


def session_key(session_id: str) -> str:
    """The key a session lives in: its user's hash."""
    return user_key(session_id.rpartition(":")[0])


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
    #: Sessions of the same user that a new one ended, to stay within
    #: ``SESSIONS_PER_USER``.
    ended: tuple[str, ...] = ()


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
        self._revoke_user = Script(redis, REVOKE_USER)

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
        """Start a session for ``user``; returns its first refresh token.

        :raises ValueError: the user id cannot be part of a session id (the
            database makes UUIDs, which always can).
        """
        if not _USER_ID.fullmatch(user.id):
            raise ValueError("a user id of letters, digits, '-' and '_' is needed")
        now = _ms(self.clock.now())
        lifetime = _ms(self.settings.session_lifetime)
        args = [
            now, now + _ms(self.settings.session_max_age), lifetime,
            _ms(self.settings.refresh_token_ttl), user_agents.compact(user_agent),
            ip_address or "", user.email, user.user_type[0], int(user.created_at),
            self.settings.sessions_per_user,
        ]
        # 72 random bits: a clash within one user's sessions is all but
        # impossible, and the script refuses one rather than overwrite.
        for _ in range(3):
            name = secrets.token_urlsafe(9)
            reply = self._create(keys=[user_key(user.id)], args=[name, *args])
            if int(reply[0]):
                session_id = f"{user.id}:{name}"
                token = self._token(session_id, 0)
                ended = tuple(f"{user.id}:{other}" for other in reply[1:])
                return Rotation(session_id, token, lifetime // 1000, user,
                                ended=ended)
        raise RuntimeError("no free session id")

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
        user_id, _, name = session_id.rpartition(":")

        reply = self._rotate(
            keys=[user_key(user_id)],
            args=[
                name,
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
                session_id, user_id, generation, int(reply[1]),
                session_user_agent=reply[3] or None, session_ip=reply[4] or None,
            )
        if status == 4:
            raise RefreshTokenReused(session_id, user_id, generation, None)

        current, remaining = int(reply[1]), int(reply[2])
        user = SessionUser(user_id, reply[3], _user_type(reply[4]), float(reply[5]))
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
            user; a live session of someone else is left alone and its owner
            returned, so the caller can refuse with ``FORBIDDEN``.
        """
        match = SESSION_ID.match(session_id)
        if not match:
            return None
        user_id, name = match[1], match[2]
        if owner is not None and owner != user_id:
            return user_id if self.get(session_id) is not None else None
        revoked = self._revoke(
            keys=[user_key(user_id)],
            args=[name, _ms(self.clock.now()), _ms(self.settings.refresh_token_ttl)],
        )
        return user_id if revoked else None

    def revoke_user(self, user_id: str) -> int:
        """Revoke every session of ``user_id`` at once; returns how many were live."""
        return int(self._revoke_user(
            keys=[user_key(user_id)],
            args=[_ms(self.clock.now()), _ms(self.settings.refresh_token_ttl)],
        ))

    # -- reading --------------------------------------------------------

    def alive(self, session_id: str, user_id: str) -> bool:
        """Whether ``session_id`` is a live session of ``user_id``: one round trip."""
        return self.user_of(session_id, user_id) is not None

    def user_of(
        self, session_id: str, user_id: str | None = None
    ) -> SessionUser | None:
        """The user a live session belongs to, or ``None`` (CONTRACT.md rule 4)."""
        match = SESSION_ID.match(session_id)
        if not match or (user_id is not None and match[1] != user_id):
            return None
        state, email, kind, created = self.redis.hmget(
            user_key(match[1]), (match[2], *_USER_FIELDS)
        )
        if self._expires(state) is None:
            return None
        return SessionUser(match[1], email, _user_type(kind), float(created))

    def get(self, session_id: str) -> SessionInfo | None:
        """The live session ``session_id``, or ``None``."""
        match = SESSION_ID.match(session_id)
        if not match:
            return None
        name = match[2]
        values = self.redis.hmget(
            user_key(match[1]), (name, name + "a", name + "i", *_USER_FIELDS)
        )
        return self._info(match[1], name, *values)

    def list_user(self, user_id: str) -> list[SessionInfo]:
        """The live sessions of ``user_id``, oldest first."""
        return self._sessions(user_id, self.redis.hgetall(user_key(user_id)))

    def iter_all(self) -> Iterator[SessionInfo]:
        """Every live session; scans the keyspace (for administrators)."""
        for key in self.redis.scan_iter(match="u:{*}", count=1000):
            yield from self._sessions(key[3:-1], self.redis.hgetall(key))

    def _sessions(self, user_id: str, fields: dict[str, str]) -> list[SessionInfo]:
        user = [fields.get(name) for name in _USER_FIELDS]
        sessions = []
        for name, state in fields.items():
            if len(name) == 12:
                info = self._info(user_id, name, state, fields.get(name + "a"),
                                  fields.get(name + "i"), *user)
                if info is not None:
                    sessions.append(info)
        return sorted(sessions, key=lambda s: (s.created_at, s.id))

    def _expires(self, state: str | None) -> int | None:
        """The deadline (ms) of a live session's state, else ``None``."""
        if state is None or state.startswith("!"):
            return None
        _, _, last, absolute = state.split(" ")
        idle = _ms(self.settings.refresh_token_ttl)
        expires = min(int(last, 36) + idle, int(absolute, 36))
        return expires if _ms(self.clock.now()) < expires else None

    def _info(
        self,
        user_id: str,
        name: str,
        state: str | None,
        agent: str | None,
        ip: str | None,
        email: str | None,
        kind: str | None,
        user_created: str | None,
    ) -> SessionInfo | None:
        expires = self._expires(state)
        if expires is None or state is None or email is None:
            return None  # unknown, closed, or past its deadline
        _, created, last, _ = state.split(" ")
        return SessionInfo(
            id=f"{user_id}:{name}",
            user=SessionUser(user_id, email, _user_type(kind or ""),
                             float(user_created or 0)),
            created_at=int(created, 36) / 1000,
            last_used_at=int(last, 36) / 1000,
            expires_at=expires / 1000,
            user_agent=agent or None,
            ip_address=ip or None,
        )

    # -- administration ---------------------------------------------------

    def revoke_all(self) -> int:
        """Revoke every live session; returns how many were live.

        Scans the keyspace (every primary of a cluster) and revokes each
        user's sessions with the script :meth:`revoke_user` uses, so a
        session rotating during the sweep dies all the same. A session
        started after the sweep passed its user may survive it.
        """
        revoked = 0
        for key in self.redis.scan_iter(match="u:{*}", count=1000):
            revoked += self.revoke_user(key[3:-1])
        return revoked
