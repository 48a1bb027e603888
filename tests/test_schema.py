"""The schema's resolvers stay synchronous: the HTTP layer never awaits."""

from __future__ import annotations

import pytest
from graphql import build_schema

from app.graphql.schema import require_synchronous, schema


def test_the_service_schema_is_synchronous() -> None:
    require_synchronous(schema.graphql_schema)


def test_an_asynchronous_resolver_is_refused() -> None:
    built = build_schema("type Query { me: String }")

    async def resolve_me(root: object, info: object) -> str:
        return "me"

    built.query_type.fields["me"].resolve = resolve_me  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="Query.me"):
        require_synchronous(built)
