"""The one place where exceptions become GraphQL errors.

Service errors keep their message and code. Redis and database outages
become ``SERVICE_UNAVAILABLE``. Anything else is logged once with its
traceback and reaches the client as ``INTERNAL_SERVER_ERROR`` with no
detail: no exception text, SQL, file path or connection URL ever leaves the
server (CONTRACT.md, "Errors").
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, OperationalError

from ..errors import BadUserInput, RequestRefused, ServiceError, ServiceUnavailable
from ..redis_client import unavailable

logger = logging.getLogger(__name__)

def service_error(err: BaseException) -> ServiceError | None:
    """The public error for ``err``, or ``None`` when it is unexpected."""
    if isinstance(err, ServiceError):
        return err
    if unavailable(err):
        return ServiceUnavailable("redis")
    if isinstance(err, OperationalError) or (
        isinstance(err, DBAPIError) and err.connection_invalidated
    ):
        return ServiceUnavailable("database")
    return None


def public_error(err: BaseException, where: object) -> ServiceError:
    """What the client may see of ``err``; logs what it may not.

    :param where: names the failing place in the log line (a field path).
    """
    mapped = service_error(err)
    if mapped is None:
        logger.error("unhandled error in %s", where, exc_info=err)
        return ServiceError()
    if isinstance(mapped, ServiceUnavailable):
        # The class name only: a message could carry a URL or credentials.
        logger.warning("%s unavailable: %s", mapped.component,
                       err.__class__.__name__)
    return mapped


def format_error(error: GraphQLError) -> dict[str, Any]:
    """Shape one error of an execution result for the response body."""
    original = error.original_error
    public: ServiceError
    if error.path is None:
        # A request error: a variable graphql-core could not coerce. Its own
        # messages speak of the client's input only; another exception's
        # might not.
        own = original is None or isinstance(original, GraphQLError)
        public = BadUserInput(error.message if own else "Invalid variable value.")
    elif original is not None:
        public = public_error(original, error.path)
    else:
        # Raised while completing a field: a bug of ours, and the message
        # may quote the value (a token), so neither the client nor the log
        # gets it.
        logger.error("invalid result at %s", error.path)
        public = ServiceError()

    shaped = shape_error(public)
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column}
                               for loc in error.locations]
    if error.path is not None:
        shaped["path"] = list(error.path)
    return shaped


def shape_error(public: ServiceError) -> dict[str, Any]:
    """One error object: the message and ``extensions.code`` only."""
    return {"message": public.message, "extensions": public.extensions()}


def refusal(err: RequestRefused) -> dict[str, Any]:
    """The body of a request refused before execution."""
    return {"errors": [shape_error(err)]}
