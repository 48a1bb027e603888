"""The GraphQL schema of CONTRACT.md; resolvers only translate.

Each resolver reads its inputs from the request context, calls one
:class:`app.auth.Auth` operation and shapes the answer. Policy lives in the
services; cookies are set by the HTTP layer from what the context records.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import graphene
from graphql import GraphQLObjectType, GraphQLSchema

from ..auth import Grant
from ..sessions import SessionInfo, SessionUser

if TYPE_CHECKING:
    from .view import RequestContext

#: Fields that read or set the refresh cookie: they need an allowed Origin.
COOKIE_FIELDS = frozenset({"registerUser", "loginUser", "refreshToken", "logout"})


def _context(info: Any) -> RequestContext:
    return cast("RequestContext", info.context)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class User(graphene.ObjectType):
    id = graphene.ID(required=True)
    email = graphene.String(required=True)
    user_type = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_created_at(user: SessionUser, info: Any) -> datetime:
        return _time(user.created_at)


class AuthPayload(graphene.ObjectType):
    access_token = graphene.String(required=True)
    token_type = graphene.String(required=True)
    expires_in = graphene.Int(required=True)
    user = graphene.Field(User, required=True)

    @staticmethod
    def resolve_access_token(grant: Grant, info: Any) -> str:
        return grant.access_token

    @staticmethod
    def resolve_token_type(grant: Grant, info: Any) -> str:
        return "Bearer"

    @staticmethod
    def resolve_expires_in(grant: Grant, info: Any) -> int:
        return grant.expires_in

    @staticmethod
    def resolve_user(grant: Grant, info: Any) -> SessionUser:
        return grant.refresh.user


class Session(graphene.ObjectType):
    id = graphene.ID(required=True)
    created_at = graphene.DateTime(required=True)
    last_used_at = graphene.DateTime(required=True)
    expires_at = graphene.DateTime(required=True)
    user_agent = graphene.String()
    ip_address = graphene.String()
    current = graphene.Boolean(required=True)

    @staticmethod
    def resolve_created_at(session: SessionInfo, info: Any) -> datetime:
        return _time(session.created_at)

    @staticmethod
    def resolve_last_used_at(session: SessionInfo, info: Any) -> datetime:
        return _time(session.last_used_at)

    @staticmethod
    def resolve_expires_at(session: SessionInfo, info: Any) -> datetime:
        return _time(session.expires_at)

    @staticmethod
    def resolve_current(session: SessionInfo, info: Any) -> bool:
        return session.id == _context(info).caller().session_id


class Query(graphene.ObjectType):
    me = graphene.Field(User, required=True)
    sessions = graphene.List(graphene.NonNull(Session), required=True)

    @staticmethod
    def resolve_me(root: None, info: Any) -> SessionUser:
        return _context(info).caller().user

    @staticmethod
    def resolve_sessions(root: None, info: Any) -> list[SessionInfo]:
        context = _context(info)
        return context.auth.list_sessions(context.caller())


class Mutation(graphene.ObjectType):
    register_user = graphene.Field(
        AuthPayload, required=True,
        email=graphene.String(required=True), password=graphene.String(required=True),
    )
    login_user = graphene.Field(
        AuthPayload, required=True,
        email=graphene.String(required=True), password=graphene.String(required=True),
    )
    refresh_token = graphene.Field(AuthPayload, required=True)
    logout = graphene.Boolean(required=True)
    logout_all = graphene.Int(required=True)
    revoke_session = graphene.Boolean(required=True, id=graphene.ID(required=True))

    @staticmethod
    def resolve_register_user(
        root: None, info: Any, email: str, password: str
    ) -> Grant:
        context = _context(info)
        return context.grant(context.auth.register(email, password, context.client))

    @staticmethod
    def resolve_login_user(root: None, info: Any, email: str, password: str) -> Grant:
        context = _context(info)
        return context.grant(context.auth.login(email, password, context.client))

    @staticmethod
    def resolve_refresh_token(root: None, info: Any) -> Grant:
        context = _context(info)
        return context.grant(context.auth.refresh(context.refresh_cookie(),
                                                  context.client))

    @staticmethod
    def resolve_logout(root: None, info: Any) -> bool:
        context = _context(info)
        revoked = context.auth.logout(context.raw_refresh_cookie, context.bearer,
                                      context.client)
        # CONTRACT.md: cleared whether or not there was a session; but not when
        # the revocation itself failed, so the user can still try again.
        context.clear_cookie()
        return revoked

    @staticmethod
    def resolve_logout_all(root: None, info: Any) -> int:
        context = _context(info)
        count = context.auth.logout_all(context.caller(), context.client)
        context.clear_cookie()
        return count

    @staticmethod
    def resolve_revoke_session(root: None, info: Any, id: str) -> bool:
        context = _context(info)
        caller = context.caller()
        revoked = context.auth.revoke_session(caller, id, context.client)
        if revoked and id == caller.session_id:
            context.clear_cookie()
        return revoked


def require_synchronous(schema: GraphQLSchema) -> GraphQLSchema:
    """Refuse a schema with a coroutine resolver.

    The HTTP layer executes without awaiting anything, which holds only
    while every resolver returns its value.

    :raises TypeError: naming the first asynchronous resolver found.
    """
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType):
            continue
        for name, field in type_.fields.items():
            resolve = field.resolve
            if resolve is not None and (inspect.iscoroutinefunction(resolve)
                                        or inspect.isasyncgenfunction(resolve)):
                raise TypeError(f"{type_.name}.{name} has an asynchronous resolver")
    return schema


schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=True)
require_synchronous(schema.graphql_schema)
