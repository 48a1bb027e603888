"""The service's parts, wired once per application.

Built by :func:`app.create_app`; kept in ``app.extensions["token_service"]``
and used by the GraphQL view, the health endpoints and the CLI alike. Redis is
connected on first use, so building the app connects to nothing.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .access_tokens import AccessTokens
from .admin import Admin
from .auth import Auth
from .clock import Clock
from .config import Settings
from .cookies import RefreshCookie
from .events import EventLog
from .graphql.documents import DocumentCache, Limits
from .graphql.schema import schema
from .graphql.view import GRAPHQL_PATH
from .keys import KeyRing
from .origins import AllowedOrigins
from .rate_limits import RateLimits
from .redis_client import connect
from .server_secrets import REFRESH_MAC, SecretStore
from .sessions import SessionStore
from .users import Argon2Parameters, Users


class TokenService:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self.keys = KeyRing(settings, clock)
        self.secrets = SecretStore()
        self.tokens = AccessTokens(settings, self.keys, clock)
        self.users = Users(Argon2Parameters(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_cost,
            parallelism=settings.argon2_parallelism,
        ))
        self.cookies = RefreshCookie(settings, GRAPHQL_PATH)
        #: The one origin rule of the CORS headers and the CSRF check.
        self.origins = AllowedOrigins(settings.cors_origins)
        self.schema = schema.graphql_schema
        self.documents = DocumentCache(self.schema, Limits(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_bytes=settings.graphql_max_bytes,
            introspection=settings.debug,
        ))

    @cached_property
    def redis(self) -> Any:
        return connect(self.settings)

    @cached_property
    def sessions(self) -> SessionStore:
        return SessionStore(self.redis, self.settings, self.clock,
                            lambda: self.secrets.get(REFRESH_MAC))

    @cached_property
    def events(self) -> EventLog:
        return EventLog(self.redis, self.clock, self.settings.events_max)

    @cached_property
    def limits(self) -> RateLimits:
        return RateLimits(self.redis, self.clock,
                          login=self.settings.login_rate_limit,
                          register=self.settings.register_rate_limit)

    @cached_property
    def auth(self) -> Auth:
        return Auth(self.users, self.sessions, self.tokens, self.events, self.limits)

    def admin(self, actor: str) -> Admin:
        """The operations of an operator, recorded as done by ``actor``."""
        return Admin(self.users, self.sessions, self.keys, self.events, actor)
