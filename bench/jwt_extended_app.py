"""flask-jwt-extended doing the nearest equivalent of the service's hot paths.

The pattern its documentation teaches: the refresh token is a JWT in an
HttpOnly cookie, ``POST /refresh`` checks it against a Redis blocklist,
blocklists its ``jti`` and answers with a new access token and a new refresh
cookie; ``GET /me`` takes a bearer access token, checks it against the same
blocklist and answers from its claims. Same key (EdDSA), same Redis, same
lifetimes as the service. CSRF: an exact ``Origin`` check, as the service
does, instead of the library's double-submit cookie (a second cookie the
load generator would have to carry).

``POST /login`` issues tokens for the user named in the body, with no
password: the benchmark uses it to set up its clients only.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import redis
from cryptography.hazmat.primitives import serialization
from flask import Flask, Response, abort, jsonify, request
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    get_jwt,
    get_jwt_identity,
    jwt_required,
    set_refresh_cookies,
)

ORIGIN = "http://127.0.0.1:5000"
REFRESH_TTL = timedelta(days=14)

private_pem = os.environ["JWT_PRIVATE_KEY"]
public_pem = serialization.load_pem_private_key(
    private_pem.encode(), None
).public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()

app = Flask(__name__)
app.config.update(
    JWT_ALGORITHM="EdDSA",
    JWT_PRIVATE_KEY=private_pem,
    JWT_PUBLIC_KEY=public_pem,
    JWT_TOKEN_LOCATION=["headers", "cookies"],
    JWT_ACCESS_TOKEN_EXPIRES=timedelta(seconds=int(os.environ.get("ACCESS_TOKEN_TTL",
                                                                  "3600"))),
    JWT_REFRESH_TOKEN_EXPIRES=REFRESH_TTL,
    JWT_REFRESH_COOKIE_NAME="refresh",
    JWT_REFRESH_COOKIE_PATH="/refresh",
    JWT_COOKIE_SECURE=False,
    JWT_COOKIE_SAMESITE="Strict",
    JWT_COOKIE_CSRF_PROTECT=False,
    JWT_ENCODE_ISSUER="token-service",
    JWT_DECODE_ISSUER="token-service",
    JWT_ENCODE_AUDIENCE="api",
    JWT_DECODE_AUDIENCE="api",
)
jwt = JWTManager(app)
blocklist = redis.Redis.from_url(os.environ["REDIS_URL"], decode_responses=True)


@jwt.token_in_blocklist_loader
def is_blocklisted(header: dict[str, Any], payload: dict[str, Any]) -> bool:
    return bool(blocklist.exists("bl:" + payload["jti"]))


def _grant(identity: str, email: str) -> Response:
    claims = {"email": email}
    response = jsonify(
        access_token=create_access_token(identity=identity, additional_claims=claims),
        user={"id": identity, "email": email},
    )
    set_refresh_cookies(response, create_refresh_token(identity=identity,
                                                       additional_claims=claims))
    return response


@app.post("/login")
def login() -> Response:
    body = request.get_json()
    return _grant(body["id"], body["email"])


@app.post("/refresh")
@jwt_required(refresh=True, locations=["cookies"])
def refresh() -> Response:
    if request.headers.get("Origin") != ORIGIN:
        abort(403)
    claims = get_jwt()
    blocklist.set("bl:" + claims["jti"], "", ex=REFRESH_TTL)
    return _grant(claims["sub"], claims["email"])


@app.get("/me")
@jwt_required()
def me() -> Response:
    return jsonify(id=get_jwt_identity(), email=get_jwt()["email"])
