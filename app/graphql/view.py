"""``POST /graphql``: the HTTP side of the API.

Everything a browser can abuse is decided here, before execution: the
content type (only ``application/json``, since text/plain, form and
multipart bodies are what a cross-site form can send), the body size and
nesting, batches, mutations over GET, and the ``Origin`` of any operation
that reads or sets the refresh cookie (CONTRACT.md, "Errors").
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from graphql import ExecutionResult, GraphQLError, OperationType, execute

from ..auth import Auth, Caller, Client, Grant
from ..errors import (
    CsrfCheckFailed,
    RefreshTokenInvalid,
    RefreshTokenMissing,
    RefreshTokenReused,
    RequestRefused,
    ServiceError,
)
from .errors import format_error, refusal

logger = logging.getLogger(__name__)

bp = Blueprint("graphql", __name__)

GRAPHQL_PATH = "/graphql"


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


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _read_params() -> dict[str, Any]:
    if request.method == "GET":
        params: dict[str, Any] = {
            "query": request.args.get("query"),
            "operationName": request.args.get("operationName"),
        }
        variables = request.args.get("variables")
        params["variables"] = _json(variables) if variables else None
        return params

    mimetype = request.mimetype
    if mimetype != "application/json":
        raise RequestRefused("Content-Type must be application/json.", 415,
                             "UNSUPPORTED_MEDIA_TYPE")
    body = _json(request.get_data(cache=False, as_text=True))
    if isinstance(body, list):
        raise RequestRefused("Batched requests are not supported.", 400,
                             "BATCH_NOT_SUPPORTED")
    if not isinstance(body, dict):
        raise RequestRefused("Body must be a JSON object.", 400, "BAD_REQUEST")
    return body


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise RequestRefused("Body is not valid JSON.", 400, "BAD_REQUEST") from None


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


@bp.route(GRAPHQL_PATH, methods=["GET", "POST"])
def graphql_endpoint() -> Response:
    state = current_app.extensions["token_service"]
    try:
        params = _read_params()
        query, variables, operation_name = _check_params(params)
        prepared = state.documents.prepare(query)

        operation = prepared.operations.get(operation_name)
        if operation is None and operation_name is None and len(prepared.operations) == 1:
            operation = next(iter(prepared.operations.values()))
        if operation is None:
            raise RequestRefused("Unknown or ambiguous operation.", 400, "BAD_REQUEST")
        kind, touches_cookie = operation

        if request.method == "GET" and kind != OperationType.QUERY:
            raise RequestRefused("Mutations need POST.", 405, "METHOD_NOT_ALLOWED")
        if touches_cookie:
            if request.headers.get("Origin") not in state.settings.cors_origins:
                raise CsrfCheckFailed()
            state.auth.limits.hit_cookie_operation(request.remote_addr)
    except RequestRefused as err:
        return _respond(refusal(err), err.status)
    except ServiceError as err:
        return _respond({"errors": [format_error(GraphQLError(err.message,
                                                              original_error=err))]})

    context = RequestContext(
        auth=state.auth,
        client=Client(request.remote_addr, request.headers.get("User-Agent")),
        bearer=_bearer(),
        raw_refresh_cookie=request.cookies.get(state.settings.refresh_cookie_name),
    )
    result = execute(state.schema, prepared.document, context_value=context,
                     variable_values=variables, operation_name=operation_name)
    if not isinstance(result, ExecutionResult):  # pragma: no cover
        raise TypeError("resolvers must be synchronous")

    status, body = _shape(result)
    response = _respond(body, status)
    _apply_cookie(response, context, result)
    return response


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


def _apply_cookie(response: Response, context: RequestContext,
                  result: ExecutionResult) -> None:
    cookie = context.cookie
    if cookie is None:
        for error in result.errors or ():
            if isinstance(error.original_error, (RefreshTokenInvalid,
                                                 RefreshTokenReused)):
                cookie = False  # a dead cookie is of no use to its holder
    if cookie is None:
        return
    state = current_app.extensions["token_service"]
    if isinstance(cookie, Grant):
        state.cookies.set(response, cookie.refresh.token, cookie.refresh.max_age)
    else:
        state.cookies.clear(response)


def _respond(body: dict[str, Any], status: int = 200) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status,
                        mimetype="application/json")
    # Token responses must not be cached (RFC 6749 section 5.1).
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
