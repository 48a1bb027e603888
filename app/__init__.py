"""A token service for single-page apps: JWT access tokens in memory,
rotating refresh tokens in an HttpOnly cookie, sessions in Redis."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_migrate import Migrate
from werkzeug.middleware.proxy_fix import ProxyFix

from .clock import Clock, SystemClock
from .config import Settings, load_settings
from .cors import Cors
from .models import db

logger = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Browsers may cache a CORS preflight this long (seconds).
PREFLIGHT_MAX_AGE = 600


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    environ: Mapping[str, str] | None = None,
    instance_path: str | None = None,
) -> Flask:
    """Build the application.

    :param config: settings that win over the environment, by the names of
        CONTRACT.md (``{"ACCESS_TOKEN_TTL": 5}``).
    :param clock: the time source of tokens and sessions; tests pass a
        :class:`~app.clock.ManualClock`.
    :param environ: the environment to read instead of ``os.environ`` and
        the ``.env`` file.
    :param instance_path: the folder of the embedded Redis and the default
        SQLite database; ``instance/`` in the repository root by default.
    :raises app.config.ConfigError: a setting is malformed or insecure.
    """
    from . import cli
    from .graphql.view import GraphQLEndpoint
    from .service import TokenService
    from .web import bp as web_bp

    instance_path = instance_path or os.path.join(ROOT, "instance")
    settings = load_settings(
        config, environ=environ, instance_path=instance_path,
        dotenv_path=os.path.join(ROOT, ".env") if environ is None else None,
    )
    for warning in settings.warnings:
        logger.warning("%s", warning)

    # Room for the largest document plus its variables.
    max_body = 4 * settings.graphql_max_bytes
    app = Flask(__name__, instance_path=instance_path)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=max_body,
        DEBUG=settings.debug,
    )
    if settings.database_url.startswith("sqlite:///"):
        os.makedirs(instance_path, exist_ok=True)

    db.init_app(app)
    Migrate(app, db, directory=os.path.join(ROOT, "migrations"))

    service = TokenService(settings, clock or SystemClock())
    app.extensions["token_service"] = service
    app.register_blueprint(web_bp)
    cli.register(app)

    # /graphql is answered ahead of Flask's dispatch, which serves the rest.
    # CORS on that endpoint only: exact origins with credentials, never "*",
    # and no allow-list echoed to requests that carry no Origin.
    cors = Cors(
        service.origins,
        methods=["GET", "POST"],
        headers=["Content-Type", "Authorization"],
        max_age=PREFLIGHT_MAX_AGE,
    )
    app.wsgi_app = GraphQLEndpoint(  # type: ignore[method-assign]
        app, cors, max_body
    )
    if settings.trusted_proxies:
        # Outermost, so that every path sees the corrected address and
        # scheme. Only the last TRUSTED_PROXIES hops of X-Forwarded-For are
        # believed; anything a client writes further left is ignored.
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops
        )
    return app


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {}
    return {"pool_pre_ping": True, "connect_args": _connect_timeout(url)}


def _connect_timeout(url: str) -> dict[str, Any]:
    if url.startswith("postgresql"):
        return {"connect_timeout": 2}
    return {}


def settings_of(app: Flask) -> Settings:
    settings: Settings = app.extensions["token_service"].settings
    return settings
