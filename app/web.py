"""Health, readiness, the JWKS and the demo SPA's files.

The blueprint also puts the hardening headers of
:mod:`app.security_headers` on every response Flask serves; the
``/graphql`` endpoint, which Flask does not serve, adds them with the same
function.
"""

from __future__ import annotations

import logging
import os

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from sqlalchemy import text

from . import security_headers
from .models import db

logger = logging.getLogger(__name__)

bp = Blueprint("web", __name__)
bp.after_app_request(security_headers.apply)

DEMO_DIST = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                         "client-demo", "dist")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when Redis and the database answer; 503 naming what is down."""
    state = current_app.extensions["token_service"]
    down = []
    try:
        state.redis.ping()
    except Exception as err:  # any failure means not ready
        logger.warning("readiness: redis down: %s", err.__class__.__name__)
        down.append("redis")
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as err:
        logger.warning("readiness: database down: %s", err.__class__.__name__)
        down.append("database")
    if down:
        return jsonify(status="unavailable", down=down), 503
    return jsonify(status="ready"), 200


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    state = current_app.extensions["token_service"]
    response = jsonify(state.keys.jwks())
    # Verifiers may cache briefly; a rotation is seen within this bound.
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


@bp.get("/", defaults={"path": "index.html"})
@bp.get("/<path:path>")
def demo(path: str) -> Response | tuple[str, int]:
    """Serve the built demo SPA; unknown paths get its index (client routes)."""
    if not os.path.isdir(DEMO_DIST):
        return ("The demo SPA is not built: run `make demo`.\n", 404)
    if os.path.isfile(os.path.join(DEMO_DIST, path)):
        return send_from_directory(DEMO_DIST, path)
    return send_from_directory(DEMO_DIST, "index.html")
