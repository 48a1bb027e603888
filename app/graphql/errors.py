"""The one place where exceptions become GraphQL errors.

Service errors keep their message and code. Redis and database outages
become ``SERVICE_UNAVAILABLE``. Anything else is logged once with its
traceback and reaches the client as ``INTERNAL_SERVER_ERROR`` with no detail.
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from ..errors import RequestRefused, ServiceError, ServiceUnavailable

logger = logging.getLogger(__name__)

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)


def service_error(err: BaseException) -> ServiceError | None:
    """The public error for ``err``, or ``None`` when it is unexpected."""
    if isinstance(err, ServiceError):
        return err
    if isinstance(err, _REDIS_DOWN) or _redis_cluster_down(err):
        return ServiceUnavailable("redis")
    if isinstance(err, OperationalError) or (
        isinstance(err, DBAPIError) and err.connection_invalidated
    ):
        return ServiceUnavailable("database")
    return None


def _redis_cluster_down(err: BaseException) -> bool:
    from redis.exceptions import ClusterDownError, ClusterError

    return isinstance(err, (ClusterDownError, ClusterError))


def format_error(error: GraphQLError) -> dict[str, Any]:
    """Shape one execution error for the response body."""
    original = error.original_error
    if original is None:
        # graphql-core's own messages (e.g. a bad variable) name no internals.
        public: ServiceError = ServiceError(error.message)
        public.code = "BAD_USER_INPUT"
    else:
        mapped = service_error(original)
        if mapped is None:
            logger.error("unhandled error in %s", error.path, exc_info=original)
            public = ServiceError()
        else:
            if isinstance(mapped, ServiceUnavailable):
                logger.warning("%s unavailable: %s", mapped.component,
                               original.__class__.__name__)
            public = mapped

    shaped: dict[str, Any] = {"message": public.message}
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column}
                               for loc in error.locations]
    if error.path is not None:
        shaped["path"] = list(error.path)
    shaped["extensions"] = public.extensions()
    return shaped


def refusal(err: RequestRefused) -> dict[str, Any]:
    """The body of a request refused before execution."""
    return {"errors": [{"message": err.message, "extensions": {"code": err.code}}]}
