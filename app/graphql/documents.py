"""Parsing, validating and limiting GraphQL documents, with a cache.

A document is checked cheapest step first, so that no costly step ever sees
an input the cheaper ones would refuse:

1. its size in bytes (``GRAPHQL_MAX_BYTES``);
2. parsing, with a cap on lexical tokens and comments (:data:`MAX_TOKENS`);
3. its shape, in one linear walk: the number of fields written
   (:data:`MAX_FIELDS`), the depth (``GRAPHQL_MAX_DEPTH``), the aliases
   (``GRAPHQL_MAX_ALIASES``) and introspection outside debug mode;
4. the standard validation rules, whose overlapping-fields rule costs time
   quadratic in the number of fields, hence step 3 first;
5. at most one operation on the refresh cookie per request.

Step 3 runs before validation, so it meets unknown and circular fragments:
each fragment is measured once (a fragment spread a thousand times is not
walked a thousand times), an unknown one counts as empty and a cycle stops
where it closes; validation then refuses both. (graphene's own depth
validator crashes on an unknown fragment; graphene issue 1538.)

A document that passes is kept in an LRU cache keyed by its text, so each
worker parses and validates the SPA's few documents once.
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

#: Lexical tokens the parser reads before giving up: bounds parser work.
MAX_TOKENS = 2000
#: Comments the parser keeps before giving up.
MAX_COMMENTS = 100
#: Fields one document may write. Validation compares fields pairwise, so
#: this bounds its cost; the SPA's largest document writes a dozen.
MAX_FIELDS = 100
#: The depth allowed to an operation that only introspects, in debug mode:
#: graphql-core's standard introspection query nests 15 levels, and some
#: tools unwrap a few more ``ofType`` levels.
INTROSPECTION_MAX_DEPTH = 20

_INTROSPECTION = frozenset({"__schema", "__type"})
_META = _INTROSPECTION | {"__typename"}


@dataclass(frozen=True)
class Limits:
    max_depth: int
    max_aliases: int
    max_bytes: int
    #: Debug mode: introspection allowed and validation suggests names.
    introspection: bool


@dataclass(frozen=True)
class Prepared:
    """A parsed, validated document and what the HTTP layer needs to know."""

    document: DocumentNode
    #: Per operation name (``None`` for an anonymous one): its type and the
    #: root field that reads or sets the refresh cookie, if it selects one.
    operations: dict[str | None, tuple[OperationType, str | None]]


class DocumentCache:
    """Prepares documents once per worker.

    :param size: how many distinct documents to keep.
    """

    def __init__(self, schema: GraphQLSchema, limits: Limits, size: int = 512) -> None:
        self.schema = schema
        self.limits = limits
        self.prepare = lru_cache(maxsize=size)(self._prepare)

    def _prepare(self, query: str) -> Prepared:
        """Check ``query`` and say what its operations are.

        :raises RequestRefused: with the status and code to answer; refusals
            are not cached.
        """
        if len(query.encode()) > self.limits.max_bytes:
            raise RequestRefused("Document is too large.", 413, "DOCUMENT_TOO_LARGE")
        try:
            document = parse(query, max_lexical_tokens=MAX_TOKENS,
                             max_comments=MAX_COMMENTS)
        except GraphQLError as err:
            # Also "nested too deeply": graphql-core turns its RecursionError
            # into a syntax error.
            raise RequestRefused(err.message, 400, "GRAPHQL_PARSE_FAILED") from None

        try:
            operations = _Shape(document, self.limits).check()
        except RecursionError:
            raise RequestRefused("Document is nested too deeply.", 400,
                                 "QUERY_TOO_DEEP") from None

        errors = validate(self.schema, document, max_errors=5,
                          hide_suggestions=not self.limits.introspection)
        if errors:
            raise RequestRefused(errors[0].message, 400, "GRAPHQL_VALIDATION_FAILED")

        prepared: dict[str | None, tuple[OperationType, str | None]] = {}
        for operation in operations:
            cookie_fields = [name for name in _root_fields(operation, document)
                             if name in COOKIE_FIELDS]
            if len(cookie_fields) > 1:
                # One cookie operation per request: aliases must not multiply
                # login attempts or rotations (CONTRACT.md, LOGIN_RATE_LIMIT).
                raise RequestRefused("At most one cookie operation per request.",
                                     400, "GRAPHQL_VALIDATION_FAILED")
            name = operation.name.value if operation.name else None
            prepared[name] = (operation.operation,
                              cookie_fields[0] if cookie_fields else None)
        return Prepared(document, prepared)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class _Shape:
    """Fields, depth, aliases and introspection of a parsed document."""

    def __init__(self, document: DocumentNode, limits: Limits) -> None:
        self.document = document
        self.limits = limits
        self.fragments = _fragments(document)
        #: Per fragment: the depth and the aliases it adds where spread.
        self._measured: dict[str, tuple[int, int]] = {}
        self._open: set[str] = set()

    def check(self) -> list[OperationDefinitionNode]:
        """:raises RequestRefused: a limit is exceeded."""
        self._count_fields()
        operations = [d for d in self.document.definitions
                      if isinstance(d, OperationDefinitionNode)]
        aliases = 0
        for operation in operations:
            depth, added = self._measure(operation.selection_set)
            limit = self.limits.max_depth
            if self.limits.introspection and _introspects_only(operation):
                limit = max(limit, INTROSPECTION_MAX_DEPTH)
            if depth > limit:
                raise RequestRefused(f"Query depth {depth} exceeds {limit}.",
                                     400, "QUERY_TOO_DEEP")
            aliases += added
        if aliases > self.limits.max_aliases:
            raise RequestRefused(
                f"{aliases} aliases exceed {self.limits.max_aliases}.",
                400, "TOO_MANY_ALIASES",
            )
        return operations

    def _count_fields(self) -> None:
        """Count every field written, fragments included, without recursion."""
        fields = 0
        pending = [d.selection_set for d in self.document.definitions
                   if isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))]
        while pending:
            for node in pending.pop().selections:
                if isinstance(node, FieldNode):
                    fields += 1
                    if (node.name.value in _INTROSPECTION
                            and not self.limits.introspection):
                        raise RequestRefused("Introspection is disabled.", 400,
                                             "INTROSPECTION_DISABLED")
                if isinstance(node, (FieldNode, InlineFragmentNode)) \
                        and node.selection_set is not None:
                    pending.append(node.selection_set)
        if fields > MAX_FIELDS:
            raise RequestRefused(f"{fields} fields exceed {MAX_FIELDS}.", 400,
                                 "TOO_MANY_FIELDS")

    def _measure(self, selections: SelectionSetNode) -> tuple[int, int]:
        """The depth below ``selections`` and the aliases it expands to."""
        deepest = 0
        aliases = 0
        for node in selections.selections:
            if isinstance(node, FieldNode):
                below, added = (self._measure(node.selection_set)
                                if node.selection_set else (0, 0))
                deepest = max(deepest, below + 1)
                aliases += added + (node.alias is not None)
            elif isinstance(node, InlineFragmentNode):
                below, added = self._measure(node.selection_set)
                deepest = max(deepest, below)
                aliases += added
            elif isinstance(node, FragmentSpreadNode):
                below, added = self._spread(node.name.value)
                deepest = max(deepest, below)
                aliases += added
        return deepest, aliases

    def _spread(self, name: str) -> tuple[int, int]:
        measured = self._measured.get(name)
        if measured is not None:
            return measured
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0, 0  # unknown or circular: validation refuses it
        self._open.add(name)
        measured = self._measure(fragment.selection_set)
        self._open.discard(name)
        self._measured[name] = measured
        return measured


def _introspects_only(operation: OperationDefinitionNode) -> bool:
    return all(isinstance(node, FieldNode) and node.name.value in _META
               for node in operation.selection_set.selections)


def _root_fields(operation: OperationDefinitionNode,
                 document: DocumentNode) -> list[str]:
    """Names of the root fields an operation selects, through fragments."""
    fragments = _fragments(document)
    names: list[str] = []
    pending = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for node in pending.pop().selections:
            if isinstance(node, FieldNode):
                names.append(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                seen.add(node.name.value)
                pending.append(fragments[node.name.value].selection_set)
    return names
