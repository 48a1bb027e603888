"""One error tree: every refusal the service can give, with its public code.

Services raise these; the GraphQL layer maps them to ``extensions.code`` in
one place (:mod:`app.graphql.errors`). Each error keeps its evidence as
attributes for logs and events, never in its public message.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error a client may see; ``code`` is its contract code."""

    code = "INTERNAL_SERVER_ERROR"
    message = "Internal server error."
    status = 200

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message

    def extensions(self) -> dict[str, object]:
        return {"code": self.code}


class BadUserInput(ServiceError):
    code = "BAD_USER_INPUT"
    message = "Invalid input."


class EmailTaken(ServiceError):
    code = "EMAIL_TAKEN"
    message = "This e-mail address is already registered."


class InvalidCredentials(ServiceError):
    code = "INVALID_CREDENTIALS"
    message = "Invalid e-mail or password."


class Unauthenticated(ServiceError):
    code = "UNAUTHENTICATED"
    message = "Authentication required."

    def __init__(self, reason: str = "missing") -> None:
        super().__init__()
        #: Why the token was refused; for logs only (RFC 6750 keeps it vague).
        self.reason = reason


class Forbidden(ServiceError):
    code = "FORBIDDEN"
    message = "Not allowed."


class RefreshTokenMissing(ServiceError):
    code = "REFRESH_TOKEN_MISSING"
    message = "No refresh token."


class RefreshTokenInvalid(ServiceError):
    code = "REFRESH_TOKEN_INVALID"
    message = "The refresh token is not valid."

    def __init__(self, reason: str = "unknown", session_id: str | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.session_id = session_id


class RefreshTokenReused(ServiceError):
    code = "REFRESH_TOKEN_REUSED"
    message = "This refresh token was already used; the session has been closed."

    def __init__(
        self,
        session_id: str,
        user_id: str,
        presented_generation: int,
        current_generation: int | None,
        session_user_agent: str | None = None,
        session_ip: str | None = None,
    ) -> None:
        super().__init__()
        self.session_id = session_id
        self.user_id = user_id
        self.presented_generation = presented_generation
        #: ``None`` when the session had already been closed for reuse.
        self.current_generation = current_generation
        #: Where the session was last used from, beside the presenter's own.
        self.session_user_agent = session_user_agent
        self.session_ip = session_ip


class RateLimited(ServiceError):
    code = "RATE_LIMITED"
    message = "Too many attempts; try again later."

    def __init__(self, retry_after: int) -> None:
        super().__init__()
        self.retry_after = max(1, retry_after)

    def extensions(self) -> dict[str, object]:
        return {"code": self.code, "retryAfter": self.retry_after}


class ServiceUnavailable(ServiceError):
    code = "SERVICE_UNAVAILABLE"
    message = "The service is temporarily unavailable."

    def __init__(self, component: str) -> None:
        super().__init__()
        #: ``"redis"`` or ``"database"``.
        self.component = component


class RequestRefused(ServiceError):
    """A request refused before execution; carries its HTTP status."""

    code = "BAD_REQUEST"
    message = "Bad request."

    def __init__(
        self, message: str, status: int = 400, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        if code:
            self.code = code


class CsrfCheckFailed(RequestRefused):
    def __init__(self) -> None:
        super().__init__("Origin not allowed.", 403, "CSRF_CHECK_FAILED")


class NotFound(ServiceError):
    """An administrator named a user, session or key that does not exist."""

    code = "NOT_FOUND"
    message = "Not found."
