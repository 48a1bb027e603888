"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from __future__ import annotations

import logging
import sys

from app import create_app
from app.config import ConfigError

logging.basicConfig(
    level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
)

try:
    app = create_app()
except ConfigError as err:
    # One clear line, no traceback: the operator has a setting to fix.
    print(f"configuration error: {err}", file=sys.stderr)
    raise SystemExit(2) from None
