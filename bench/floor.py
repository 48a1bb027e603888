"""The floor: a bare WSGI callable that does only what the job needs.

``POST /refresh`` checks the Origin and the refresh cookie's MAC, rotates the
session with the service's own Lua script on the service's key layout (one
Redis round trip), signs one access token with PyJWT and sets the successor
cookie. ``POST /me`` verifies one access token and reads the session it names
(one round trip: the revocation check of CONTRACT.md rule 4). No framework,
no GraphQL, no limits: what is left is the cost of the job itself, against
which the service is measured.

``POST /login`` starts a session without a password; the benchmark uses it
to set up its clients only. Configured by the environment that
:mod:`bench.run` passes to gunicorn.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from app.redis_scripts import CREATE, ROTATE
from app.sessions import session_key

COOKIE = "refresh"
ORIGIN = "http://127.0.0.1:5000"
ISSUER, AUDIENCE = "token-service", "api"
ACCESS_TTL = int(os.environ.get("ACCESS_TOKEN_TTL", "3600"))
IDLE_MS, GRACE_MS = 1_209_600_000, 10_000
MAX_AGE_MS = 2_592_000_000
SESSIONS_PER_USER = 100

_redis = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)
_rotate = _redis.register_script(ROTATE)
_create = _redis.register_script(CREATE)
_secret = bytes.fromhex(os.environ["FLOOR_SECRET"])


def _signing_key() -> ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(os.environ["JWT_PRIVATE_KEY"].encode(),
                                             None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SystemExit("the floor signs with an Ed25519 JWT_PRIVATE_KEY")
    return key


_key = _signing_key()
_public = _key.public_key()
_KID = "floor"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _mac(session_id: str, generation: int) -> str:
    digest = hmac.new(_secret, f"{session_id}.{generation}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sign(user_id: str, session_id: str) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": user_id, "sid": session_id,
              "iat": now, "exp": now + ACCESS_TTL, "jti": secrets.token_urlsafe(16)}
    return jwt.encode(claims, _key, algorithm="EdDSA",
                      headers={"kid": _KID, "typ": "at+jwt"})


def _cookie(environ: dict[str, Any]) -> str | None:
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return str(value)
    return None


def _json(start: StartResponse, status: str, body: dict[str, Any],
          *headers: tuple[str, str]) -> Iterable[bytes]:
    data = json.dumps(body, separators=(",", ":")).encode()
    start(status, [("Content-Type", "application/json"),
                   ("Content-Length", str(len(data))),
                   ("Cache-Control", "no-store"), *headers])
    return [data]


def _set_cookie(token: str, max_age: int) -> tuple[str, str]:
    return ("Set-Cookie", f"{COOKIE}={token}; Max-Age={max_age}; Path=/refresh; "
                          "HttpOnly; SameSite=Strict")


def refresh(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    if environ.get("HTTP_ORIGIN") != ORIGIN:
        return _json(start, "403 Forbidden", {"errors": ["origin"]})
    token = _cookie(environ) or ""
    session_id, _, rest = token.partition(".")
    generation_text, _, mac = rest.partition(".")
    if not generation_text.isdigit() or not hmac.compare_digest(
        _mac(session_id, int(generation_text)), mac
    ):
        return _json(start, "401 Unauthorized", {"errors": ["invalid"]})

    now = int(time.time() * 1000)
    user_id, _, name = session_id.rpartition(":")
    reply = _rotate(keys=[session_key(session_id)],
                    args=[name, generation_text, now, IDLE_MS, GRACE_MS, "", ""])
    if int(reply[0]) not in (1, 2):
        return _json(start, "401 Unauthorized", {"errors": ["rejected"]})

    generation, remaining, email = int(reply[1]), int(reply[2]), reply[3]
    successor = f"{session_id}.{generation}.{_mac(session_id, generation)}"
    body = {"accessToken": _sign(user_id, session_id), "expiresIn": ACCESS_TTL,
            "user": {"id": user_id, "email": email}}
    return _json(start, "200 OK", body, _set_cookie(successor, remaining // 1000))


def me(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    try:
        claims = jwt.decode(token, _public, algorithms=["EdDSA"], audience=AUDIENCE,
                            issuer=ISSUER, options={"require": ["sub", "sid", "jti"]})
    except jwt.PyJWTError:
        return _json(start, "401 Unauthorized", {"errors": ["token"]})

    user_id, _, name = claims["sid"].rpartition(":")
    state, email = _redis.hmget(session_key(claims["sid"]), (name, "e"))
    if user_id != claims["sub"] or not state or state.startswith("!"):
        return _json(start, "401 Unauthorized", {"errors": ["revoked"]})
    return _json(start, "200 OK", {"data": {"me": {"id": user_id, "email": email}}})


def login(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    """Start a session for the user named in the body (set-up only)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    user = json.loads(environ["wsgi.input"].read(length))
    name = secrets.token_urlsafe(9)
    session_id = f"{user['id']}:{name}"
    now = int(time.time() * 1000)
    _create(keys=[session_key(session_id)],
            args=[name, now, now + MAX_AGE_MS, IDLE_MS, IDLE_MS, "", "", user["email"],
                  "u", now // 1000, SESSIONS_PER_USER])
    token = f"{session_id}.0.{_mac(session_id, 0)}"
    return _json(start, "200 OK", {"accessToken": _sign(user["id"], session_id)},
                 _set_cookie(token, IDLE_MS // 1000))


ROUTES = {"/refresh": refresh, "/me": me, "/login": login}


def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
    handler = ROUTES.get(environ.get("PATH_INFO", ""))
    if handler is None or environ.get("REQUEST_METHOD") != "POST":
        return _json(start, "404 Not Found", {"errors": ["not found"]})
    return handler(environ, start)
