"""gunicorn's settings for ``gunicorn wsgi:app`` started in this folder.

Options on the command line win over this file (``make run`` passes its own
``--bind`` and ``--workers``); the README's "Running in production" says
which to set.
"""

from __future__ import annotations

from typing import Any


def when_ready(server: Any) -> None:
    """Log what ``flask doctor`` would change, once, before workers start.

    The check builds an application of its own, which connects to Redis and
    the database only here and closes both before any worker is forked.
    """
    from app import create_app
    from app.config import ConfigError
    from app.doctor import startup_warnings

    try:
        app = create_app()
    except ConfigError:
        return  # every worker stops on it with one clear line
    for line in startup_warnings(app):
        server.log.warning("doctor: %s", line)
