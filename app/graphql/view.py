"""``/graphql``: the HTTP side of the API.

Everything a browser can abuse is decided here, before execution
(CONTRACT.md, "Errors"):

- only ``application/json`` bodies run: text/plain, form and multipart
  bodies are what a cross-site form or a preflight-free fetch can send;
- GET runs queries only, never a mutation;
- a batch (a JSON array) is refused, so one request is one operation;
- the body's size and JSON nesting are bounded, the document's limits are
  checked by :mod:`app.graphql.documents`;
- an operation that reads or sets the refresh cookie needs an allowed
  ``Origin`` (403 ``CSRF_CHECK_FAILED``).

The endpoint is a WSGI application of its own, :class:`GraphQLEndpoint`,
placed in front of Flask's: it needs nothing of Flask's request cycle (no
routing, no session, no template, no error page), and that cycle cost
about 14 % of a refresh's instructions. Flask serves every other path.

The rate limits of :mod:`app.rate_limits`, the cookie operations ceiling
among them, are counted by the operations themselves (:mod:`app.auth`), in
one Redis call with the operation's own window.

GraphiQL is not served, in debug mode either: it would load its code from a
CDN at run time. Debug mode allows introspection, which any GraphQL client
on the developer's machine can use.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from flask import Flask
from graphql import ExecutionResult, OperationType, execute
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_cookie
from werkzeug.wrappers import Request, Response

from .. import security_headers
from ..auth import Auth, Caller, Client, Grant
from ..errors import (
    CsrfCheckFailed,
    RefreshTokenInvalid,
    RefreshTokenMissing,
    RefreshTokenReused,
    RequestRefused,
    ServiceError,
)
from .documents import Prepared
from .errors import format_error, public_error, refusal, shape_error

if TYPE_CHECKING:
    from ..cors import Cors
    from ..service import TokenService

logger = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"

#: The methods the endpoint answers; the others get 405 with these.
ALLOWED_METHODS = "GET, HEAD, OPTIONS, POST"
_RUN = frozenset(("GET", "HEAD", "POST"))

StartResponse = Callable[..., Any]


class GraphQLEndpoint:
    """Answers every request to :data:`GRAPHQL_PATH`; passes the rest on.

    Each request runs in an application context of ``app``: the user store
    and the key ring reach the database through Flask-SQLAlchemy, which
    ties its session to that context and closes it when the context ends.
    A request that fails outside execution is logged and answered 500 in
    the JSON error shape, never with an HTML page.

    :param app: the application; its WSGI callable serves every other path.
    :param cors: which pages may read the endpoint's answers.
    :param max_content_length: the largest body read, in bytes (413 above).
    """

    def __init__(self, app: Flask, cors: Cors, max_content_length: int) -> None:
        self.app = app
        self.others = app.wsgi_app
        self.state: TokenService = app.extensions["token_service"]
        self.cors = cors
        self.request_class = type("ApiRequest", (Request,),
                                  {"max_content_length": max_content_length})

    def __call__(self, environ: dict[str, Any],
                 start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != GRAPHQL_PATH:
            return self.others(environ, start_response)  # type: ignore[no-any-return]
        req = self.request_class(environ)
        with self.app.app_context():
            response = self._answer(req)
        security_headers.add(response, req.is_secure)
        self.cors.add(req, response)
        return response(environ, start_response)

    def _answer(self, req: Request) -> Response:
        method = req.method
        if method in _RUN:
            try:
                return handle(self.state, req)
            except Exception:
                logger.exception("Exception on %s [%s]", GRAPHQL_PATH, method)
                return _respond(refusal(RequestRefused(
                    "Internal server error.", 500, "INTERNAL_SERVER_ERROR")), 500)
        if method == "OPTIONS":
            # A CORS preflight: the headers it asks for are added by
            # :meth:`Cors.add`.
            return ApiResponse(b"", 200, direct_passthrough=True, headers=[
                ("Allow", ALLOWED_METHODS), ("Content-Length", "0")])
        response = _respond(refusal(RequestRefused(
            "Method Not Allowed.", 405, "METHOD_NOT_ALLOWED")), 405)
        response.headers["Allow"] = ALLOWED_METHODS
        return response


class RequestContext:
    """What resolvers may know of the request, and the cookie they want sent."""

    def __init__(self, auth: Auth, client: Client, bearer: str | None,
                 raw_refresh_cookie: str | None) -> None:
        self.auth = auth
        self.client = client
        self.bearer = bearer
        self.raw_refresh_cookie = raw_refresh_cookie
        #: ``None``: leave the cookie; a Grant: set it; ``False``: expire it.
        self.cookie: Grant | bool | None = None
        self._caller: Caller | None = None

    def caller(self) -> Caller:
        """The authenticated caller; checked once per request."""
        if self._caller is None:
            self._caller = self.auth.authenticate(self.bearer)
        return self._caller

    def refresh_cookie(self) -> str:
        if not self.raw_refresh_cookie:
            raise RefreshTokenMissing()
        return self.raw_refresh_cookie

    def grant(self, grant: Grant) -> Grant:
        self.cookie = grant
        return grant

    def clear_cookie(self) -> None:
        self.cookie = False


def _bearer(req: Request) -> str | None:
    header: str = req.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _read_params(req: Request) -> dict[str, Any]:
    if req.method != "POST":
        # GET (and HEAD): the query string only; the caller refuses mutations.
        params: dict[str, Any] = {
            "query": req.args.get("query"),
            "operationName": req.args.get("operationName"),
        }
        variables = req.args.get("variables")
        params["variables"] = _json(variables) if variables else None
        return params

    # text/plain, form and multipart bodies are what a cross-site <form> or a
    # "simple" fetch can send without a CORS preflight: never execute them.
    if req.mimetype != "application/json":
        raise RequestRefused("Content-Type must be application/json.", 415,
                             "UNSUPPORTED_MEDIA_TYPE")
    try:
        text = req.get_data(cache=False, as_text=True)
    except RequestEntityTooLarge:
        raise RequestRefused("Body is too large.", 413, "DOCUMENT_TOO_LARGE") from None
    body = _json(text)
    if isinstance(body, list):
        # One request, one operation: a batch would multiply login attempts.
        raise RequestRefused("Batched requests are not supported.", 400,
                             "BATCH_NOT_SUPPORTED")
    if not isinstance(body, dict):
        raise RequestRefused("Body must be a JSON object.", 400, "BAD_REQUEST")
    return body


def _json(text: str) -> Any:
    try:
        value = json.loads(text)
        # JSON may escape half of a UTF-16 surrogate pair ("\ud800"), which
        # decodes to a string that no UTF-8 encoder, hasher or database
        # takes; only a body with an escape can hold one.
        unpaired = "\\u" in text and _unpaired_surrogate(value)
    except (ValueError, RecursionError):
        # RecursionError: "[[[[..." nested past the interpreter's stack.
        raise RequestRefused("Body is not valid JSON.", 400, "BAD_REQUEST") from None
    if unpaired:
        raise RequestRefused("Body holds a string with an unpaired surrogate.", 400,
                             "BAD_REQUEST")
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unpaired_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_unpaired_surrogate(k) or _unpaired_surrogate(v)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(_unpaired_surrogate(item) for item in value)
    return False


def _check_params(params: dict[str, Any]) -> tuple[str, dict[str, Any] | None,
                                                   str | None]:
    query = params.get("query")
    variables = params.get("variables")
    operation_name = params.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise RequestRefused("Missing query.", 400, "BAD_REQUEST")
    if variables is not None and not isinstance(variables, dict):
        raise RequestRefused("variables must be an object.", 400, "BAD_REQUEST")
    if operation_name is not None and not isinstance(operation_name, str):
        raise RequestRefused("operationName must be a string.", 400, "BAD_REQUEST")
    return query, variables, operation_name


def _operation(prepared: Prepared,
               operation_name: str | None) -> tuple[OperationType, str | None]:
    operations = prepared.operations
    if operation_name is None and len(operations) == 1:
        return next(iter(operations.values()))
    found = operations.get(operation_name)
    if found is None:
        raise RequestRefused("Unknown or ambiguous operation.", 400, "BAD_REQUEST")
    return found


class _Admitted(NamedTuple):
    prepared: Prepared
    variables: dict[str, Any] | None
    operation_name: str | None
    #: The root field that reads or sets the refresh cookie, if any.
    cookie_field: str | None


def _admit(state: Any, req: Request) -> _Admitted:
    """Everything decided before execution.

    :raises RequestRefused: the request must not run.
    """
    query, variables, operation_name = _check_params(_read_params(req))
    prepared = state.documents.prepare(query)
    kind, cookie_field = _operation(prepared, operation_name)

    if req.method != "POST" and kind != OperationType.QUERY:
        raise RequestRefused("Mutations need POST.", 405, "METHOD_NOT_ALLOWED")
    if cookie_field:
        # CONTRACT.md: a cookie operation needs an allowed Origin. SameSite
        # keeps the cookie off cross-site requests already; this also stops
        # a sibling subdomain (same site) and old browsers.
        if not state.origins.allows(req.environ.get("HTTP_ORIGIN")):
            raise CsrfCheckFailed()
    return _Admitted(prepared, variables, operation_name, cookie_field)


def handle(state: TokenService, req: Request) -> Response:
    """Admit one operation, run it, and set or clear the refresh cookie."""
    try:
        admitted = _admit(state, req)
        # Built on first use: a cluster client maps the slots as it is
        # made, and fails here while no node answers.
        auth = state.auth
    except RequestRefused as err:
        return _respond(refusal(err), err.status)
    except Exception as err:  # Redis out of reach, or a bug: masked either way
        public = public_error(err, "request admission")
        status = 500 if public.code == ServiceError.code else 200
        return _respond({"errors": [shape_error(public)]}, status)

    # Only the cookie operations read the refresh cookie; no other
    # operation parses the Cookie header. Parsed from the environ: the
    # request's ``cookies`` finds the header by a scan of every key in it.
    raw_refresh_cookie = (
        parse_cookie(req.environ).get(state.settings.refresh_cookie_name)
        if admitted.cookie_field else None
    )
    context = RequestContext(
        auth=auth,
        client=Client(req.remote_addr, req.environ.get("HTTP_USER_AGENT")),
        bearer=_bearer(req),
        raw_refresh_cookie=raw_refresh_cookie,
    )
    result = execute(state.schema, admitted.prepared.document, context_value=context,
                     variable_values=admitted.variables,
                     operation_name=admitted.operation_name,
                     is_awaitable=_never_awaitable)
    if not isinstance(result, ExecutionResult):  # pragma: no cover
        raise TypeError("resolvers must be synchronous")

    status, body = _shape(result)
    response = _respond(body, status)
    _apply_cookie(state, response, context, result)
    return response


def _never_awaitable(value: object) -> bool:
    """No value needs awaiting: :func:`app.graphql.schema.require_synchronous`
    refuses a schema with an asynchronous resolver. graphql-core's own test
    runs for every field of every answer."""
    return False


def _shape(result: ExecutionResult) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {}
    errors = [format_error(e) for e in result.errors or ()]
    if result.data is None and errors and all(e.get("path") is None for e in errors):
        # Variable coercion failed: refused before execution.
        return 400, {"errors": errors}
    if errors:
        body["errors"] = errors
    body["data"] = result.data
    return 200, body


def _apply_cookie(state: Any, response: Response, context: RequestContext,
                  result: ExecutionResult) -> None:
    cookie = context.cookie
    if cookie is None:
        for error in result.errors or ():
            if isinstance(error.original_error, (RefreshTokenInvalid,
                                                 RefreshTokenReused)):
                cookie = False  # a dead cookie is of no use to its holder
    if cookie is None:
        return
    if isinstance(cookie, Grant):
        state.cookies.set(response, cookie.refresh.token, cookie.refresh.max_age)
    else:
        state.cookies.clear(response)


class ApiResponse(Response):
    """A JSON answer of the endpoint, which werkzeug has nothing to fix in.

    Its body is bytes whose length is set, it never redirects, and its
    status is never 1xx, 204 or 304: the headers go out as they are,
    without the copy and scan that :meth:`get_wsgi_headers` makes for any
    response, and the body, one bytes object, goes to the server as it is
    (``direct_passthrough``), not through werkzeug's encoding iterator and
    the wrapper that closes it. Its ``Content-Length`` is written with its
    other headers, not set again (after a scan for it) by :meth:`set_data`.
    """

    automatically_set_content_length = False

    def get_wsgi_headers(self, environ: Any) -> Headers:
        status = self.status_code
        # One pass over the names: ``"Location" in headers`` raises and
        # catches an exception for each header that is absent.
        if status < 200 or status in (204, 304) or any(
                name.lower() in _LOCATIONS for name, _ in self.headers):
            return super().get_wsgi_headers(environ)
        return self.headers


_LOCATIONS = frozenset(("location", "content-location"))

#: ``json.dumps`` with any option builds an encoder per call. An answer is
#: a tree built for this request: no container can hold itself.
_encode = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode


def _respond(body: dict[str, Any], status: int = 200) -> Response:
    data = _encode(body).encode()
    return ApiResponse(data, status, direct_passthrough=True, headers=[
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        # Token responses must not be cached (RFC 6749 section 5.1).
        ("Cache-Control", "no-store"),
        ("Pragma", "no-cache"),
    ])
