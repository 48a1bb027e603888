"""The operations of the API, composed from users, sessions and tokens.

Resolvers and CLI commands call these and nothing below them. Nothing here
knows about HTTP: the caller passes a :class:`Client` describing who asks, and
receives a :class:`Grant` whose refresh token it puts in a cookie.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError

from .access_tokens import AccessClaims, AccessTokens
from .errors import (
    BadUserInput,
    Forbidden,
    InvalidCredentials,
    RefreshTokenInvalid,
    RefreshTokenReused,
    ServiceUnavailable,
    Unauthenticated,
)
from .events import EventLog
from .models import User
from .rate_limits import RateLimits
from .redis_client import unavailable
from .sessions import SESSION_ID, Rotation, SessionInfo, SessionStore, SessionUser
from .users import Account, Users, created_at, normalize_email

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Client:
    """Who is asking: for session records, events and rate limits."""

    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Grant:
    """An access token and the session it belongs to."""

    access_token: str
    expires_in: int
    refresh: Rotation


@dataclass(frozen=True)
class Caller:
    """The holder of a verified access token of a live session.

    ``session_checked`` is ``False`` when Redis could not be asked whether the
    session is alive (CONTRACT.md rule 5): the token's signature and expiry
    are all that was verified, and :attr:`user` comes from the user store.
    """

    claims: AccessClaims
    user: SessionUser
    session_checked: bool = True

    @property
    def session_id(self) -> str:
        return self.claims["sid"]

    @property
    def is_admin(self) -> bool:
        return self.user.user_type == "admin"


def session_user(user: User | Account) -> SessionUser:
    """What a session keeps of ``user``: its creation time in whole seconds,
    so that every answer (``loginUser``, ``refreshToken``, ``me``) shows the
    same ``createdAt``."""
    created = float(int(created_at(user).timestamp()))
    return SessionUser(user.id, user.email, user.user_type, created)


class Auth:
    def __init__(
        self,
        users: Users,
        sessions: SessionStore,
        tokens: AccessTokens,
        events: EventLog,
        limits: RateLimits,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.tokens = tokens
        self.events = events
        self.limits = limits

    def register(self, email: str, password: str, client: Client) -> Grant:
        """:raises BadUserInput, EmailTaken, RateLimited:"""
        self.limits.admit_register(client.ip_address)
        user = self.users.register(email, password)
        self.events.record("register", user_id=user.id, **_where(client))
        return self._start(user, client)

    def login(self, email: str, password: str, client: Client) -> Grant:
        """:raises InvalidCredentials, RateLimited:"""
        self.limits.admit_login(email, client.ip_address)
        try:
            user = self.users.authenticate(email, password)
        except InvalidCredentials:
            self.limits.hit_login(email, client.ip_address)
            self.events.record("login_failed", email=_loggable_email(email),
                               **_where(client))
            raise
        grant = self._start(user, client)
        self.events.record("login", user_id=user.id,
                           session_id=grant.refresh.session_id, **_where(client))
        return grant

    def refresh(self, token: str, client: Client) -> Grant:
        """Rotate the refresh token (CONTRACT.md rules 1-3).

        :raises RefreshTokenInvalid, RefreshTokenReused:
        """
        try:
            rotation = self.sessions.rotate(token, client.user_agent, client.ip_address)
        except RefreshTokenReused as err:
            if err.current_generation is None:
                raise  # closed for reuse before; that was the event
            self.events.record(
                "refresh_reused",
                user_id=err.user_id,
                session_id=err.session_id,
                **_where(client),
                presented_generation=err.presented_generation,
                current_generation=err.current_generation,
                generations_behind=err.current_generation - err.presented_generation,
                session_ip=err.session_ip,
                session_user_agent=err.session_user_agent,
            )
            raise
        access_token, ttl = self.tokens.issue(rotation.user.id, rotation.session_id)
        return Grant(access_token, ttl, rotation)

    def logout(
        self, refresh_token: str | None, access_token: str | None, client: Client
    ) -> bool:
        """Revoke the session the cookie names, or else the access token's.

        :raises RateLimited: the address sends too many cookie operations.
        """
        self.limits.hit_cookie_operation(client.ip_address)
        session_id = None
        if refresh_token:
            try:
                session_id, _ = self.sessions.parse(refresh_token)
            except RefreshTokenInvalid:
                session_id = None
        if session_id is None and access_token:
            try:
                session_id = self.tokens.verify(access_token)["sid"]
            except Unauthenticated:
                session_id = None
        if session_id is None:
            return False

        owner = self.sessions.revoke(session_id)
        if owner is None:
            return False
        self.events.record("logout", user_id=owner, session_id=session_id,
                           **_where(client))
        return True

    def authenticate(self, access_token: str | None) -> Caller:
        """The caller behind a bearer token of a live session (rule 4).

        While Redis is unreachable the session cannot be checked, and the
        token is taken on its signature and expiry alone (rule 5): the
        caller comes back with ``session_checked=False`` and its user read
        from the user store. That is what every other service verifying
        through the JWKS does anyway, and no token can be issued meanwhile,
        so a revoked session's token gains nothing it had not already: at
        most ``ACCESS_TOKEN_TTL``. Whatever needs the session itself refuses
        such a caller with ``SERVICE_UNAVAILABLE``.

        :raises Unauthenticated: no valid token, or its session is over.
        """
        if not access_token:
            raise Unauthenticated("missing")
        claims = self.tokens.verify(access_token)
        try:
            user = self.sessions.user_of(claims["sid"], claims["sub"])
        except RedisError as err:
            if not unavailable(err):
                raise
            return self._unchecked(claims, err)
        if user is None:
            raise Unauthenticated("session revoked")
        return Caller(claims, user)

    def _unchecked(self, claims: AccessClaims, err: RedisError) -> Caller:
        record = self.users.get(claims["sub"])
        if record is None:
            raise Unauthenticated("unknown user")
        logger.warning("redis unavailable (%s): session %s of user %s verified "
                       "by signature only", err.__class__.__name__, claims["sid"],
                       claims["sub"])
        return Caller(claims, session_user(record), session_checked=False)

    def logout_all(self, caller: Caller, client: Client) -> int:
        _require_session(caller)
        count = self.sessions.revoke_user(caller.user.id)
        self.events.record("logout_all", user_id=caller.user.id,
                           session_id=caller.session_id, **_where(client), count=count)
        return count

    def revoke_session(self, caller: Caller, session_id: str, client: Client) -> bool:
        """Revoke one session of the caller; admins may revoke anyone's.

        :raises BadUserInput: the id is malformed.
        :raises Forbidden: a non-admin named another user's session.
        """
        if not SESSION_ID.match(session_id):
            raise BadUserInput("Invalid session id.")
        _require_session(caller)
        owner_filter = None if caller.is_admin else caller.user.id
        owner = self.sessions.revoke(session_id, owner=owner_filter)
        if owner is None:
            return False
        if owner_filter is not None and owner != owner_filter:
            raise Forbidden()
        self.events.record("session_revoked", user_id=owner, session_id=session_id,
                           **_where(client), by=caller.user.id)
        return True

    def list_sessions(self, caller: Caller) -> list[SessionInfo]:
        _require_session(caller)
        return self.sessions.list_user(caller.user.id)

    def _start(self, user: User | Account, client: Client) -> Grant:
        rotation = self.sessions.create(
            session_user(user), client.user_agent, client.ip_address
        )
        for ended in rotation.ended:
            self.events.record("session_revoked", user_id=user.id, session_id=ended,
                               **_where(client), reason="session limit")
        access_token, ttl = self.tokens.issue(user.id, rotation.session_id)
        return Grant(access_token, ttl, rotation)


def _require_session(caller: Caller) -> None:
    """Refuse what a caller whose session went unchecked must not do.

    Redis was just out of reach; asking it again would cost a second timeout
    for the same answer.
    """
    if not caller.session_checked:
        raise ServiceUnavailable("redis")


def _where(client: Client) -> dict[str, str | None]:
    return {"ip_address": client.ip_address, "user_agent": client.user_agent}


def _loggable_email(email: str) -> str:
    """The address of a failed login, or a placeholder if it is not one.

    Users type passwords into the e-mail field; such text must reach neither
    the log nor the event stream.
    """
    try:
        return normalize_email(email)
    except BadUserInput:
        return "(not an e-mail address)"
