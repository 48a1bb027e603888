"""Administration commands of the Flask CLI (CONTRACT.md, "Administration")."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """Attach the command groups to ``app``."""
