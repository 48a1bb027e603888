"""Parsing, validating and limiting GraphQL documents, with a cache.

A document is parsed once and validated once per worker: the result is kept
in an LRU cache keyed by its text. Limits run after the standard rules, so
unknown and circular fragments are already refused by then (graphene's own
depth validator crashes on an unknown fragment; this one never sees one).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    validate,
)

from ..errors import RequestRefused
from .schema import COOKIE_FIELDS

#: Tokens the lexer reads before giving up; bounds parser work per request.
MAX_TOKENS = 2000
_INTROSPECTION = frozenset({"__schema", "__type"})


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_bytes: int
    introspection: bool


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document and what the HTTP layer needs to know."""

    document: DocumentNode
    #: Per operation name (``None`` for an anonymous one): its type and
    #: whether it touches the refresh cookie.
    operations: dict[str | None, tuple[OperationType, bool]]


class DocumentCache:
    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 512) -> None:
        self.schema = schema
        self.limits = limits
        self.prepare = lru_cache(maxsize=size)(self._prepare)

    def _prepare(self, query: str) -> Prepared:
        """:raises RequestRefused: with the status and code to answer."""
        if len(query.encode()) > self.limits.max_bytes:
            raise RequestRefused("Document is too large.", 413, "DOCUMENT_TOO_LARGE")
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as err:
            raise RequestRefused(err.message, 400, "GRAPHQL_PARSE_FAILED") from None
        except RecursionError:
            raise RequestRefused("Document is nested too deeply.", 400,
                                 "GRAPHQL_PARSE_FAILED") from None

        errors = validate(self.schema, document, max_errors=5,
                          hide_suggestions=not self.limits.introspection)
        if errors:
            raise RequestRefused(errors[0].message, 400, "GRAPHQL_VALIDATION_FAILED")

        fragments = {
            d.name.value: d for d in document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        operations: dict[str | None, tuple[OperationType, bool]] = {}
        aliases = 0
        for definition in document.definitions:
            if not isinstance(definition, OperationDefinitionNode):
                continue
            walk = _Walk(fragments, self.limits)
            depth = walk.depth(definition.selection_set, 0, frozenset())
            if depth > self.limits.max_depth:
                raise RequestRefused(
                    f"Query depth {depth} exceeds {self.limits.max_depth}.",
                    400, "QUERY_TOO_DEEP",
                )
            aliases += walk.aliases
            roots = _root_fields(definition.selection_set, fragments)
            touches_cookie = sum(1 for name in roots if name in COOKIE_FIELDS)
            if touches_cookie > 1:
                # One cookie operation per request: aliases must not multiply
                # login attempts or rotations.
                raise RequestRefused("At most one cookie operation per request.",
                                     400, "GRAPHQL_VALIDATION_FAILED")
            name = definition.name.value if definition.name else None
            operations[name] = (definition.operation, touches_cookie == 1)

        if aliases > self.limits.max_aliases:
            raise RequestRefused(
                f"{aliases} aliases exceed {self.limits.max_aliases}.",
                400, "TOO_MANY_ALIASES",
            )
        return Prepared(document, operations)


class _Walk:
    """Depth and alias count of one operation, fragments included."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode], limits: Limits):
        self.fragments = fragments
        self.limits = limits
        self.aliases = 0

    def depth(self, selections: SelectionSetNode | None, level: int,
              seen: frozenset[str]) -> int:
        if selections is None:
            return level
        deepest = level
        for node in selections.selections:
            if isinstance(node, FieldNode):
                if node.alias is not None:
                    self.aliases += 1
                if node.name.value in _INTROSPECTION and not self.limits.introspection:
                    raise RequestRefused("Introspection is disabled.", 400,
                                         "INTROSPECTION_DISABLED")
                below = node.selection_set
                deepest = max(deepest, self.depth(below, level + 1, seen)
                              if below else level + 1)
            elif isinstance(node, InlineFragmentNode):
                deepest = max(deepest, self.depth(node.selection_set, level, seen))
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                if name in seen:  # validation refuses cycles; stay safe anyway
                    continue
                fragment = self.fragments[name]
                deepest = max(deepest, self.depth(fragment.selection_set, level,
                                                  seen | {name}))
        return deepest


def _root_fields(selections: SelectionSetNode,
                 fragments: dict[str, FragmentDefinitionNode]) -> list[str]:
    names: list[str] = []
    for node in selections.selections:
        if isinstance(node, FieldNode):
            names.append(node.name.value)
        elif isinstance(node, InlineFragmentNode):
            names.extend(_root_fields(node.selection_set, fragments))
        elif isinstance(node, FragmentSpreadNode):
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                names.extend(_root_fields(fragment.selection_set, fragments))
    return names
